"""The deformable stage around a lesion, and the change it implies (the second change estimate).

After the global stages of :func:`tscimg.longitudinal.registration.register` (their rigid
part: :func:`rigid_fit`), the follow-up is resampled onto an isotropic block around the
previous visit's lesion and registered to it by diffeomorphic demons (intensities matched
linearly first, both blurred to the coarser of their two resolutions; the displacement field
smoothed, so it stays invertible). The field ``u`` maps a previous-visit point ``x`` to
``x + u(x)`` in the rigidly aligned follow-up, which the rigid transform maps on into the
follow-up's scanner space.

The lesion's volume at the follow-up is then the integral of the map's Jacobian determinant
over the previous visit's lesion (tensor-based morphometry): each lesion voxel counts
``det(I + grad u)`` voxels, with ``u`` differentiated along the block's own axes
(:func:`jacobian_determinant`). This estimate does not use the follow-up's segmentation at all,
so it is independent of it; where the two differ by more than the trust gate allows, the
follow-up is flagged for review. A lesion under ``min_diameter_voxels`` across at the scans'
resolution gets a coarse estimate (``LesionDeformation.imprecise`` says why): its border moves
less than the two visits' partial-volume blur differs.

Examples
--------
A sphere of radius 6 mm that shrinks to radius 5 mm (volume ratio 0.579):

>>> import numpy as np, SimpleITK as sitk
>>> from tscimg.core.geometry import Geometry
>>> from tscimg.core.mask import Mask
>>> from tscimg.core.scan import Scan
>>> g = Geometry((40, 40, 40), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
>>> k, j, i = np.indices((40, 40, 40)); r = np.sqrt((i - 20) ** 2 + (j - 20) ** 2 + (k - 20) ** 2)
>>> def ball(radius):
...     values = 100.0 / (1.0 + np.exp((r - radius) / 0.7))
...     return Scan(g.apply_to(sitk.GetImageFromArray(values.astype(np.float32))))
>>> lesion = Mask.from_array((r <= 6).astype(np.uint8), g)
>>> before, after = ball(6.0), ball(5.0)
>>> estimate = deform_around_lesion(before, lesion, after, identity_registration())
>>> round(estimate.volume_ratio, 2), round((5 / 6) ** 3, 2)
(0.57, 0.58)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import SimpleITK as sitk

from tscimg.core.geometry import Geometry
from tscimg.core.mask import Mask, bounding_box
from tscimg.core.scan import Scan
from tscimg.longitudinal.registration import (
    Registration,
    composite,
    index_reach,
    ncc,
    same_image,
    scalar_image,
)
from tscimg.segment.intensity_model import linear_intensity_fit


@dataclass(frozen=True)
class DeformableParameters:
    """How the deformable stage around a lesion is run.

    Parameters
    ----------
    margin_fraction
        The block extends this fraction of the lesion's extent beyond its bounding box on each
        side (at least ``margin_min_mm``): room for growth and for the field to settle.
    margin_min_mm
        Minimum margin per side, mm.
    spacing_mm
        Isotropic spacing of the block, mm: at most this, a sixteenth of the lesion's size
        for lesions under 16 of it, and at least the previous scan's finest spacing.
    max_voxels
        Cap on the block's voxel count; its spacing grows to respect it.
    iterations
        Demons iterations per level, coarse (half resolution) to fine.
    field_sigma_voxels
        Gaussian smoothing of the displacement field between iterations, in block voxels (the
        regulariser: larger is smoother and stiffer).
    field_sigma_resolution_fraction
        Along each block axis the field's smoothing is at least this fraction of the coarser
        of the two scans' voxel widths along it: the images do not resolve motion finer than
        that, and demons otherwise reads noise and re-slicing within a thick slice as
        motion (brain1, 6.5 mm slices on a 1.8 mm block: an unchanged moved scan -5.2% and
        -35% read as -36.8% with one block voxel; -3.2% and -35.2% with half the slice).
    poor_quality_ncc
        Below this NCC of the lesion's neighbourhood after the deformable stage, the estimate
        carries a review reason.
    min_diameter_voxels
        Below this diameter (of the sphere of the lesion's volume) in voxels of the coarser of
        the two scans' resolutions (their slice thickness, for thick slices), the estimate is
        marked coarse (``LesionDeformation.imprecise``). A change of volume by a fraction f moves
        the border of a lesion of diameter d by about f d / 6; the partial-volume and
        re-slicing blur that differs between two visits misplaces the border by a few
        hundredths of a voxel w, which is an error of about 6 x 0.04 w / d in the ratio: over
        5 points below 5 voxels
        (a 0.13 mL breast lesion 3 slices thick read -35% as -70%; an AML 4.6 slices across
        read it as -29%; from 6.8 slices across within 3.1 points).
    """

    margin_fraction: float = 0.5
    margin_min_mm: float = 10.0
    spacing_mm: float = 1.0
    max_voxels: int = 120_000
    iterations: tuple[int, ...] = (80, 40)
    field_sigma_voxels: float = 1.0
    field_sigma_resolution_fraction: float = 0.5
    poor_quality_ncc: float = 0.5
    min_diameter_voxels: float = 5.0


@dataclass(frozen=True)
class LesionDeformation:
    """The deformable registration around a lesion and the volume change it implies.

    Parameters
    ----------
    registration
        The global stages with the displacement field prepended: maps previous-visit points
        (LPS, mm) into the follow-up.
    volume_ratio
        Follow-up lesion volume / previous lesion volume, from the Jacobian determinant
        integrated over the previous visit's lesion.
    previous_volume_ml
        The previous visit's lesion volume (voxel count x voxel volume), mL.
    quality_ncc
        Normalized cross-correlation of the lesion neighbourhood after the deformable stage.
    review
        Reasons the registration cannot be trusted (empty: trusted): it places the lesion
        wrongly, folds, or leaves the scan, so neither its estimate nor what it carries holds.
    imprecise
        Reasons the volume estimate is coarse although the registration places the lesion well
        (a lesion a few voxels across): the estimate is reported with this note and still
        cross-checks the segmentation (a disagreement flags the visit), but the visit is not
        flagged for it alone.
    previous_geometry, follow_up_geometry
        The grids of the two scans it registers (``None`` when built by hand): a deformation
        handed to :func:`~tscimg.longitudinal.carry.carry_lesion` must be the one of that
        follow-up.
    fingerprints
        :func:`voxel_fingerprint` of the two scans (previous, follow-up): scans resampled onto
        one grid share it, their voxels do not.
    """

    registration: Registration
    volume_ratio: float
    previous_volume_ml: float
    quality_ncc: float
    review: tuple[str, ...] = ()
    imprecise: tuple[str, ...] = ()
    previous_geometry: Geometry | None = None
    follow_up_geometry: Geometry | None = None
    fingerprints: tuple[str, str] | None = None

    @cached_property
    def follow_up_to_previous(self) -> sitk.CompositeTransform:
        """The transform that resamples previous-visit images onto the follow-up (follow-up
        points to previous-visit points: the stages inverted); computed once (inverting the
        displacement field is the costly part), shared by every image carried across."""
        # SimpleITK applies the last added transform first, so adding the stages' inverses in
        # the order the stages apply undoes the last stage first
        inverse = sitk.CompositeTransform(3)
        for t in self.registration.stages:
            if isinstance(t, sitk.DisplacementFieldTransform):
                field = sitk.InvertDisplacementField(t.GetDisplacementField(), 20)
                inverse.AddTransform(sitk.DisplacementFieldTransform(field))
            else:
                inverse.AddTransform(t.GetInverse())
        return inverse

    @property
    def volume_ml(self) -> float:
        """The follow-up lesion volume this registration implies, mL."""
        return self.volume_ratio * self.previous_volume_ml


def identity_registration() -> Registration:
    """The registration of a scan to itself (every point maps to itself)."""
    return Registration((sitk.Transform(3, sitk.sitkIdentity),), 1.0, 1.0)


def _block_grid(mask: Mask, previous: sitk.Image, params: DeformableParameters) -> sitk.Image:
    """An empty isotropic grid around the lesion, aligned with the previous scan's axes."""
    arr = mask.array_view() > 0
    box = bounding_box(arr)
    assert box is not None
    spacing = np.asarray(previous.GetSpacing())
    lo = np.array([box[2].start, box[1].start, box[0].start], dtype=float)
    hi = np.array([box[2].stop, box[1].stop, box[0].stop], dtype=float) - 1.0
    extent_mm = (hi - lo + 1.0) * spacing
    margin_mm = np.maximum(params.margin_fraction * extent_mm, params.margin_min_mm)
    # within the previous scan: the block compares the two scans, so it has to lie in both
    top_mm = (np.asarray(previous.GetSize()) - 1) * spacing
    lo_mm = np.maximum(lo * spacing - margin_mm, 0.0)
    hi_mm = np.minimum(hi * spacing + margin_mm, top_mm)
    span_mm = hi_mm - lo_mm
    # at most spacing_mm, finer for a small lesion (a sixteenth of its size), never finer than
    # the scan resolves
    size_mm = float(np.exp(np.mean(np.log(extent_mm))))
    step = max(min(params.spacing_mm, size_mm / 16.0), float(spacing.min()))
    step = max(step, float(np.prod(span_mm) / params.max_voxels) ** (1 / 3))
    size = np.maximum(np.floor(span_mm / step + 1e-6).astype(int) + 1, 8)
    origin = previous.TransformContinuousIndexToPhysicalPoint([float(v) for v in lo_mm / spacing])
    grid = sitk.Image([int(v) for v in size], sitk.sitkFloat32)
    grid.SetSpacing((step,) * 3)
    grid.SetOrigin(origin)
    grid.SetDirection(previous.GetDirection())
    return grid


def _cropped_to(image: sitk.Image, grid: sitk.Image, transform: sitk.Transform) -> sitk.Image:
    """The part of ``image`` that ``grid`` samples through ``transform`` (plus 4 voxels), so
    smoothing and sampling cost what the block costs, not the scan."""
    lo, hi = index_reach(grid, image, transform, 4.0 * np.asarray(image.GetSpacing()))
    return sitk.RegionOfInterest(image, [int(v) for v in hi - lo + 1], [int(v) for v in lo])


def _sampled(image: sitk.Image, grid: sitk.Image, transform: sitk.Transform) -> sitk.Image:
    """``image`` smoothed to the grid's resolution and sampled on it through ``transform``."""
    image = _cropped_to(image, grid, transform)
    step = grid.GetSpacing()[0]
    sigmas = [0.5 * step if s < step else 0.0 for s in image.GetSpacing()]
    if any(s > 0 for s in sigmas):
        image = sitk.SmoothingRecursiveGaussian(image, [max(s, 1e-3) for s in sigmas])
    return sitk.Resample(image, grid, transform, sitk.sitkLinear, np.nan, sitk.sitkFloat32)


def _resolution_mm(image: sitk.Image, grid: sitk.Image) -> np.ndarray:
    """The width (mm) of ``image``'s voxels along each axis of ``grid``, at least the grid's
    step: what a block sampled from it resolves along that axis."""
    axes = np.asarray(grid.GetDirection()).reshape(3, 3)
    own = np.asarray(image.GetDirection()).reshape(3, 3)
    width = np.abs(axes.T @ own) @ np.asarray(image.GetSpacing())
    return np.maximum(width, grid.GetSpacing()[0])


def _to_resolution(block: sitk.Image, own_mm: np.ndarray, target_mm: np.ndarray) -> sitk.Image:
    """``block`` blurred from its own resolution to a coarser one, per axis: a voxel of width w
    is a box of variance w^2 / 12, so the Gaussian that widens it has variance the difference.

    Two visits compared at different slice thicknesses differ in partial-volume blur; left
    as it is, the blur of the thicker slices reads as a change of the lesion's border."""
    extra = np.sqrt(np.maximum(target_mm**2 - own_mm**2, 0.0) / 12.0)
    if np.all(extra < 0.25 * block.GetSpacing()[0]):
        return block
    return sitk.SmoothingRecursiveGaussian(block, [float(max(v, 1e-3)) for v in extra])


def _filled(image: sitk.Image) -> sitk.Image:
    """NaN voxels (sampled past the scan's last voxel centre) set to the median of the rest."""
    arr = sitk.GetArrayFromImage(image)
    missing = ~np.isfinite(arr)
    if not missing.any():
        return image
    arr[missing] = float(np.median(arr[~missing])) if (~missing).any() else 0.0
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    return out


def rigid_fit(transform: sitk.Transform, grid: sitk.Image) -> sitk.AffineTransform:
    """The rigid transform closest to ``transform`` over ``grid`` (least squares on a 5 x 5 x 5
    lattice of its points; Kabsch).

    The global affine stage fits the whole field of view, so a lesion's own shrinkage leaks into
    its scale (a 7% smaller SEGA gave the affine a determinant of 0.93 on a small field). Anatomy
    does not scale between visits: the deformable stage starts from rigid, and measures every
    change of volume itself.
    """
    size = np.asarray(grid.GetSize(), dtype=float) - 1
    steps = [np.linspace(0, n, 5) for n in size]
    lattice = np.stack(np.meshgrid(*steps, indexing="ij"), axis=-1).reshape(-1, 3)
    p = np.array(
        [grid.TransformContinuousIndexToPhysicalPoint(list(map(float, c))) for c in lattice]
    )
    q = np.array([transform.TransformPoint(tuple(map(float, x))) for x in p])
    p0, q0 = p.mean(axis=0), q.mean(axis=0)
    u, _, vt = np.linalg.svd((p - p0).T @ (q - q0))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    rigid = sitk.AffineTransform(3)
    rigid.SetMatrix(tuple(float(v) for v in rotation.ravel()))
    rigid.SetTranslation(tuple(float(v) for v in q0 - rotation @ p0))
    return rigid


def deform_around_lesion(
    previous: Scan,
    previous_mask: Mask,
    follow_up: Scan,
    registration: Registration,
    parameters: DeformableParameters | None = None,
) -> LesionDeformation:
    """Register ``follow_up`` to ``previous`` deformably around a lesion; the volume change.

    Parameters
    ----------
    previous, previous_mask
        The earlier visit and the lesion's mask on its grid.
    follow_up
        The later visit.
    registration
        The global (rigid/affine/local) registration of ``follow_up`` to ``previous``.
    parameters
        Block and demons settings.

    Returns
    -------
    LesionDeformation
        The registration with the field prepended, and ``volume_ratio``: the integral of the
        Jacobian determinant over the previous lesion divided by its volume.
    """
    result = _deformed(previous, previous_mask, follow_up, registration, parameters)
    return replace(
        result,
        previous_geometry=previous.geometry,
        follow_up_geometry=follow_up.geometry,
        fingerprints=(voxel_fingerprint(previous), voxel_fingerprint(follow_up)),
    )


def voxel_fingerprint(scan: Scan, samples: int = 4096) -> str:
    """A short digest of a scan's grid and of ``samples`` of its voxels, evenly strided: two
    scans on one grid (serial scans resampled to a template) differ in it, at the cost of a
    few thousand voxels, not of the whole image.

    Examples
    --------
    >>> import numpy as np
    >>> a = Scan.from_array(np.arange(1000, dtype=np.int16).reshape(10, 10, 10))
    >>> b = Scan.from_array(np.arange(1000, dtype=np.int16).reshape(10, 10, 10) + 1)
    >>> voxel_fingerprint(a) == voxel_fingerprint(a), voxel_fingerprint(a) == voxel_fingerprint(b)
    (True, False)
    """
    flat = sitk.GetArrayViewFromImage(scan.image).reshape(-1)
    step = max(1, flat.size // samples)
    digest = hashlib.blake2b(repr(scan.geometry).encode(), digest_size=16)
    digest.update(np.ascontiguousarray(flat[::step]).tobytes())
    return digest.hexdigest()


def _deformed(
    previous: Scan,
    previous_mask: Mask,
    follow_up: Scan,
    registration: Registration,
    parameters: DeformableParameters | None,
) -> LesionDeformation:
    """:func:`deform_around_lesion` without the grids recorded."""
    params = parameters or DeformableParameters()
    previous_ml = previous_mask.volume_ml()
    if previous_ml == 0:
        return LesionDeformation(registration, float("nan"), 0.0, 0.0, ("the lesion is empty",))
    if registration.is_identity and same_image(previous, follow_up):
        return LesionDeformation(registration, 1.0, previous_ml, 1.0)
    fixed_full = scalar_image(previous.image)
    moving_full = scalar_image(follow_up.image)
    grid = _block_grid(previous_mask, fixed_full, params)
    fixed = _filled(_sampled(fixed_full, grid, sitk.Transform(3, sitk.sitkIdentity)))
    rigid = rigid_fit(composite(registration.stages), grid)
    moving = _sampled(moving_full, grid, rigid)
    fixed_mm, moving_mm = _resolution_mm(fixed_full, grid), _resolution_mm(moving_full, grid)
    common_mm = np.maximum(fixed_mm, moving_mm)
    fixed = _to_resolution(fixed, fixed_mm, common_mm)
    moving_arr = sitk.GetArrayFromImage(moving)
    review: list[str] = []
    imprecise: list[str] = []
    diameter_mm = 2.0 * (3.0 * previous_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    coarsest_mm = float(common_mm.max())
    if diameter_mm < params.min_diameter_voxels * coarsest_mm:
        imprecise.append(
            f"the lesion is small for the scans' resolution ({diameter_mm:.1f} mm across, "
            f"{diameter_mm / coarsest_mm:.1f} voxels of {coarsest_mm:.1f} mm; at least "
            f"{params.min_diameter_voxels:g} for a precise registration estimate): the estimate "
            "is coarse (thinner slices make it precise)"
        )
    lesion_in_block = sitk.Resample(
        _cropped_to(previous_mask.image, grid, sitk.Transform(3, sitk.sitkIdentity)),
        grid,
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        0,
        sitk.sitkUInt8,
    )
    reach = max(2, round(params.margin_min_mm / 2 / _step(grid)))
    near = sitk.BinaryDilate(lesion_in_block, [reach] * 3)
    away = sitk.GetArrayViewFromImage(near) == 0
    outside = ~np.isfinite(moving_arr)
    if outside.any():
        if (outside & (sitk.GetArrayViewFromImage(lesion_in_block) > 0)).any():
            review.append(
                "the lesion maps outside the follow-up's field of view: its coverage ends "
                "there, or the registration placed the lesion wrongly; check the scan's coverage "
                "and the carried mask"
            )
        fill = float(np.nanmedian(moving_arr)) if (~outside).any() else 0.0
        moving_arr[outside] = fill
    moving = sitk.GetImageFromArray(moving_arr)
    moving.CopyInformation(grid)
    moving = _to_resolution(moving, moving_mm, common_mm)
    fit_on = away & ~outside
    gain, centres, shift = _intensity_gain(moving, fixed, fit_on)
    # without a gain, the follow-up is shifted by the median of the voxel-by-voxel
    # differences (see _demons_from): (0, shift) maps v to v - shift
    unscaled_centres = (0.0, shift)
    if gain == 1.0:
        centres = unscaled_centres
    # demons reads noise as motion (an unchanged scan with 2% noise gained 1-3%): both blocks
    # are smoothed by one block voxel first, as is usual before demons
    smoothed_fixed = sitk.SmoothingRecursiveGaussian(fixed, _step(fixed))
    matched, field = _demons_from(smoothed_fixed, moving, gain, centres, params, common_mm)
    if gain != 1.0:
        # the gain was fitted on the pairs the rigid stage matches, which the lesion's change
        # can move (tissue around a shrinking lesion follows it): demons run from it and from
        # none, and the start whose field leaves the smaller intensity difference is kept (a
        # wrong gain leaves a difference in uniform tissue that no deformation removes; see
        # _intensity_gain)
        unscaled, unscaled_field = _demons_from(
            smoothed_fixed, moving, 1.0, unscaled_centres, params, common_mm
        )
        scaled_error, unscaled_error = _residuals(
            smoothed_fixed, outside, (field, matched), (unscaled_field, unscaled)
        )
        if unscaled_error < scaled_error:
            matched, field = unscaled, unscaled_field
    fixed = smoothed_fixed
    jacobian = jacobian_determinant(field)
    # the Jacobian at each lesion voxel's centre, on the previous scan's own grid (its box)
    box = bounding_box(previous_mask.array_view() > 0)
    assert box is not None
    lesion_box = sitk.RegionOfInterest(
        previous_mask.image,
        [box[2].stop - box[2].start, box[1].stop - box[1].start, box[0].stop - box[0].start],
        [box[2].start, box[1].start, box[0].start],
    )
    on_previous = sitk.Resample(
        jacobian, lesion_box, sitk.Transform(), sitk.sitkLinear, 1.0, sitk.sitkFloat64
    )
    det = sitk.GetArrayFromImage(on_previous)[sitk.GetArrayViewFromImage(lesion_box) > 0]
    ratio = float(det.mean())
    if not np.isfinite(ratio):
        return LesionDeformation(
            registration, float("nan"), previous_ml, 0.0,
            ("the deformable registration around the lesion failed (no finite field)",),
        )  # fmt: skip
    if float(det.min()) <= 0:
        review.append("the deformation folds inside the lesion (Jacobian <= 0)")
    transform = sitk.DisplacementFieldTransform(sitk.Image(field))
    warped = sitk.GetArrayFromImage(
        sitk.Resample(matched, fixed, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    )
    fixed_arr = sitk.GetArrayViewFromImage(fixed)
    quality = ncc(fixed_arr, warped, np.isfinite(fixed_arr) & np.isfinite(warped))
    if quality < params.poor_quality_ncc:
        review.append(
            f"poor deformable registration around the lesion (NCC {quality:.2f} < "
            f"{params.poor_quality_ncc:.2f})"
        )
    deformed = Registration(
        (transform, rigid),
        registration.quality_ncc,
        registration.quality_ncc_before,
        registration.warnings,
    )
    return LesionDeformation(deformed, ratio, previous_ml, quality, tuple(review), tuple(imprecise))


def jacobian_determinant(field: sitk.Image) -> sitk.Image:
    """``det(I + grad u)`` of a displacement field (vectors in LPS mm), on the field's grid.

    ``sitk.DisplacementFieldJacobianDeterminant`` differentiates each vector component along the
    grid's index axes as though those were the LPS axes: it ignores the grid's direction. On a
    grid whose axes are permuted, flipped or oblique (the block takes the scan's own axes, and
    DICOM and many NIfTI scans have such axes) it then mixes the components with the wrong
    derivatives: a uniform contraction to 0.729 read as 0.891 with one flipped axis, and a SEGA
    that shrank by 35% on an oblique MRI read as +6.6%. The vectors are therefore expressed
    along the grid's own axes first (``D^T u``); the determinant is the same in any orthonormal
    frame, so nothing else changes.
    """
    direction = np.asarray(field.GetDirection()).reshape(3, 3)
    along_axes = sitk.GetArrayViewFromImage(field) @ direction
    on_axes = sitk.GetImageFromArray(along_axes, isVector=True)
    on_axes.SetSpacing(field.GetSpacing())
    determinant = sitk.DisplacementFieldJacobianDeterminant(on_axes)
    determinant.CopyInformation(field)
    return determinant


def _intensity_gain(
    moving: sitk.Image, fixed: sitk.Image, away: np.ndarray
) -> tuple[float, tuple[float, float], float]:
    """The gain of ``moving``'s intensities against ``fixed``'s (a scanner's gain between
    visits; 1.0 when none is applied), the two blocks' medians over ``away`` (the gain's
    anchors), and the median of the voxel-by-voxel differences ``moving - fixed`` there (the
    shift applied without a gain), judged on the tissue away from the lesion.

    Only tissue away from the lesion decides: the lesion's own change alters the histogram, and
    matching it (histogram matching, or percentiles of the whole block) would move the lesion's
    border intensities towards its previous size. The two blocks are rigidly aligned, so the
    gain is fitted on corresponding voxels (both smoothed by 2 voxels, which leaves little
    noise; trimmed least squares, :func:`~tscimg.segment.intensity_model.linear_intensity_fit`,
    so tissue that differs between the visits does not set it), only where that tissue has
    structure (in each block its 2nd-98th percentile range at least a quarter of the block's
    own 1st-99th; against the previous block's range, a follow-up at a gain of 0.7 had none)
    and the fitted pairs correlate 0.95 or more, and applied only beyond 10%: smaller ratios
    are within what noise and partial volume give on an unchanged scan, and a wrong gain
    scales the lesion's contrast, which demons reads as a change of its border. Noise flattens
    a least-squares slope to ``r`` (as much noise in both blocks) or ``r^2`` (in the previous
    block only) of the true gain, so at r >= 0.95 noise alone stays inside the 10% left alone
    (at 0.9, textures with independent noise gave 0.82 for 1). The symmetric
    (reduced-major-axis) line, which noise does not flatten, reads the wider spread a
    re-sliced, noisier follow-up has as a gain: brain1's -35% came out -45% (gain 1.16); its
    least-squares gain is 1.03, and -36.6%.

    Matching the two blocks' percentile ranges instead (without correspondence) read tissue
    that one visit does not show as a change of gain: where breast1's follow-up ends (padded at
    its field of view's edge, inside the block) its range grew by half, the gain came out 0.65,
    the lesion's contrast was cut by a third, and demons read -35% as -66% (-15% as -17%).

    Rigidly matched pairs are not always the same tissue either: the tissue around a lesion
    moves with the lesion's change (mass effect; in the change-precision benchmark a scaled
    region around the tumour). Around a 217 mL FLAIR tumour that shrank by 35%, the brighter
    tissue that had surrounded it moved inwards, the pairs within 30 mm of it read the
    follow-up 0.3-0.7 darker, and with the skull-stripped background's constant pairs the line
    came out at a gain of 0.86 with correlation 0.996 (inside the brain alone: 1.01); demons
    then read -35% as -10%. So where a gain is fitted, demons run from it and from none, and
    the start whose field leaves the smaller mean squared difference between the blocks
    (:func:`_residuals`) is kept: demons absorb part of a wrong contrast into the deformation
    (a follow-up at a true gain of 0.8 read 0.17 for 0.65 without the gain, and the gain
    refitted on the pairs that field matches came out 1.02, as if none were needed), but not
    in uniform tissue, which no deformation makes brighter. A true gain of 0.6-1.5 leaves a
    difference 1.6-94 times smaller with it than without (the run without it shifted by the
    paired differences' median, see :func:`_demons_from`); that FLAIR tumour's fitted gain
    one 56 times larger than none (contracted with its surroundings, no motion: 0.652 for
    0.65). The second demons run is spent only where a gain is fitted.
    """
    a = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(fixed, 2 * _step(fixed)))
    b = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(moving, 2 * _step(fixed)))
    if int(away.sum()) < 100:
        return 1.0, (0.0, 0.0), 0.0
    qa, qb = np.percentile(a[away], [2, 50, 98]), np.percentile(b[away], [2, 50, 98])
    full_a = np.percentile(a, 99) - np.percentile(a, 1)
    full_b = np.percentile(b, 99) - np.percentile(b, 1)
    structured = qa[2] - qa[0] >= 0.25 * full_a > 0 and qb[2] - qb[0] >= 0.25 * full_b > 0
    gain = 1.0
    if structured:
        fit = linear_intensity_fit(a[away], b[away])
        if fit.correlation >= 0.95 and abs(fit.gain - 1.0) > 0.1:
            gain = fit.gain
    shift = float(np.median(b[away] - a[away]))
    return gain, (float(qa[1]), float(qb[1])), shift


def _residuals(
    fixed: sitk.Image, outside: np.ndarray, *runs: tuple[sitk.Image, sitk.Image]
) -> list[float]:
    """For each ``(field, moving)`` run, the mean squared difference of ``fixed`` and
    ``moving`` resampled through ``field``, over the voxels every run maps inside ``moving``
    and off its ``outside`` (the voxels the follow-up does not show, filled before demons);
    infinite for a field that is not finite everywhere, or when no voxel is left."""
    warped: list[np.ndarray | None] = []
    for field, moving in runs:
        if not np.isfinite(sitk.GetArrayViewFromImage(field)).all():
            warped.append(None)
            continue
        values = sitk.GetArrayFromImage(moving)
        values[outside] = np.nan
        shown = sitk.GetImageFromArray(values)
        shown.CopyInformation(moving)
        transform = sitk.DisplacementFieldTransform(sitk.Image(field))
        resampled = sitk.Resample(shown, fixed, transform, sitk.sitkLinear, np.nan)
        warped.append(sitk.GetArrayFromImage(resampled))
    valid = np.logical_and.reduce([np.isfinite(w) for w in warped if w is not None])
    a = sitk.GetArrayViewFromImage(fixed)
    if not np.any(valid):
        return [float("inf")] * len(runs)
    return [
        float("inf") if w is None else float(np.mean((a[valid] - w[valid]) ** 2)) for w in warped
    ]


def _demons_from(
    smoothed_fixed: sitk.Image,
    moving: sitk.Image,
    gain: float,
    centres: tuple[float, float],
    params: DeformableParameters,
    resolution_mm: np.ndarray,
) -> tuple[sitk.Image, sitk.Image]:
    """``moving`` mapped onto the fixed block's intensities (``centres``: the anchors, fixed
    and moving; deviations from the moving one divided by ``gain`` about the fixed one) and
    smoothed as the fixed block was, and the demons field from ``smoothed_fixed`` to it.

    With a gain the anchors are the two blocks' medians. Without one (a gain within 10% of 1 is
    left alone) the follow-up is shifted by the median of the voxel-by-voxel differences of
    the rigidly aligned blocks, not by the difference of their medians: the tissue away from
    the lesion moves with it, and that moves the medians but hardly the paired differences.
    BRATS pat0006's enhancing rim (43 mL) shrank by 35% inside the benchmark's ellipsoid,
    6.7 times its volume, so its block's tissue moved inwards throughout; the medians came
    0.68 apart (9% of the block's 1st-99th percentile range, in a z-scored T1c) while the
    paired differences had a median of 0.0, demons read the shifted intensities as a border
    that had moved back out, and -35% came out -13%, -20% -3% (now -35.3% and -20.1%). No
    shift at all is wrong too: a gain under the 10% left alone leaves a shift of (g - 1) times
    the tissue's level, which demons read as a border shift (a textured sphere shrunk to 0.65
    at a gain of 1.05 read 0.850; ms_pair patient12, the real pair acquired twice, its
    unchanged balls spread from 5.5 to 15.8 points).
    """
    values = sitk.GetArrayViewFromImage(moving)
    # in float64, as the numpy medians promote it
    mapped = (values.astype(np.float64) - centres[1]) / gain + centres[0]
    matched = sitk.GetImageFromArray(mapped.astype(np.float32))
    matched.CopyInformation(moving)
    smoothed = sitk.SmoothingRecursiveGaussian(matched, _step(smoothed_fixed))
    return smoothed, _demons(smoothed_fixed, smoothed, params, resolution_mm)


def _demons(
    fixed: sitk.Image, moving: sitk.Image, params: DeformableParameters, resolution_mm: np.ndarray
) -> sitk.Image:
    """Diffeomorphic demons, coarse to fine; the displacement field on ``fixed``'s grid.
    ``resolution_mm``: what the two scans resolve along each block axis (sets the field's
    smoothing there, with ``field_sigma_voxels`` as the minimum)."""
    sigmas = [
        max(params.field_sigma_voxels, params.field_sigma_resolution_fraction * w / _step(fixed))
        for w in resolution_mm
    ]
    field: sitk.Image | None = None
    levels = len(params.iterations)
    for level, iterations in enumerate(params.iterations):
        shrink = 2 ** (levels - 1 - level)
        f, m = fixed, moving
        if shrink > 1:
            f = sitk.Shrink(sitk.SmoothingRecursiveGaussian(fixed, 0.5 * shrink * _step(fixed)),
                            [shrink] * 3)  # fmt: skip
            m = sitk.Shrink(sitk.SmoothingRecursiveGaussian(moving, 0.5 * shrink * _step(fixed)),
                            [shrink] * 3)  # fmt: skip
        demons = sitk.DiffeomorphicDemonsRegistrationFilter()
        demons.SetNumberOfIterations(int(iterations))
        demons.SetSmoothDisplacementField(True)
        demons.SetStandardDeviations([float(v) for v in sigmas])
        demons.SetUseImageSpacing(True)
        demons.SetMaximumRMSError(1e-4)
        if field is None:
            field = demons.Execute(f, m)
        else:
            start = sitk.Resample(field, f, sitk.Transform(), sitk.sitkLinear, 0.0)
            field = demons.Execute(f, m, start)
    assert field is not None
    if field.GetSize() != fixed.GetSize():
        field = sitk.Resample(field, fixed, sitk.Transform(), sitk.sitkLinear, 0.0)
    return sitk.Cast(field, sitk.sitkVectorFloat64)


def _step(image: sitk.Image) -> float:
    return float(image.GetSpacing()[0])
