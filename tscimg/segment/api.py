"""`segment()`: a scan and prompts in, a mask on the scan's grid with its provenance out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from tscimg.core.errors import PromptError
from tscimg.core.mask import Mask
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import LesionType
from tscimg.segment.algorithms import active_contour, random_walker_region, region_growing
from tscimg.segment.graph_cut import graph_cut
from tscimg.segment.parameters import Method, SegmentParameters
from tscimg.segment.presets import preset_for
from tscimg.segment.prompts import Prompts
from tscimg.segment.region import work_region

_ALGORITHMS = {
    Method.REGION_GROWING: region_growing,
    Method.RANDOM_WALKER: random_walker_region,
    Method.ACTIVE_CONTOUR: active_contour,
    Method.GRAPH_CUT: graph_cut,
}


@dataclass(frozen=True)
class Segmentation:
    """A segmentation result: the mask and how it was made."""

    mask: Mask
    lesion_type: LesionType
    preset: str
    parameters: SegmentParameters
    prompts: Prompts
    warnings: tuple[str, ...] = ()

    @property
    def voxel_count(self) -> int:
        """Voxels in the mask."""
        return self.mask.voxel_count()

    @property
    def volume_ml(self) -> float:
        """Voxel count x voxel volume, mL."""
        return self.voxel_count * self.mask.geometry.voxel_volume_mm3 / 1000.0

    def provenance(self) -> dict[str, Any]:
        """Method, preset, parameters and prompts as plain values."""
        params = asdict(self.parameters)
        params["method"] = self.parameters.method.value
        params["polarity"] = self.parameters.polarity.value
        return {
            "method": self.parameters.method.value,
            "preset": self.preset,
            "lesion_type": self.lesion_type.value,
            "parameters": params,
            "prompts": {
                "positive_index": [list(p) for p in self.prompts.positive],
                "negative_index": [list(p) for p in self.prompts.negative],
                "box_index": None if self.prompts.box is None else list(self.prompts.box),
            },
        }


def segment(
    scan: Scan,
    prompts: Prompts,
    lesion_type: LesionType | str = LesionType.GENERIC,
    parameters: SegmentParameters | None = None,
    method: Method | str | None = None,
) -> Segmentation:
    """Segment one lesion semi-automatically. Stateless: refine by calling again with all prompts.

    Parameters
    ----------
    scan
        The scan (its grid is the mask's grid).
    prompts
        Positive points, negative points and an optional box, in voxel indices (build them
        from LPS or RAS with :meth:`Prompts.from_physical`).
    lesion_type
        Picks the preset for the scan's modality (``aml``, ``sega``, ``rhabdomyoma``, ``generic``).
    parameters
        Override the preset's parameters entirely.
    method
        Override only the preset's algorithm family.

    Raises
    ------
    PromptError
        Prompts outside the image, contradictory, or giving an empty result.
    """
    kind = LesionType(lesion_type)
    preset = preset_for(kind, scan.modality)
    params = parameters or preset.parameters
    if method is not None:
        params = replace(params, method=Method(method))
    checked = prompts.validated(scan.geometry, scan.source)
    warnings: list[str] = []
    working = checked
    if not checked.positive and checked.box is not None:
        b = checked.box
        centre = tuple((b[n] + b[n + 3]) // 2 for n in range(3))
        working = checked.with_clicks(positive=[centre])  # type: ignore[list-item]
        warnings.append(f"no positive point: the box centre {centre} was used as the click")
    region = work_region(scan, working, params.search_radius_mm)
    crop_mask = _ALGORITHMS[params.method](region, params)
    if not crop_mask.any():
        raise PromptError(
            "the segmentation is empty: the tissue at the click does not stand out from its "
            "surroundings",
            path=scan.source,
            hint="Click nearer the lesion's centre, add a box, or choose another --lesion-type",
        )
    labels = region.paste(crop_mask.astype("uint8"))
    mask = Mask.from_array(
        labels,
        scan.geometry,
        source=f"tscimg.segment:{params.method.value}",
        label_names={1: kind.value},
    )
    return Segmentation(
        mask,
        kind,
        preset.name if parameters is None else "custom",
        params,
        checked,
        tuple(warnings),
    )
