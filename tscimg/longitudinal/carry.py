"""Carrying a lesion to a follow-up visit: register, map the reader's prompts, segment alike.

A follow-up is segmented the way its reference visit was (the baseline, or the last trusted
visit with the reader's own prompt or mask), so both are measured by one method:

1. the follow-up is registered to the reference (rigid, affine and local, then the deformable
   stage around the lesion, :mod:`tscimg.longitudinal.deformation`); the same scan entered
   twice registers to the identity exactly;
2. the reference's prompts (its clicks, negative clicks and box) are mapped into the follow-up
   through that registration. The box is the reference lesion's outline carried by the
   deformable registration (its bounding box in the follow-up) with the margins the reader's
   box had around the reference lesion: the registered lesion is the spatial prior, and the box
   follows the lesion as it shrinks or grows;
3. the follow-up is segmented with the reference's own parameters (its method family, the
   preset of its lesion type and what ``tscimg track`` set at that visit; across modalities,
   and for a reference given as a mask, the follow-up modality's preset). The graph cut uses
   the intensity model the reference's cut learned (the lesion's and its background's
   mixtures), mapped onto the follow-up's intensities by the gain and offset that match the two
   scans' anatomy around the lesion (:func:`intensity_map`; identity in Hounsfield units): one
   intensity balance places the border at both visits (learned afresh at each follow-up, it
   moved the change by 10-15 points on real scans). Where the registration is not trusted, or
   the gain is outside ``intensity_gain_range``, the follow-up learns its own from the mapped
   clicks, with a warning. The graph cut's shape prior (``Prompts.prior``) is the shape
   inscribed in the reader's box at the reference, carried by the deformable registration: the
   prior the reference's cut balanced its appearance against, moved with the anatomy (the
   reference lesion itself as the prior shrank unchanged lesions by 20-25%: the cut settles
   inside its own previous outline).

A reference given as a mask (no prompts) contributes its most interior voxel as the click and
its carried outline, grown by the protocol's 10% per side, as the box.

If the segmentation at the follow-up comes out empty, the best estimate is the reference lesion
warped by the registration, flagged for review, where that registration is trusted and maps
the lesion whole into the follow-up; otherwise there is no estimate (a :class:`PromptError`
that names why: the batch records the visit as not measured and flagged).

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

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from tscimg.core.errors import InputError, PromptError, TscimgError
from tscimg.core.geometry import box_corners
from tscimg.core.mask import Mask, bounding_box, most_interior_voxel
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import LesionType, Modality, member_of
from tscimg.io.itk_messages import itk_reason
from tscimg.longitudinal.deformation import (
    DeformableParameters,
    LesionDeformation,
    deform_around_lesion,
    voxel_fingerprint,
)
from tscimg.longitudinal.registration import (
    Registration,
    RegistrationParameters,
    register,
    same_image,
)
from tscimg.segment import Method, Prompts, Segmentation, preset_for, segment
from tscimg.segment.graph_cut import box_shape
from tscimg.segment.intensity_model import linear_intensity_map
from tscimg.segment.prompts import Box, BoxOrigin, box_centre, clipped_box, outside_box

#: Smoothing (Gaussian sigma, mm) of both scans before their intensities are matched.
INTENSITY_MAP_SMOOTHING_MM = 1.5

#: The protocol's box margin (DESIGN.md section 6): the lesion's extent grown by 10% per side.
PROTOCOL_BOX_MARGIN = 0.1

Index = tuple[int, int, int]


@dataclass(frozen=True)
class CarryParameters:
    """How a lesion is carried to a follow-up.

    Parameters
    ----------
    registration
        Settings of the global registration stages.
    deformable
        Settings of the deformable stage around the lesion.
    max_boundary_points
        At most this many of the reference lesion's border voxels are mapped to find its
        carried extent (evenly subsampled).
    intensity_gain_range
        The reference's intensity model is carried to a follow-up whose intensities around the
        lesion are within this factor of the reference's (:func:`intensity_map`); outside it
        (another sequence or contrast phase) the follow-up learns its own.
    """

    registration: RegistrationParameters = field(default_factory=RegistrationParameters)
    deformable: DeformableParameters = field(default_factory=DeformableParameters)
    max_boundary_points: int = 6000
    intensity_gain_range: tuple[float, float] = (0.5, 2.0)


@dataclass(frozen=True)
class LesionReference:
    """A trusted earlier visit of a lesion, from which later visits are carried.

    Parameters
    ----------
    scan, mask
        The visit's scan and the lesion's mask on its grid.
    date
        The visit date (ISO), for messages.
    segmentation
        How the mask was made from the reader's prompts; ``None`` for a mask the reader gave.
    """

    scan: Scan
    mask: Mask
    date: str
    segmentation: Segmentation | None = None

    @property
    def volume_ml(self) -> float:
        """The reference lesion's volume (voxel count x voxel volume), mL."""
        return self.mask.volume_ml()


@dataclass(frozen=True)
class CarriedLesion:
    """The follow-up segmentation of a carried lesion and how it was placed.

    Parameters
    ----------
    mask
        The follow-up's lesion mask (on the follow-up's grid).
    segmentation
        The segmentation that made it; ``None`` when it came out empty and ``mask`` is the
        reference lesion warped by the registration (then ``review`` says so).
    deformation
        The registration, with the second (Jacobian) volume estimate.
    prompts
        The prompts mapped into the follow-up.
    warnings, review
        Notes; reasons the mask cannot be trusted without a reader's check.
    intensity_map
        ``(gain, offset)`` that mapped the reference's intensity model onto this scan
        (:func:`intensity_map`) for the cut that placed the border; ``None`` where the
        follow-up learned its own, region growing decided, or the outline is the warped
        reference lesion.
    confirmed
        The reader's clicks at the follow-up all lay on the lesion as carried and confirmed
        it: the outline is the carried one, and ``prompts`` are the reference's mapped here,
        not the reader's (a note in ``warnings`` names the reader's clicks).
    """

    mask: Mask
    segmentation: Segmentation | None
    deformation: LesionDeformation
    prompts: Prompts
    warnings: tuple[str, ...] = ()
    review: tuple[str, ...] = ()
    intensity_map: tuple[float, float] | None = None
    confirmed: bool = False

    @property
    def registration(self) -> Registration:
        """The registration the prompts were mapped through."""
        return self.deformation.registration

    @property
    def click_lps(self) -> tuple[float, float, float]:
        """The first mapped click, LPS (mm)."""
        g = self.mask.geometry
        p = g.index_to_lps(self.prompts.positive[0])
        return (p[0], p[1], p[2])


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
    index = most_interior_voxel(mask.array_view() > 0, mask.geometry.spacing_mm[::-1])
    if index is None:
        raise PromptError("the mask is empty: no interior point", path=mask.source)
    p = mask.geometry.index_to_lps(index)
    return (p[0], p[1], p[2])


def _check_types(reference: object, follow_up: object, parameters: object) -> None:
    """An :class:`InputError` naming an argument of ``register_lesion`` / ``carry_lesion``
    of the wrong kind (a mask or a path where a scan goes, arguments swapped)."""
    hint = (
        "Call carry_lesion(LesionReference(scan, mask, date), None, follow_up_scan, lesion_type)"
        " or carry_lesion(scan, mask, follow_up_scan, lesion_type); scans from tscimg.load_scan"
    )
    if not isinstance(reference, LesionReference):
        raise InputError(
            f"the reference must be a LesionReference (a scan, its mask and date), got a "
            f"{type(reference).__name__}",
            hint=hint,
        )
    if not isinstance(follow_up, Scan):
        raise InputError(
            f"the follow-up must be a tscimg.Scan, got a {type(follow_up).__name__}", hint=hint
        )
    if parameters is not None and not isinstance(parameters, CarryParameters):
        raise InputError(
            f"parameters must be CarryParameters, got a {type(parameters).__name__}",
            hint="Wrap registration settings as CarryParameters(registration=...)",
        )


def register_lesion(
    reference: LesionReference, follow_up: Scan, parameters: CarryParameters | None = None
) -> LesionDeformation:
    """Register ``follow_up`` to the reference visit around its lesion (global stages, then
    the deformable stage): the map of its points and the registration-based volume change.

    Raises
    ------
    InputError
        When either scan is a single 2D frame, or the registration fails.
    """
    _check_types(reference, follow_up, parameters)
    params = parameters or CarryParameters()
    if follow_up.is_planar or reference.scan.is_planar:
        raise InputError(
            "a 2D frame is not carried by registration (each echo view is a new plane)",
            path=follow_up.source,
            hint="Give this visit its own prompt (point_lps) in the manifest",
        )
    reference.mask.require_on(reference.scan.geometry, reference.scan.source or "the reference")
    try:
        registration = register(
            reference.scan, follow_up, mask_bounds_lps(reference.mask), params.registration
        )
        return deform_around_lesion(
            reference.scan, reference.mask, follow_up, registration, params.deformable
        )
    except RuntimeError as exc:  # ITK gives up (no overlap, no samples): say so, by file
        raise InputError(
            f"the registration to the visit of {reference.date} failed ({itk_reason(exc)})",
            path=follow_up.source,
            hint="Check that both scans show the same anatomy, or give this visit its own "
            "prompt or mask",
        ) from exc


def _boundary_lps(mask: Mask, limit: int) -> np.ndarray:
    """LPS (mm) of the mask's border voxels, at most ``limit`` (evenly subsampled)."""
    full = mask.array_view() > 0
    box = bounding_box(full)
    if box is None:
        raise PromptError("the mask is empty: nothing to carry", path=mask.source)
    arr = np.pad(full[box], 1)
    border = arr & ~ndimage.binary_erosion(arr)
    kji = np.argwhere(border) - 1 + np.array([b.start for b in box])
    if len(kji) > limit:
        kji = kji[np.linspace(0, len(kji) - 1, limit).astype(int)]
    ijk = kji[:, ::-1].astype(float)
    m = mask.geometry.index_to_lps_matrix
    return np.asarray(ijk @ m[:3, :3].T + m[:3, 3])


def _mapped_border_index(
    reference: LesionReference, follow_up: Scan, registration: Registration, limit: int
) -> np.ndarray:
    """The reference lesion's border voxels (at most ``limit``) mapped into the follow-up: its
    continuous ``(n, 3)`` ijk indices."""
    mapped = registration.map_points(_boundary_lps(reference.mask, limit))
    m_inv = np.linalg.inv(follow_up.geometry.index_to_lps_matrix)
    return np.asarray(mapped @ m_inv[:3, :3].T + m_inv[:3, 3])


def _maps_inside(
    reference: LesionReference, follow_up: Scan, registration: Registration, limit: int
) -> bool:
    """Whether every border voxel of the reference lesion maps inside the follow-up's grid."""
    idx = _mapped_border_index(reference, follow_up, registration, limit)
    top = np.asarray(follow_up.geometry.size) - 0.5
    return bool(np.all((idx >= -0.5) & (idx <= top)))


def _mapped_index(
    registration: Registration, reference: Scan, follow_up: Scan, index: Index
) -> tuple[float, ...]:
    return follow_up.geometry.lps_to_index(
        registration.map_point(reference.geometry.index_to_lps(index))
    )


def carried_box(
    reference: LesionReference,
    follow_up: Scan,
    registration: Registration,
    margins: tuple[np.ndarray, np.ndarray] | None,
    max_points: int = 6000,
) -> tuple[int, int, int, int, int, int]:
    """The reference lesion's carried extent in the follow-up, grown by ``margins``.

    Parameters
    ----------
    reference
        The visit the lesion is carried from.
    follow_up
        The later visit (the box is on its grid).
    registration
        Maps reference points into the follow-up (with the deformable stage).
    margins
        ``(low, high)`` per axis, fractions of the carried extent to add on each side;
        ``None``: the protocol's 10% per side.
    max_points
        At most this many of the lesion's border voxels are mapped.

    Returns
    -------
    tuple of int
        ``(i0, j0, k0, i1, j1, k1)`` inclusive, clipped to the follow-up's grid: the carried
        extent plus the margins, rounded to the nearest voxel, and outward along axes where
        the margin is under a voxel (thick slices: the nearest voxel could drop it all).
    """
    g = follow_up.geometry
    idx = _mapped_border_index(reference, follow_up, registration, max_points)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    extent = hi - lo + 1.0
    low, high = margins or (np.full(3, PROTOCOL_BOX_MARGIN), np.full(3, PROTOCOL_BOX_MARGIN))
    top = np.asarray(g.size) - 1
    # where the margin is under a voxel (thick slices), rounding to the nearest voxel can drop
    # a slice the lesion partly fills: round outward there
    outward = np.minimum(low, high) * extent < 1.0
    half = np.where(outward, 0.0, 0.5)
    lo_box = np.clip(np.floor(lo - low * extent + half), 0, top).astype(int)
    hi_end = np.where(outward, np.ceil(hi + high * extent), np.floor(hi + high * extent + 0.5))
    hi_box = np.clip(hi_end, 0, top).astype(int)
    return (
        int(lo_box[0]), int(lo_box[1]), int(lo_box[2]),
        int(hi_box[0]), int(hi_box[1]), int(hi_box[2]),
    )  # fmt: skip


def _box_margins(segmentation: Segmentation) -> tuple[np.ndarray, np.ndarray] | None:
    """The reader's box margins around the lesion it outlined, as fractions of its extent."""
    box = segmentation.prompts.box
    extent = bounding_box(segmentation.mask.array_view() > 0)
    if box is None or extent is None:
        return None
    first = np.array([extent[2].start, extent[1].start, extent[0].start], dtype=float)
    last = np.array([extent[2].stop, extent[1].stop, extent[0].stop], dtype=float) - 1.0
    size = last - first + 1.0
    low = np.clip((first - np.asarray(box[:3])) / size, 0.0, 1.0)
    high = np.clip((np.asarray(box[3:]) - last) / size, 0.0, 1.0)
    return low, high


def intensity_map(
    reference: LesionReference,
    follow_up: Scan,
    deformation: LesionDeformation,
    box: tuple[int, ...],
) -> tuple[float, float]:
    """``(gain, offset)`` with follow-up intensity ~ gain x reference intensity + offset, from
    the same anatomy in both: the reference scan resampled through the registration onto the
    follow-up's ``box`` (``(i0, j0, k0, i1, j1, k1)`` inclusive) grown by its size on each
    side, both smoothed (Gaussian, sigma :data:`INTENSITY_MAP_SMOOTHING_MM` and at least half
    a voxel: noise in the reference would flatten the fitted gain), matched by
    :func:`~tscimg.segment.intensity_model.linear_intensity_map`. CT, and a reference segmented
    with a window of absolute intensities (the aml-ct preset's fat window, Hounsfield units),
    give ``(1, 0)``: Hounsfield units are the same scale at every visit.
    """
    both_ct = follow_up.modality is Modality.CT and reference.scan.modality is Modality.CT
    seg = reference.segmentation
    if both_ct or (seg is not None and seg.parameters.window is not None):
        return 1.0, 0.0
    return measured_intensity_map(reference, follow_up, deformation, box)


#: Soft tissue, HU: where two CT visits of one phase read alike (kidney, muscle, liver).
SOFT_TISSUE_HU = (0.0, 100.0)
#: A soft-tissue voxel whose attenuation changed by more than this (HU) between two CT visits
#: enhanced at one of them (kidney 35 -> 160 HU); noise and registration moved a few.
ENHANCEMENT_HU = 50.0
#: Above this fraction of the soft tissue around the lesion enhanced, the visits are warned
#: to be of different contrast phases.
ENHANCED_FRACTION = 0.15


def contrast_warning(
    reference: LesionReference,
    follow_up: Scan,
    deformation: LesionDeformation,
    box: tuple[int, ...],
) -> str | None:
    """A warning when the soft tissue around a lesion reads differently at two CT visits (more
    than :data:`ENHANCED_FRACTION` of it by more than :data:`ENHANCEMENT_HU` either way): one
    scan enhanced and the other not, or another contrast phase. Hounsfield units are one
    scale, so nothing is mapped; an unenhanced baseline and an enhanced follow-up read -25% as
    -30.2% (a response) without a word."""
    if not (follow_up.modality is Modality.CT and reference.scan.modality is Modality.CT):
        return None
    before, after = _matched_neighbourhood(reference, follow_up, deformation, box)
    low, high = SOFT_TISSUE_HU
    tissue = (before >= low) & (before <= high)
    if int(tissue.sum()) < 100:
        return None
    change = after[tissue] - before[tissue]
    up = float(np.mean(change > ENHANCEMENT_HU))
    down = float(np.mean(change < -ENHANCEMENT_HU))
    if max(up, down) <= ENHANCED_FRACTION:
        return None
    shift = float(np.median(change[change > ENHANCEMENT_HU] if up > down else
                            change[change < -ENHANCEMENT_HU]))  # fmt: skip
    return (
        f"{100 * max(up, down):.0f}% of the soft tissue around the lesion reads {shift:+.0f} HU "
        f"since {reference.date} (contrast enhancement at one visit and not the other, or "
        "another contrast phase?): a change measured across contrast phases mixes "
        "enhancement with growth; compare visits of the same phase"
    )


def measured_intensity_map(
    reference: LesionReference,
    follow_up: Scan,
    deformation: LesionDeformation,
    box: tuple[int, ...],
) -> tuple[float, float]:
    """:func:`intensity_map` as measured, Hounsfield units or not."""
    before, after = _matched_neighbourhood(reference, follow_up, deformation, box)
    if before.size == 0:
        return 1.0, 0.0
    return linear_intensity_map(before, after)


def _matched_neighbourhood(
    reference: LesionReference,
    follow_up: Scan,
    deformation: LesionDeformation,
    box: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """The reference's and the follow-up's intensities at the same anatomy around the lesion
    (both smoothed), as flat arrays: the follow-up's ``box`` grown by its size on each side,
    where the reference maps in."""
    lo, hi = np.asarray(box[:3]), np.asarray(box[3:])
    # the box grown by its size on each side: mostly anatomy that did not change, so the
    # lesion's own change (or a small lesion's misregistration) does not set the map
    size = hi - lo + 1
    top = np.asarray(follow_up.geometry.size) - 1
    lo, hi = np.maximum(lo - size, 0), np.minimum(hi + size, top)
    region = sitk.RegionOfInterest(
        follow_up.image, [int(v) for v in hi - lo + 1], [int(v) for v in lo]
    )
    moved = sitk.Resample(  # float output without casting the whole reference scan first
        reference.scan.image,
        region,
        deformation.follow_up_to_previous,
        sitk.sitkLinear,
        float("nan"),
        sitk.sitkFloat32,
    )
    before = sitk.GetArrayFromImage(moved)
    after = sitk.GetArrayFromImage(region).astype(np.float32)
    both = np.isfinite(before)
    if not both.any():
        return np.empty(0, np.float32), np.empty(0, np.float32)
    before[~both] = float(np.median(before[both]))
    sigma = [max(0.5, INTENSITY_MAP_SMOOTHING_MM / s) for s in follow_up.geometry.spacing_mm[::-1]]
    before = ndimage.gaussian_filter(before, sigma)
    after = ndimage.gaussian_filter(after, sigma)
    return before[both], after[both]


def warped_mask(
    reference: LesionReference,
    follow_up: Scan,
    deformation: LesionDeformation,
    box: tuple[int, ...] | None = None,
) -> Mask:
    """The reference lesion carried into the follow-up's grid by the registration (the
    registration's own outline of it: what the second volume estimate measures).

    Parameters
    ----------
    reference, follow_up
        The visit the lesion is known at, and the later visit.
    deformation
        The registration of ``follow_up`` to the reference.
    box
        ``(i0, j0, k0, i1, j1, k1)`` inclusive: compute only there (the rest is background);
        ``None``: the lesion's carried box grown by half its extent.
    """
    inverse = deformation.follow_up_to_previous
    g = follow_up.geometry
    if box is None:
        margin = np.full(3, 0.5)
        box = carried_box(reference, follow_up, deformation.registration, (margin, margin))
    lo, hi = np.asarray(box[:3]), np.asarray(box[3:])
    region = sitk.RegionOfInterest(
        follow_up.image, [int(v) for v in hi - lo + 1], [int(v) for v in lo]
    )
    source = sitk.Cast(reference.mask.image > 0, sitk.sitkFloat32)
    fraction = sitk.Resample(source, region, inverse, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    labels = np.zeros(g.size[::-1], dtype=np.uint8)
    labels[lo[2] : hi[2] + 1, lo[1] : hi[1] + 1, lo[0] : hi[0] + 1] = (
        sitk.GetArrayViewFromImage(fraction) >= 0.5
    )
    return Mask.from_array(labels, g, source="tscimg.carry:registration")


def _mapped_clicks(
    reference: LesionReference, follow_up: Scan, reg: Registration
) -> tuple[tuple[Index, ...], tuple[Index, ...]]:
    """The reference's positive and negative clicks mapped into the follow-up (those inside
    it); a reference given as a mask contributes its most interior voxel.

    Raises
    ------
    PromptError
        When no positive click maps inside the follow-up.
    """
    g = follow_up.geometry
    ref_seg = reference.segmentation
    if ref_seg is not None:
        positive_ref = list(ref_seg.prompts.positive)
        negative_ref = list(ref_seg.prompts.negative)
        if not positive_ref and ref_seg.prompts.box is not None:
            # a box alone: its centre was the reference's click (segment() said so)
            size = reference.scan.geometry.size
            positive_ref = [box_centre(clipped_box(ref_seg.prompts.box, size))]
    else:
        point = reference.scan.geometry.lps_to_index(interior_point_lps(reference.mask))
        positive_ref = [(round(point[0]), round(point[1]), round(point[2]))]
        negative_ref = []
    positive: list[Index] = []
    negative: list[Index] = []
    for points, out in ((positive_ref, positive), (negative_ref, negative)):
        for p in points:
            q = _mapped_index(reg, reference.scan, follow_up, p)
            if g.contains_index(q):
                out.append((round(q[0]), round(q[1]), round(q[2])))
    if not positive:
        raise PromptError(
            f"the lesion carried from the visit of {reference.date} maps outside this scan",
            path=follow_up.source,
            hint="Check the scan's coverage, or give this visit its own prompt (point_lps)",
        )
    return tuple(positive), tuple(p for p in negative if p not in positive)


def _holding(box: Box, points: Sequence[Index]) -> Box:
    """``box`` grown to hold every one of ``points``."""
    lo, hi = np.asarray(box[:3]), np.asarray(box[3:])
    for p in points:
        lo, hi = np.minimum(lo, p), np.maximum(hi, p)
    return (int(lo[0]), int(lo[1]), int(lo[2]), int(hi[0]), int(hi[1]), int(hi[2]))


def _within(box: Box, points: Sequence[Index], reference: LesionReference, follow_up: Scan) -> None:
    """A :class:`PromptError` when a reader's click at the follow-up lies outside ``box``, the
    box carried from ``reference``: the registration places the lesion elsewhere, or the click
    is on something else."""
    outside = outside_box(points, box)
    if outside:
        raise PromptError(
            f"the click {outside[0]} lies outside the box carried from the visit of "
            f"{reference.date} {tuple(box)}, where the registration places the lesion",
            path=follow_up.source,
            hint="Check that the click is on the lesion; give this visit a box (box_lps) too",
        )


def _check_clicks(clicks: object) -> None:
    """An :class:`InputError` unless ``clicks`` are :class:`Prompts` with a positive point and
    no box (a box at the follow-up is a prompt of its own: segment() it)."""
    if not isinstance(clicks, Prompts):
        raise InputError(
            f"clicks must be Prompts, got a {type(clicks).__name__}",
            hint="Pass Prompts(positive=((i, j, k),)) on the follow-up's grid",
        )
    if clicks.box is not None or not clicks.positive:
        raise InputError(
            "clicks at a carried follow-up are positive (and negative) points only: "
            + ("a box is a prompt of its own" if clicks.box is not None else "no positive point"),
            hint="Pass Prompts(positive=((i, j, k),)); with a box, call segment() on the "
            "follow-up instead",
        )


def _mapped_prompts(
    reference: LesionReference,
    follow_up: Scan,
    deformation: LesionDeformation,
    method: Method,
    params: CarryParameters,
    clicks: Prompts | None = None,
) -> Prompts:
    """The reference's prompts in the follow-up (see the module docstring): clicks mapped
    (:func:`_mapped_clicks`, whose :class:`PromptError` it passes on) or the reader's ``clicks``
    at the follow-up instead (a :class:`PromptError` when one lies outside the carried box),
    the box around the carried outline with the reader's margins, and for the graph cut the
    carried prior."""
    reg = deformation.registration
    ref_seg = reference.segmentation
    if clicks is None:
        positive, negative = _mapped_clicks(reference, follow_up, reg)
    else:
        positive, negative = clicks.positive, clicks.negative
    if ref_seg is not None and ref_seg.prompts.box is None:
        return Prompts(positive=positive, negative=negative)
    margins = None if ref_seg is None else _box_margins(ref_seg)
    box = carried_box(reference, follow_up, reg, margins, params.max_boundary_points)
    if clicks is None:
        # every mapped click lies in the box (a box never excludes what the reader clicked)
        box = _holding(box, positive)
    else:  # the reader's own clicks: one outside the carried box is not this lesion's
        _within(box, positive, reference, follow_up)
    prior = None
    if method is Method.GRAPH_CUT:
        # the prior the reference's cut balanced its appearance against, moved with the anatomy:
        # the shape inscribed in the reader's box, or the reference lesion when it had no box
        shape = reference.mask
        if ref_seg is not None and ref_seg.prompts.box is not None:
            g_ref = reference.scan.geometry
            tuning = ref_seg.parameters.graph_cut
            inscribed = box_shape(ref_seg.prompts.box, g_ref.size, tuning).astype(np.uint8)
            shape = Mask.from_array(inscribed, g_ref, source="tscimg.carry:box prior")
        prior = warped_mask(replace(reference, mask=shape), follow_up, deformation, box)
    return Prompts(
        positive=tuple(positive),
        negative=tuple(negative),
        box=box,
        prior=prior,
        box_origin=BoxOrigin.CARRIED,
    )


def _confirmed(
    reference: LesionReference,
    follow_up: Scan,
    lesion_type: LesionType,
    params: CarryParameters,
    deformation: LesionDeformation,
    clicks: Prompts,
) -> CarriedLesion | None:
    """The lesion carried from ``reference`` as without the reader's ``clicks``, when every one
    of them lies on its outline and nothing flags it (they confirm it: the visit's border does
    not depend on where on the lesion a click fell); ``None`` when one lies off it, the carried
    outline is flagged (the reader may have clicked because of what flags it) or nothing was
    segmented, and the reader's clicks are then used.

    Where on a lesion the click falls moves a cut's border through the click's geodesic
    distances: on the KiTS case_00137 and case_00017 phantoms of the change-precision
    benchmark, the protocol's click on each follow-up's own label, 1 to 4 voxels from the
    baseline's click carried there, moved the change by up to 8 points either way (case_00017
    at -20%: -29.2% from the reader's click, -22.8% carried); two readers clicking one lesion
    got two volumes. Adding the click to the carried ones enlarged the lesion instead (up to
    +6.4 points: every positive point pulls the border outwards).
    """
    try:
        carried = carry_lesion(reference, None, follow_up, lesion_type, params, deformation)
    except TscimgError:  # the reader's clicks may still be segmented (or say what is wrong)
        return None
    seg = carried.segmentation
    if seg is None or carried.review:  # not segmented (the warped outline stood in), flagged
        return None
    labels = carried.mask.array_view()
    if any(labels[k, j, i] == 0 for i, j, k in clicks.positive):
        return None
    if seg.prompts.box is not None and seg.prompts.box_origin is not BoxOrigin.CARRIED:
        # the reference's own box on its own scan (the identity): carried here, not drawn at
        # this visit (so the visit does not take over as the reference)
        prompts = replace(seg.prompts, box_origin=BoxOrigin.CARRIED)
        carried = replace(carried, segmentation=replace(seg, prompts=prompts), prompts=prompts)
    g = follow_up.geometry
    points = "; ".join(
        "(" + ", ".join(f"{v:.1f}" for v in g.index_to_lps(p)) + ")" for p in clicks.positive
    )
    several = len(clicks.positive) > 1
    note = (
        f"the click{'s' if several else ''} at this visit (LPS mm {points}) "
        f"{'lie' if several else 'lies'} on the lesion carried from {reference.date}: its "
        "outline is the carried one, wherever on the lesion the click fell; to change it, click "
        "what it misses, give a negative click on what it wrongly holds, or a box"
    )
    return replace(carried, warnings=(*carried.warnings, note), confirmed=True)


def _check_deformation(deformation: object, reference: LesionReference, follow_up: Scan) -> None:
    """An :class:`InputError` when ``deformation`` is not a :class:`LesionDeformation` of
    these two scans (one computed for another follow-up gave that follow-up's outline)."""
    if not isinstance(deformation, LesionDeformation):
        raise InputError(
            f"deformation must be the LesionDeformation of register_lesion(), got a "
            f"{type(deformation).__name__}",
            hint="Pass register_lesion(reference, follow_up), or leave deformation out",
        )
    hint = "Pass register_lesion(reference, follow_up) of these two scans, or leave it out"
    for n, (name, recorded, scan) in enumerate(
        (
            ("reference", deformation.previous_geometry, reference.scan),
            ("follow-up", deformation.follow_up_geometry, follow_up),
        )
    ):
        differences = [] if recorded is None else recorded.differences(scan.geometry)
        if differences:
            raise InputError(
                f"the deformation given was computed for another {name} scan "
                f"({'; '.join(differences)})",
                path=scan.source,
                hint=hint,
            )
        prints = deformation.fingerprints
        if prints is not None and prints[n] != voxel_fingerprint(scan):
            raise InputError(
                f"the deformation given was computed for another {name} scan (on the same "
                "grid, with other voxels)",
                path=scan.source,
                hint=hint,
            )


def carry_lesion(
    reference: LesionReference | Scan,
    reference_mask: Mask | None,
    follow_up: Scan,
    lesion_type: LesionType | str,
    parameters: CarryParameters | None = None,
    deformation: LesionDeformation | None = None,
    clicks: Prompts | None = None,
) -> CarriedLesion:
    """Segment in ``follow_up`` the lesion of ``reference``, alike (see the module docstring).

    Parameters
    ----------
    reference
        The reference visit (its scan, mask and, when the reader prompted it, its
        segmentation). A bare scan with ``reference_mask`` is a reference given as a mask.
    reference_mask
        With a bare scan: the lesion's mask on its grid; otherwise ``None``.
    follow_up
        The later visit.
    lesion_type
        The lesion's type: the follow-up's preset where the reference has no segmentation of
        its own (a mask) or is on another modality; otherwise the reference's parameters are
        used.
    parameters
        Registration settings.
    deformation
        The registration of ``follow_up`` to the reference already computed by
        :func:`register_lesion`; computed here when ``None``.
    clicks
        The reader's own clicks at the follow-up (positive and negative points on its grid, no
        box), used instead of the reference's clicks mapped there; the box, the shape prior and
        the intensity model are still carried. ``tscimg track`` passes them for a follow-up the
        reader prompted with a click alone after a reference prompted with a box, so that both
        visits' borders are placed by one method (the click alone is grown, not cut). Positive
        clicks that all lie on the lesion as carried (no negative click) confirm it: the
        result is the carried one, with a note, so the border does not move with where on the
        lesion a click fell (:func:`_confirmed`). A click outside the box carried from the
        reference is a :class:`PromptError`, not a box grown to reach it.

    Raises
    ------
    PromptError
        When the lesion maps outside the follow-up scan, or its segmentation there came out
        empty and the registration is untrusted or leaves the scan; or a click of ``clicks``
        lies outside the follow-up or outside the carried box.
    InputError
        When either scan is a single 2D frame (an echo view): give that visit its own prompt;
        or ``lesion_type`` is not one of :class:`~tscimg.LesionType`'s; or an argument is of
        the wrong kind (a mask or a path where a scan goes); or ``deformation`` was computed
        for scans on other grids; or ``clicks`` hold a box, or no positive point.
    """
    lesion_type = member_of(LesionType, lesion_type, "lesion type")
    if clicks is not None:
        _check_clicks(clicks)
    if isinstance(reference, Scan):
        if not isinstance(reference_mask, Mask):
            raise InputError(
                "a reference given as a scan needs its lesion's Mask as reference_mask, got "
                f"{type(reference_mask).__name__}",
                hint="Call carry_lesion(scan, mask, follow_up_scan, lesion_type)",
            )
        reference = LesionReference(reference, reference_mask, reference.source or "previous")
    _check_types(reference, follow_up, parameters)
    if clicks is not None:
        clicks = clicks.validated(follow_up.geometry, follow_up.source)
    params = parameters or CarryParameters()
    if deformation is not None:
        _check_deformation(deformation, reference, follow_up)
    deformation = deformation or register_lesion(reference, follow_up, params)
    if clicks is not None and not clicks.negative:
        confirmed = _confirmed(reference, follow_up, lesion_type, params, deformation, clicks)
        if confirmed is not None:
            return confirmed
    reg = deformation.registration
    ref_seg = reference.segmentation
    if ref_seg is None:
        method = preset_for(lesion_type, follow_up.modality).parameters.method
    else:
        method = ref_seg.parameters.method
    review = list(deformation.review) + list(reg.warnings)
    warnings: list[str] = []
    mapped_by: tuple[float, float] | None = None
    if ref_seg is not None and reg.is_identity and same_image(reference.scan, follow_up):
        prompts = ref_seg.prompts  # the same scan: the same call gives the same mask
        if clicks is not None:
            if prompts.box is not None:
                _within(prompts.box, clicks.positive, reference, follow_up)
            # the reference's box, carried here (not drawn by the reader at this visit)
            prompts = replace(prompts, positive=clicks.positive, negative=clicks.negative,
                              box_origin=BoxOrigin.CARRIED)  # fmt: skip
    else:
        prompts = _mapped_prompts(reference, follow_up, deformation, method, params, clicks)
        around = prompts.box or carried_box(
            reference, follow_up, reg, None, params.max_boundary_points
        )
        if (contrast := contrast_warning(reference, follow_up, deformation, around)) is not None:
            warnings.append(contrast)
        model = None if ref_seg is None else ref_seg.intensity_model
        if model is not None and prompts.box is not None and review:
            warnings.append(
                "the lesion's intensities were learned afresh at this visit, not carried from "
                f"{reference.date}: the registration that matches the two scans' intensities "
                "is not trusted"
            )
        elif model is not None and prompts.box is not None:
            gain, offset = intensity_map(reference, follow_up, deformation, prompts.box)
            low, high = params.intensity_gain_range
            if low <= gain <= high:
                prompts = replace(prompts, intensity_model=model.mapped(gain, offset))
                mapped_by = (gain, offset)
            else:
                warnings.append(
                    f"the intensities around the lesion changed by a factor {gain:.2f} since "
                    f"{reference.date} (outside {low:g}-{high:g}): the lesion's intensities "
                    "were learned afresh at this visit, not carried"
                )
    try:
        # the reference's own parameters where it has a segmentation on the same modality: one
        # method (and, for the same scan twice, the same call) at both visits; the follow-up
        # modality's preset with the reference's method across modalities (a Hounsfield window
        # means nothing on MR) and for a reader's mask
        result: Segmentation | None
        if ref_seg is not None and reference.scan.modality is follow_up.modality:
            result = segment(follow_up, prompts, lesion_type, parameters=ref_seg.parameters)
        else:
            result = segment(follow_up, prompts, lesion_type, method=method)
    except PromptError as exc:
        result = None
        review.append(
            f"the segmentation carried from {reference.date} came out empty ({exc.args[0]}); "
            "the outline is the reference lesion warped by the registration"
        )
    if result is None:
        # the warped outline is an estimate only where the registration can be trusted and the
        # lesion maps whole into the scan: cut off by the scan's edge it measures the coverage
        doubts = list(reg.warnings) + list(deformation.review)
        if not _maps_inside(reference, follow_up, reg, params.max_boundary_points):
            doubts.insert(0, "the lesion maps partly outside this scan's field of view")
        if doubts:
            raise PromptError(
                f"the segmentation carried from the visit of {reference.date} came out empty "
                f"and the registration cannot stand in for it ({'; '.join(doubts)})",
                path=follow_up.source,
                hint="Check the scan's coverage, or give this visit its own prompt (point_lps) "
                "or a mask in the manifest",
            )
        mask = warped_mask(reference, follow_up, deformation)
        if mask.voxel_count() == 0:
            raise PromptError(
                f"the lesion carried from the visit of {reference.date} is empty in this scan",
                path=follow_up.source,
                hint="Give this visit its own prompt (point_lps) or a mask in the manifest",
            )
        return CarriedLesion(
            mask,
            None,
            deformation,
            prompts,
            warnings=tuple(warnings),
            review=tuple(dict.fromkeys(review)),
        )
    if result.intensity_model is None:  # region growing decided: no model placed the border
        mapped_by = None
    if result.box_faces_reached:
        note = (
            f"the carried lesion reaches the box carried from {reference.date} at "
            f"{', '.join(result.box_faces_reached)}: it grew beyond the registered outline, "
            "or leaked into neighbouring tissue"
        )
        # a flag even where the reference's own mask reached the reader's box: there the box
        # was the reader's and they were warned; here nobody has looked, and a mask filling
        # its carried box measures the box, not the lesion's change
        review.append(note)
    if result.image_edges_reached:
        review.append(
            f"the carried lesion reaches the edge of this scan at "
            f"{', '.join(result.image_edges_reached)}: the scan may not cover all of it, and "
            "its volume counts only the part inside; check the scan's coverage"
        )
    review += list(result.review)
    return CarriedLesion(
        result.mask,
        result,
        deformation,
        prompts,
        warnings=tuple(warnings),
        review=tuple(dict.fromkeys(review)),
        intensity_map=mapped_by,
    )
