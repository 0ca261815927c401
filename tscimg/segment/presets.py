"""Presets: segmentation parameters per tumour type and modality, and why they fit the tissue.

The default method of each preset is the one that scored best on
``benchmarks/segmentation_accuracy.py`` (see docs/accuracy.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from tscimg.core.vocabularies import LesionType, Modality
from tscimg.segment.parameters import Method, Polarity, SegmentParameters


@dataclass(frozen=True)
class Preset:
    """Named parameters with the reason they suit the tissue."""

    name: str
    parameters: SegmentParameters
    rationale: str


PRESETS: dict[tuple[LesionType, Modality | None], Preset] = {
    (LesionType.AML, Modality.CT): Preset(
        "aml-ct",
        SegmentParameters(
            method=Method.GRAPH_CUT,
            window=(-250.0, -20.0),
            polarity=Polarity.AUTO,
            smoothing_mm=0.8,
            search_radius_mm=60.0,
            closing_mm=3.0,
            opening_mm=0.0,
        ),
        "Angiomyolipoma fat is below -20 HU, which kidney parenchyma (30-45 HU unenhanced) never "
        "is: when the click lies in fat, or on a strand or vessel with fat around it (the seed "
        "ball's median is fat), the lesion is the fat region connected to it, closed by "
        "3 mm and hole-filled so its soft-tissue strands and vessels count as tumour. Its border "
        "lies at the local 50% level between the tumour's mean attenuation (fat with its "
        "strands) and the tissue next to it. A fat-poor AML (click above -20 HU) falls back to "
        "a model learned from the click and the background around the box. With a box, the "
        "fat growing decides when it spans the box without reaching it; where it reaches the "
        "box (an exophytic AML whose fat meets the perirenal fat across a rim thinner than the "
        "blur, so no window separates them) a graph cut weighs appearance against the box's "
        "extent instead of filling the box.",
    ),
    (LesionType.AML, Modality.MR): Preset(
        "aml-mr",
        SegmentParameters(
            method=Method.REGION_GROWING,
            polarity=Polarity.AUTO,
            search_radius_mm=60.0,
            closing_mm=1.5,
        ),
        "On MRI the AML's fat signal differs from parenchyma in either direction depending on "
        "the sequence: the polarity is learned from the click against the background.",
    ),
    (LesionType.SEGA, Modality.MR): Preset(
        "sega-mr",
        SegmentParameters(
            method=Method.GRAPH_CUT,
            polarity=Polarity.BRIGHT,
            search_radius_mm=30.0,
            closing_mm=1.0,
            opening_mm=0.0,
        ),
        "SEGAs enhance avidly with a sharp border; cystic or necrotic parts inside belong to the "
        "tumour. With a box, a graph cut weighs appearance, the box's extent and the clicks "
        "(heterogeneous tumours: enhancement, necrosis and non-enhancing parts as one object); "
        "when the growing from the click already spans the box, or without a box, enhancing "
        "tissue (brighter than the surrounding brain) is grown from the click "
        "and enclosed holes are filled in 3D and per slice, so a cyst or necrosis is included; "
        "a click inside the cyst picks the enhancing rim that encloses it. Dark ventricles "
        "beside the tumour are never grown into.",
    ),
    (LesionType.RHABDOMYOMA, Modality.US): Preset(
        "rhabdomyoma-us",
        SegmentParameters(
            method=Method.REGION_GROWING,
            polarity=Polarity.BRIGHT,
            despeckle=True,
            smoothing_mm=0.8,
            search_radius_mm=25.0,
            closing_mm=1.0,
            opening_mm=0.6,
            surround_percentile=65.0,
        ),
        "Rhabdomyomas are homogeneous hyperechoic masses: speckle is reduced first (a median 3 "
        "voxels wide along axes of at most 1 mm, then Gaussian), the mass is grown as "
        "brighter-than-myocardium tissue, judged against the upper part of the speckled wall's "
        "intensities (65th percentile: speckle peaks are what bridges into the wall), and "
        "opened by 0.6 mm to cut the remaining bridges.",
    ),
    (LesionType.GENERIC, None): Preset(
        "generic",
        SegmentParameters(
            method=Method.GRAPH_CUT,
            polarity=Polarity.AUTO,
            search_radius_mm=40.0,
            closing_mm=1.0,
        ),
        "No tissue assumption: intensity model learned from the clicks (and around the box); "
        "with a box, a graph cut of appearance, the box's extent and the clicks' geodesics.",
    ),
}


def preset_for(lesion_type: LesionType, modality: Modality | None) -> Preset:
    """The preset for a lesion type on a modality (falling back to the lesion's own, then generic).

    Examples
    --------
    >>> preset_for(LesionType.AML, Modality.CT).name
    'aml-ct'
    >>> preset_for(LesionType.SEGA, None).name
    'sega-mr'
    >>> preset_for(LesionType.GENERIC, Modality.CT).name
    'generic'
    """
    if (lesion_type, modality) in PRESETS:
        return PRESETS[(lesion_type, modality)]
    for (kind, _), preset in PRESETS.items():
        if kind is lesion_type:
            return preset
    return PRESETS[(LesionType.GENERIC, None)]
