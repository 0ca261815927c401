"""Registering a follow-up scan to the previous visit: rigid, then affine, then local.

The result maps physical points (LPS, mm) of the previous visit into the follow-up, so a
lesion's prompts can be carried across visits. Three stages, each bounded in cost:

1. **Global rigid** (Euler 3D) on both scans resampled to a coarse isotropic grid
   (``coarse_spacing_mm``), multi-resolution, Mattes mutual information (works across
   contrast and scanner changes). Started from the scanner coordinates and from a
   centre-of-mass alignment; the better end point wins, so a different table position does
   not trap it.
2. **Global affine** from the rigid result, same grid (absorbs breathing, scaling of the field).
3. **Local rigid** refinement in a block around the lesion (``local_margin_mm`` beyond its
   bounding box) at ``local_spacing_mm``, so the lesion's neighbourhood is aligned best.

Quality is the normalized cross-correlation (NCC) of the smoothed lesion neighbourhood after
alignment (1 = identical); below ``poor_quality_ncc`` the result carries a warning.

Examples
--------
>>> import SimpleITK as sitk
>>> from tscimg.core.scan import Scan
>>> blob = sitk.GaussianSource(sitk.sitkFloat32, (40, 40, 40), (6.0, 5.0, 7.0), (20, 20, 20), 100.0)
>>> moved = sitk.Resample(blob, sitk.TranslationTransform(3, (3.0, -2.0, 1.0)))
>>> result = register(Scan(blob), Scan(moved))
>>> [round(v, 1) for v in result.map_point((20.0, 20.0, 20.0))]
[17.0, 22.0, 19.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from tscimg.core.errors import InputError
from tscimg.core.geometry import box_corners
from tscimg.core.scan import Scan


@dataclass(frozen=True)
class RegistrationParameters:
    """How a follow-up is registered to the previous visit.

    Parameters
    ----------
    coarse_spacing_mm
        Isotropic grid of the global stages, mm (at least the scans' own coarsest spacing).
    coarse_min_voxels
        The global grid has at least this many voxels across the narrower field of view's
        smallest extent (finer than ``coarse_spacing_mm`` for a small field, never finer than
        the scans' finest spacing): a 30 mm breast crop on a 3 mm grid is 10 voxels, too few
        to find a 5 degree rotation (the lesion landed 12-27 mm off; 1.5 mm: within 1 mm).
    coarse_max_voxels
        Cap on the coarse grid's voxel count; the spacing grows to respect it.
    local_margin_mm
        The local stage's block extends this far beyond the lesion's bounding box, mm.
    local_spacing_mm
        Isotropic grid of the local stage, mm (at least the scans' finest spacing).
    local_max_voxels
        Cap on the local block's voxel count; its spacing grows to respect it.
    iterations
        Optimizer iterations per resolution level (at most).
    min_step_mm
        The optimizer stops when its step falls below this (physical shift), mm.
    histogram_bins
        Mattes mutual information bins.
    sampling_fraction
        Fraction of voxels sampled by the metric (fixed seed: reproducible).
    poor_quality_ncc
        Below this local NCC the registration carries a warning.
    mirrored_gain
        The follow-up is flagged as mirrored left-right when a copy of it flipped along the
        axis nearest patient L-R fits the previous scan by this fraction more mutual
        information after the same global rigid stage (``None``: not checked). On the
        change-precision cases and the real serial pair, follow-ups as given scored at most
        -0.025 and mirrored ones at least +0.13 (same contrast; +0.037 across contrasts,
        which this threshold misses).
    mirrored_min_ncc
        The mirrored check gives a verdict only when the global rigid fit of the follow-up as
        given or of its mirrored copy reaches this NCC on the coarse grid: on a failed fit
        either can score better by chance (a second reader's re-sliced head MR, NCC 0.19,
        read as mirrored in its true orientation).
    """

    coarse_spacing_mm: float = 3.0
    coarse_min_voxels: int = 20
    coarse_max_voxels: int = 60_000
    local_margin_mm: float = 20.0
    local_spacing_mm: float = 1.0
    local_max_voxels: int = 120_000
    iterations: int = 60
    min_step_mm: float = 0.01
    histogram_bins: int = 32
    sampling_fraction: float = 0.15
    poor_quality_ncc: float = 0.5
    mirrored_gain: float | None = 0.05
    mirrored_min_ncc: float = 0.5


@dataclass(frozen=True)
class Registration:
    """Where the previous visit's points lie in the follow-up.

    Parameters
    ----------
    stages
        Transforms applied in order to a previous-visit LPS point; each maps the output of
        the one before (the physical space of the previous visit) towards the follow-up.
    quality_ncc
        Normalized cross-correlation of the smoothed lesion neighbourhood after alignment.
    quality_ncc_before
        The same in scanner coordinates, before registration.
    warnings
        Poor quality and similar notes.
    """

    stages: tuple[sitk.Transform, ...]
    quality_ncc: float
    quality_ncc_before: float
    warnings: tuple[str, ...] = field(default=())

    @property
    def is_identity(self) -> bool:
        """Whether every point maps to itself (a scan registered to an identical scan)."""
        return all(t.GetTransformEnum() == sitk.sitkIdentity for t in self.stages)

    def map_point(self, point_lps: Sequence[float]) -> tuple[float, float, float]:
        """A previous-visit point (LPS, mm) in the follow-up's physical space."""
        p = tuple(float(v) for v in point_lps)
        for t in self.stages:
            p = t.TransformPoint(p)
        return (float(p[0]), float(p[1]), float(p[2]))

    def map_points(self, points_lps: np.ndarray) -> np.ndarray:
        """Map an ``(n, 3)`` array of previous-visit points (LPS, mm)."""
        return np.array([self.map_point(p) for p in np.asarray(points_lps, dtype=float)])

    def summary(self) -> dict[str, float | list[str]]:
        """Quality figures as plain values (for reports)."""
        return {
            "quality_ncc": round(self.quality_ncc, 4),
            "quality_ncc_before": round(self.quality_ncc_before, 4),
            "warnings": list(self.warnings),
        }


def scalar_image(image: sitk.Image) -> sitk.Image:
    """One component (the first of a vector image). 16-bit and wider types are kept (every stage
    crops or bin-shrinks first and casts the small result, not the full volume; bin averages
    lose under one grey level); 8-bit images are cast, as their bin averages would lose more."""
    if image.GetNumberOfComponentsPerPixel() > 1:
        image = sitk.VectorIndexSelectionCast(image, 0)
    if image.GetPixelID() in (sitk.sitkUInt8, sitk.sitkInt8):
        image = sitk.Cast(image, sitk.sitkFloat32)
    return image


def _resampled(
    image: sitk.Image, spacing_mm: float, region: tuple[np.ndarray, np.ndarray] | None = None
) -> sitk.Image:
    """``image`` on an isotropic grid aligned with its own axes (optionally a sub-block).

    Cost is bounded by the output: the block is cropped first, then bin-averaged (an
    anti-aliasing shrink) towards the target spacing, smoothed lightly and interpolated.
    """
    size = np.asarray(image.GetSize())
    if region is not None:
        lo = np.clip(np.floor(region[0]).astype(int) - 2, 0, size - 1)
        hi = np.clip(np.ceil(region[1]).astype(int) + 2, 0, size - 1)
        image = sitk.RegionOfInterest(image, [int(v) for v in hi - lo + 1], [int(v) for v in lo])
    spacing = np.asarray(image.GetSpacing())
    factors = [max(1, int(spacing_mm / s)) for s in spacing]
    if any(f > 1 for f in factors):
        image = sitk.BinShrink(image, factors)
        spacing = np.asarray(image.GetSpacing())
    sigmas = [0.5 * spacing_mm if s < spacing_mm else 0.0 for s in spacing]
    if any(sg > 0 for sg in sigmas):
        image = sitk.SmoothingRecursiveGaussian(image, [max(sg, 1e-3) for sg in sigmas])
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    # the grid spans the (cropped) input's voxel-centre extent
    first = np.asarray(image.TransformContinuousIndexToPhysicalPoint([0.0, 0.0, 0.0]))
    extent = (np.asarray(image.GetSize()) - 1) * spacing
    new_size = np.maximum(np.floor(extent / spacing_mm).astype(int) + 1, 4)
    return sitk.Resample(
        image,
        [int(v) for v in new_size],
        sitk.Transform(),
        sitk.sitkLinear,
        tuple(float(v) for v in first),
        (spacing_mm,) * 3,
        tuple(float(v) for v in direction.ravel()),
        0.0,
        sitk.sitkFloat32,
    )


def _method(params: RegistrationParameters, levels: Sequence[int]) -> sitk.ImageRegistrationMethod:
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(params.histogram_bins)
    reg.SetMetricSamplingStrategy(reg.REGULAR)
    reg.SetMetricSamplingPercentage(params.sampling_fraction, 20260101)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0,
        minStep=params.min_step_mm,
        numberOfIterations=params.iterations,
        relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-6,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(list(levels))
    reg.SetSmoothingSigmasPerLevel([max(0, s - 1) for s in levels])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    return reg


def _centre_of(image: sitk.Image) -> np.ndarray:
    size = np.asarray(image.GetSize(), dtype=float)
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint(list((size - 1) / 2)))


def _centre_of_mass(image: sitk.Image) -> np.ndarray:
    arr = sitk.GetArrayViewFromImage(image)
    weights = arr - float(np.percentile(arr, 5))
    weights = np.clip(weights, 0, None)
    total = float(weights.sum())
    if total <= 0:
        return _centre_of(image)
    grids = np.indices(arr.shape, dtype=float)
    kji = [(g * weights).sum() / total for g in grids]
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint([kji[2], kji[1], kji[0]]))


def _rigid_global(
    fixed: sitk.Image, moving: sitk.Image, params: RegistrationParameters
) -> sitk.Euler3DTransform:
    """Rigid alignment from the better of two starts: scanner coordinates, centres of mass."""
    centre = _centre_of(fixed)
    shift = _centre_of_mass(moving) - _centre_of_mass(fixed)
    starts = [np.zeros(3)]
    if np.any(np.abs(shift) > 2 * params.coarse_spacing_mm):
        starts.append(shift)
    candidates = []
    for start in starts:
        t = sitk.Euler3DTransform()
        t.SetCenter(tuple(float(v) for v in centre))
        t.SetTranslation(tuple(float(v) for v in start))
        candidates.append((_mutual_information(fixed, moving, t, params), t))
    transform = max(candidates, key=lambda c: c[0])[1]
    reg = _method(params, (2, 1))
    reg.SetInitialTransform(transform, inPlace=True)
    reg.Execute(fixed, moving)
    return transform


def ncc(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    """Normalized cross-correlation of two arrays over ``valid`` (0 when undefined)."""
    x = a[valid].astype(float)
    y = b[valid].astype(float)
    if x.size < 10:
        return 0.0
    x -= x.mean()
    y -= y.mean()
    denom = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denom) if denom > 0 else 0.0


def composite(stages: Sequence[sitk.Transform]) -> sitk.Transform:
    """One transform applying ``stages`` in order (SimpleITK applies the last added first)."""
    composite = sitk.CompositeTransform(3)
    for t in reversed(stages):
        composite.AddTransform(t)
    return composite


def _local_quality(
    fixed_block: sitk.Image, moving: sitk.Image, stages: Sequence[sitk.Transform]
) -> float:
    transform = composite(stages) if stages else sitk.Transform()
    warped = sitk.Resample(
        moving, fixed_block, transform, sitk.sitkLinear, np.nan, sitk.sitkFloat32
    )
    a = sitk.GetArrayViewFromImage(fixed_block)
    b = sitk.GetArrayViewFromImage(warped)
    return ncc(a, b, np.isfinite(b))


def _lesion_box(box: object, previous: Scan) -> tuple[np.ndarray, np.ndarray]:
    """``register()``'s ``lesion_box_lps`` checked: two finite LPS points (mm) whose box meets
    the previous scan; an :class:`InputError` saying what to give otherwise."""
    hint = (
        "Give (low, high): two LPS points in mm, e.g. "
        "tscimg.longitudinal.carry.mask_bounds_lps(mask) for a lesion's mask"
    )
    try:
        low, high = (np.asarray(p, dtype=float) for p in box)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise InputError(
            f"lesion_box_lps must be two LPS points (low, high); got {type(box).__name__}",
            hint=hint,
        ) from None
    if low.shape != (3,) or high.shape != (3,) or not np.all(np.isfinite([low, high])):
        raise InputError(
            f"lesion_box_lps must be two points of 3 finite numbers; got {low!r}, {high!r}",
            hint=hint,
        )
    g = previous.geometry
    corners = np.array([g.lps_to_index(tuple(c)) for c in box_corners(low, high)])
    top = np.asarray(g.size) - 0.5
    if np.any(corners.max(axis=0) < -0.5) or np.any(corners.min(axis=0) > top):
        raise InputError(
            f"the lesion box {low.tolist()} - {high.tolist()} (LPS mm) lies outside the "
            "previous scan",
            path=previous.source,
            hint=hint,
        )
    return np.minimum(low, high), np.maximum(low, high)


def register(
    previous: Scan,
    follow_up: Scan,
    lesion_box_lps: tuple[np.ndarray, np.ndarray] | None = None,
    parameters: RegistrationParameters | None = None,
) -> Registration:
    """Register ``follow_up`` to ``previous``; the result maps previous points into it.

    Parameters
    ----------
    previous
        The earlier visit (where the lesion is known).
    follow_up
        The later visit.
    lesion_box_lps
        ``(low, high)`` corners (LPS, mm, each shape ``(3,)``) of a box holding the lesion in
        ``previous``: the local stage and the quality figure use it. ``None``: the whole scan.
    parameters
        Stage settings.

    Raises
    ------
    InputError
        When either is not a :class:`~tscimg.Scan`, or is a single 2D frame (nothing to align
        in 3D).
    """
    for name, value in (("previous", previous), ("follow_up", follow_up)):
        if not isinstance(value, Scan):
            raise InputError(
                f"register() needs two tscimg.Scan objects; {name} is a {type(value).__name__}",
                hint="Pass the scans (tscimg.load_scan(path)); a lesion's mask goes to "
                "lesion_box_lps as its bounds (tscimg.longitudinal.carry.mask_bounds_lps(mask))",
            )
    if lesion_box_lps is not None:
        lesion_box_lps = _lesion_box(lesion_box_lps, previous)
    params = parameters or RegistrationParameters()
    fixed_full = scalar_image(previous.image)
    moving_full = scalar_image(follow_up.image)
    if fixed_full.GetDimension() != 3 or moving_full.GetDimension() != 3:
        raise ValueError("registration needs two 3D scans")
    for scan in (previous, follow_up):
        if scan.is_planar:
            raise InputError(
                "registration needs 3D volumes; this is a single 2D frame",
                path=scan.source,
                hint="Register volumes only; segment each 2D view from its own prompt",
            )
    if same_image(previous, follow_up):
        return Registration((sitk.Transform(3, sitk.sitkIdentity),), 1.0, 1.0)
    extents_mm = [
        np.asarray(img.GetSize()) * np.asarray(img.GetSpacing())
        for img in (fixed_full, moving_full)
    ]
    finest_mm = min(float(min(img.GetSpacing())) for img in (fixed_full, moving_full))
    narrowest_mm = min(float(e.min()) for e in extents_mm)
    coarse = min(params.coarse_spacing_mm, max(narrowest_mm / params.coarse_min_voxels, finest_mm))
    for phys in extents_mm:
        coarse = max(coarse, float(np.prod(phys) / params.coarse_max_voxels) ** (1 / 3))
    fixed = _resampled(fixed_full, coarse)
    moving = _resampled(moving_full, coarse)

    rigid = _rigid_global(fixed, moving, params)
    warnings: list[str] = []
    if params.mirrored_gain is not None:
        gain = mirrored_fit_gain(fixed, moving, moving_full, rigid, params)
        if gain is not None and gain > params.mirrored_gain:
            warnings.append(
                f"the follow-up fits the previous scan better mirrored left-right (mutual "
                f"information {100 * gain:+.0f}% when flipped): its left-right orientation may "
                "be wrong (a conversion that flipped the image but not its header?), and the "
                "lesion measured on the other side; check the scan's orientation"
            )
    affine = sitk.AffineTransform(3)
    affine.SetCenter(rigid.GetCenter())
    affine.SetMatrix(rigid.GetMatrix())
    affine.SetTranslation(rigid.GetTranslation())
    reg = _method(params, (1,))
    reg.SetInitialTransform(affine, inPlace=True)
    reg.Execute(fixed, moving)

    # the local block around the lesion, in the previous scan's index space
    size = np.asarray(fixed_full.GetSize(), dtype=float)
    spacing = np.asarray(fixed_full.GetSpacing())
    if lesion_box_lps is None:
        lo_idx, hi_idx = np.zeros(3), size - 1
    else:
        corners = box_corners(*lesion_box_lps)
        idx = np.array([fixed_full.TransformPhysicalPointToContinuousIndex(c) for c in corners])
        margin = params.local_margin_mm / spacing
        lo_idx = np.clip(idx.min(axis=0) - margin, 0, size - 1)
        hi_idx = np.clip(idx.max(axis=0) + margin, 0, size - 1)
    block_mm = np.prod((hi_idx - lo_idx + 1) * spacing)
    local_spacing = max(
        params.local_spacing_mm,
        float(min(spacing)),
        float(block_mm / params.local_max_voxels) ** (1 / 3),
    )
    block = _resampled(fixed_full, local_spacing, (lo_idx, hi_idx))
    moving_local = _resampled(
        moving_full, local_spacing, index_reach(block, moving_full, affine, 10.0)
    )

    before = _local_quality(block, moving_local, [])
    local = sitk.Euler3DTransform()
    local.SetCenter(
        tuple(
            float(v)
            for v in block.TransformContinuousIndexToPhysicalPoint(
                list((np.asarray(block.GetSize()) - 1) / 2.0)
            )
        )
    )
    reg = _method(params, (2, 1))
    reg.SetMovingInitialTransform(affine)
    reg.SetInitialTransform(local, inPlace=True)
    global_only = _local_quality(block, moving_local, [affine])
    try:
        reg.Execute(block, moving_local)
        stages: tuple[sitk.Transform, ...] = (local, affine)
        after = _local_quality(block, moving_local, list(stages))
        if after < global_only:  # the local stage made the neighbourhood worse: keep global
            stages, after = (affine,), global_only
    except RuntimeError:  # too little overlap in the block: the global result stands
        stages, after = (affine,), global_only
    if after < params.poor_quality_ncc:
        warnings.append(
            f"poor registration around the lesion (NCC {after:.2f} < "
            f"{params.poor_quality_ncc:.2f}): check the carried lesion, or give the visit its "
            "own prompt"
        )
    return Registration(stages, after, before, tuple(warnings))


def _mutual_information(
    fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform, params: RegistrationParameters
) -> float:
    """Mattes mutual information of ``moving`` through ``transform`` on ``fixed`` (the global
    stage's metric and sampling, at its end point)."""
    probe = _method(params, (1,))
    probe.SetInitialTransform(transform, inPlace=False)
    return -float(probe.MetricEvaluate(fixed, moving))  # ITK minimises its negative


def mirrored_fit_gain(
    fixed: sitk.Image,
    moving: sitk.Image,
    moving_full: sitk.Image,
    rigid: sitk.Transform,
    params: RegistrationParameters,
) -> float | None:
    """How much better (a fraction of mutual information) ``moving`` fits ``fixed`` flipped
    along its voxel axis nearest patient L-R, after the same global rigid stage; ``None``
    when neither fit reaches ``params.mirrored_min_ncc`` (no verdict on a failed fit).

    ``moving`` is the coarse copy of ``moving_full``, ``rigid`` its global alignment. The flip
    is about the plane through ``moving_full``'s centre (the array reversed, the origin moved
    so that the copy is a mirror image in physical space). A positive gain says the follow-up
    looks mirrored relative to the previous scan: a NIfTI conversion that flipped the array
    but not its affine put the lesion on the other side, and a rigid registration cannot undo
    a reflection (a helper's registration audit: the other kidney was measured unflagged).
    """
    direction = np.asarray(moving_full.GetDirection()).reshape(3, 3)
    axis = int(np.argmax(np.abs(direction[0, :])))  # the voxel axis nearest LPS x
    normal = direction[:, axis]
    size = np.asarray(moving_full.GetSize(), dtype=float)
    plane = np.asarray(moving_full.TransformContinuousIndexToPhysicalPoint(list((size - 1) / 2)))
    coarse_size = np.asarray(moving.GetSize(), dtype=float)
    own = np.asarray(moving.TransformContinuousIndexToPhysicalPoint(list((coarse_size - 1) / 2)))
    flipped = sitk.Flip(moving, [i == axis for i in range(3)], flipAboutOrigin=False)
    flipped.CopyInformation(moving)
    shift = 2.0 * float(np.dot(plane - own, normal)) * normal
    flipped.SetOrigin(tuple(float(v) for v in np.asarray(moving.GetOrigin()) + shift))
    mirror_rigid = _rigid_global(fixed, flipped, params)
    fits = (
        _local_quality(fixed, moving, [rigid]),
        _local_quality(fixed, flipped, [mirror_rigid]),
    )
    if max(fits) < params.mirrored_min_ncc:
        return None
    given = _mutual_information(fixed, moving, rigid, params)
    mirror = _mutual_information(fixed, flipped, mirror_rigid, params)
    return (mirror - given) / max(given, 1e-9)


def same_image(a: Scan, b: Scan) -> bool:
    """Whether two scans hold the same voxels on the same grid (the same scan entered twice).

    Their registration is then the identity, exactly: an optimizer started from it would only
    add noise.
    """
    ia, ib = a.image, b.image
    if (
        ia.GetSize() != ib.GetSize()
        or ia.GetSpacing() != ib.GetSpacing()
        or ia.GetOrigin() != ib.GetOrigin()
        or ia.GetDirection() != ib.GetDirection()
        or ia.GetPixelID() != ib.GetPixelID()
    ):
        return False
    return bool(np.array_equal(sitk.GetArrayViewFromImage(ia), sitk.GetArrayViewFromImage(ib)))


def index_reach(
    block: sitk.Image,
    moving: sitk.Image,
    transform: sitk.Transform,
    margin_mm: float | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Index box ``(low, high)`` of ``moving`` that ``block`` maps into through ``transform``,
    plus a margin (mm, or mm per axis of ``moving``), clipped to ``moving``."""
    size = np.asarray(block.GetSize(), dtype=float) - 1
    corners = [
        block.TransformContinuousIndexToPhysicalPoint([float(v) for v in c])
        for c in box_corners(np.zeros(3), size)
    ]
    mapped = [transform.TransformPoint(c) for c in corners]
    idx = np.array([moving.TransformPhysicalPointToContinuousIndex(m) for m in mapped])
    margin = margin_mm / np.asarray(moving.GetSpacing())
    top = np.asarray(moving.GetSize(), dtype=float) - 1
    lo = np.clip(np.floor(idx.min(axis=0) - margin), 0, top)
    hi = np.clip(np.ceil(idx.max(axis=0) + margin), 0, top)
    return lo, np.maximum(hi, lo)
