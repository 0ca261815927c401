"""Carrying a lesion to a follow-up visit: register, map the prompt, segment afresh.

The previous visit's mask is never warped into the follow-up (the tumour changed size).
Its most interior voxel (the maximum of its distance transform, in mm) is mapped through the
registration and becomes the follow-up's click; the mask's bounding box, mapped and grown by
``box_growth`` per side, becomes a leak guard. The follow-up is then segmented with the same
preset as any prompted visit, always by region growing: the grown box is a guard, whereas the
graph cut's shape prior reads a box as the lesion's extent plus 10%.

Examples
--------
>>> import numpy as np
>>> from tscimg.core.geometry import Geometry
>>> g = Geometry((9, 9, 9), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
>>> labels = np.zeros((9, 9, 9), dtype=np.uint8); labels[2:7, 1:8, 3:6] = 1
>>> interior_point_lps(Mask.from_array(labels, g))
(4.0, 4.0, 8.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from tscimg.core.errors import InputError, PromptError
from tscimg.core.geometry import box_corners
from tscimg.core.mask import Mask, bounding_box
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import LesionType
from tscimg.longitudinal.registration import Registration, RegistrationParameters, register
from tscimg.segment import Method, Prompts, Segmentation, box_warning, segment


@dataclass(frozen=True)
class CarryParameters:
    """How a lesion is carried to a follow-up.

    Parameters
    ----------
    box_growth
        The mapped bounding box of the previous mask grows by this fraction of its extent per
        side (0.5 admits a lesion up to twice as long in each direction), at least ``box_min_mm``.
    box_min_mm
        Minimum growth per side, mm.
    use_box
        Pass the grown box to the segmentation as a leak guard.
    registration
        Registration settings.
    """

    box_growth: float = 0.5
    box_min_mm: float = 5.0
    use_box: bool = True
    registration: RegistrationParameters = field(default_factory=RegistrationParameters)


@dataclass(frozen=True)
class CarriedLesion:
    """The follow-up segmentation of a carried lesion and how it was placed."""

    segmentation: Segmentation
    registration: Registration
    click_lps: tuple[float, float, float]
    warnings: tuple[str, ...]


def mask_bounds_lps(mask: Mask) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned LPS box (low, high corners, mm) around the mask's voxels."""
    box = bounding_box(mask.array_view() > 0)
    if box is None:
        raise PromptError("the previous visit's mask is empty: nothing to carry", path=mask.source)
    lo = np.array([box[2].start, box[1].start, box[0].start]) - 0.5
    hi = np.array([box[2].stop, box[1].stop, box[0].stop]) - 0.5
    g = mask.geometry
    corners = np.array([g.index_to_lps(c) for c in box_corners(lo, hi)])
    return corners.min(axis=0), corners.max(axis=0)


def interior_point_lps(mask: Mask) -> tuple[float, float, float]:
    """The mask's most interior voxel (farthest from its border, in mm), LPS.

    Of several equally interior voxels, the one nearest the mask's centroid.
    """
    arr = mask.array_view() > 0
    box = bounding_box(arr)
    if box is None:
        raise PromptError("the mask is empty: no interior point", path=mask.source)
    crop = np.pad(arr[box], 1)
    spacing_kji = mask.geometry.spacing_mm[::-1]
    distance = ndimage.distance_transform_edt(crop, sampling=spacing_kji)
    # among equally interior voxels, the one nearest the centroid (reproducible, central)
    ties = np.argwhere(distance >= distance.max() - 1e-6)
    centroid = np.argwhere(crop).mean(axis=0)
    offsets = (ties - centroid) * np.asarray(spacing_kji)
    k, j, i = ties[int(np.argmin((offsets**2).sum(axis=1)))]
    index = (i - 1 + box[2].start, j - 1 + box[1].start, k - 1 + box[0].start)
    p = mask.geometry.index_to_lps(index)
    return (p[0], p[1], p[2])


def carry_lesion(
    previous: Scan,
    previous_mask: Mask,
    follow_up: Scan,
    lesion_type: LesionType,
    parameters: CarryParameters | None = None,
    registration: Registration | None = None,
) -> CarriedLesion:
    """Segment in ``follow_up`` the lesion that ``previous_mask`` outlines in ``previous``.

    Parameters
    ----------
    previous, previous_mask
        The earlier visit and the lesion's mask on its grid.
    follow_up
        The later visit.
    lesion_type
        Preset for the follow-up's segmentation.
    parameters
        Box growth and registration settings.
    registration
        A registration of ``follow_up`` to ``previous`` already computed (for several lesions
        on the same pair of scans); computed here when ``None``.

    Raises
    ------
    PromptError
        When the lesion maps outside the follow-up scan, or the segmentation there is empty.
    InputError
        When either scan is a single 2D frame (an echo view): give that visit its own prompt.
    """
    params = parameters or CarryParameters()
    if follow_up.is_planar or previous.is_planar:
        raise InputError(
            "a 2D frame is not carried by registration (each echo view is a new plane)",
            path=follow_up.source,
            hint="Give this visit its own prompt (point_lps) in the manifest",
        )
    previous_mask.require_on(previous.geometry, previous.source or "the previous scan")
    low, high = mask_bounds_lps(previous_mask)
    reg = registration or register(previous, follow_up, (low, high), params.registration)
    click = reg.map_point(interior_point_lps(previous_mask))
    g = follow_up.geometry
    index = g.lps_to_index(click)
    if not g.contains_index(index):
        raise PromptError(
            f"the lesion carried from {previous.source} maps outside this scan (LPS "
            f"{', '.join(f'{v:.1f}' for v in click)})",
            path=follow_up.source,
            hint="Give this visit its own prompt (point_lps) in the manifest",
        )
    click_index = (round(index[0]), round(index[1]), round(index[2]))
    box = None
    if params.use_box:
        corners = reg.map_points(box_corners(low, high))
        idx = np.array([g.lps_to_index(c) for c in corners])
        lo, hi = idx.min(axis=0), idx.max(axis=0)
        spacing = np.asarray(g.spacing_mm)
        grow = np.maximum((hi - lo) * params.box_growth, params.box_min_mm / spacing)
        top = np.asarray(g.size) - 1
        lo = np.clip(np.floor(lo - grow), 0, top).astype(int)
        hi = np.clip(np.ceil(hi + grow), 0, top).astype(int)
        lo = np.minimum(lo, click_index)
        hi = np.maximum(hi, click_index)
        box = (int(lo[0]), int(lo[1]), int(lo[2]), int(hi[0]), int(hi[1]), int(hi[2]))
    result = segment(
        follow_up,
        Prompts(positive=(click_index,), box=box),
        lesion_type,
        method=Method.REGION_GROWING,
    )
    warnings = list(reg.warnings)
    if result.box_faces_reached:  # the guard is ours, not a box the reader drew
        reader_note = box_warning(result.box_faces_reached)
        result = replace(result, warnings=tuple(w for w in result.warnings if w != reader_note))
        warnings.append(
            f"the carried lesion reaches its leak guard (the previous visit's lesion box grown "
            f"by {params.box_growth:.0%} per side) at {', '.join(result.box_faces_reached)}: it "
            "may have leaked into neighbouring tissue. Check the mask, or give this visit its "
            "own prompt"
        )
    before_ml = previous_mask.voxel_count() * previous_mask.geometry.voxel_volume_mm3 / 1000.0
    ratio = result.volume_ml / before_ml if before_ml > 0 else float("inf")
    if not 0.2 <= ratio <= 5.0:
        warnings.append(
            f"the carried lesion's volume changed {ratio:.2f}-fold since the previous visit: "
            "check the mask, or give this visit its own prompt"
        )
    return CarriedLesion(result, reg, click, tuple(warnings))
