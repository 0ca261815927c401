"""Turning a set of positioned 2D slices into one regular 3D volume.

Used for classic DICOM series (one file per slice) and enhanced multi-frame DICOM (one
frame per slice) alike. Slices are ordered by their position along the slice normal
(never by file name or instance number); the slice spacing comes from the positions
(never from SliceThickness). Identical duplicates are dropped; conflicting ones are an
error. A gap is an error unless resampling is allowed. Gantry tilt (slice positions that
move in-plane from slice to slice) is corrected by resampling onto an orthogonal grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from tscimg.core.errors import DicomSeriesError
from tscimg.core.geometry import MAX_VOXEL_SIZE_MM

#: Relative deviation of one slice step from the typical step that counts as irregular.
STEP_TOLERANCE_FRACTION = 0.05
#: Positions closer than this along the normal (mm) are the same slice.
SAME_POSITION_MM = 1e-3
#: In-plane drift per mm along the normal above which the stack is tilted (tan of angle).
TILT_TOLERANCE = 1e-3
#: Largest distance (mm) of a slice from the line through the stack: above the rounding of
#: positions written to one decimal (up to 0.087 mm off an oblique line), far below a second
#: stack's offset.
LINE_TOLERANCE_MM = 0.1
#: Row and column directions further than this from perpendicular (cosine) are made
#: perpendicular with a warning; closer, silently (the last digits of a header).
PERPENDICULAR_WARNING_COSINE = 1e-4
#: Largest deviation of an ImageOrientationPatient vector from unit length, and largest cosine
#: of the angle between the row and column directions (0.57 degrees from perpendicular).
ORIENTATION_TOLERANCE = 1e-2


def orientation_problem(orientation: Sequence[float]) -> str | None:
    """What is wrong with an ImageOrientationPatient (row then column direction), if anything.

    Examples
    --------
    >>> orientation_problem([1, 0, 0, 0, 1, 0]) is None
    True
    >>> print(orientation_problem([1, 0, 0, 1, 0, 0]))
    ImageOrientationPatient [1, 0, 0, 1, 0, 0]: the row and column directions are not ...
    """
    values = np.asarray(orientation, dtype=float)
    shown = "[" + ", ".join(f"{v:g}" for v in values) + "]"
    if values.shape != (6,) or not np.all(np.isfinite(values)):
        return f"ImageOrientationPatient {shown} is not 6 finite numbers"
    row, col = values[:3], values[3:]
    norms = (float(np.linalg.norm(row)), float(np.linalg.norm(col)))
    if any(abs(n - 1.0) > ORIENTATION_TOLERANCE for n in norms):
        return (
            f"ImageOrientationPatient {shown}: the directions are not unit vectors "
            f"(lengths {norms[0]:.3g} and {norms[1]:.3g})"
        )
    cosine = float(row @ col) / (norms[0] * norms[1])
    if abs(cosine) > ORIENTATION_TOLERANCE:
        return (
            f"ImageOrientationPatient {shown}: the row and column directions are not "
            f"perpendicular (cosine {cosine:.3g})"
        )
    return None


def pixel_spacing_problem(pixel_spacing: Sequence[float]) -> str | None:
    """What is wrong with a PixelSpacing (between rows, between columns, mm), if anything.

    Examples
    --------
    >>> pixel_spacing_problem([0.0, 0.0])
    'PixelSpacing [0, 0] mm: a pixel size must be above 0 and at most 50 mm'
    """
    values = np.asarray(pixel_spacing, dtype=float)
    if values.shape == (2,) and np.all(np.isfinite(values)):
        if np.all(values > 0) and np.all(values <= MAX_VOXEL_SIZE_MM):
            return None
    shown = "[" + ", ".join(f"{v:g}" for v in values) + "]"
    return (
        f"PixelSpacing {shown} mm: a pixel size must be above 0 and at most "
        f"{MAX_VOXEL_SIZE_MM:g} mm"
    )


@dataclass(frozen=True)
class PositionedSlice:
    """One 2D slice with its position (LPS mm) and a label for messages (file or frame)."""

    key: int
    position_lps: tuple[float, float, float]
    label: str


@dataclass(frozen=True)
class StackPlan:
    """How to assemble sorted slices into a regular orthogonal volume.

    Attributes
    ----------
    order
        Keys of the slices to use, sorted along the normal, duplicates removed.
    row_dir, col_dir, normal
        Unit vectors (LPS) of index axes i, j and k.
    spacing_ij_mm
        In-plane spacing along i (between columns) and j (between rows), mm.
    origin_lps
        Position of the first sorted slice's first pixel, mm.
    along_normal_mm
        Position of each kept slice along the normal, relative to the first, mm.
    in_plane_offset_mm
        For each kept slice, its offset (along i, along j) from the first slice, mm.
    step_mm
        Output slice spacing, mm.
    slice_count
        Number of output slices.
    needs_restacking
        The kept slices are not regularly spaced (resampling along the normal needed).
    tilt_deg
        Gantry tilt found from the positions (0 when none).
    warnings
        What was corrected or left out.
    """

    order: tuple[int, ...]
    row_dir: tuple[float, ...]
    col_dir: tuple[float, ...]
    normal: tuple[float, ...]
    spacing_ij_mm: tuple[float, float]
    origin_lps: tuple[float, ...]
    along_normal_mm: tuple[float, ...]
    in_plane_offset_mm: tuple[tuple[float, float], ...]
    step_mm: float
    slice_count: int
    needs_restacking: bool
    tilt_deg: float
    warnings: tuple[str, ...] = field(default=())

    @property
    def direction(self) -> tuple[float, ...]:
        """Row-major 3x3 direction matrix with columns (i, j, k) axes."""
        m = np.column_stack([self.row_dir, self.col_dir, self.normal])
        return tuple(float(v) for v in m.ravel())

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Output voxel spacing (i, j, k), mm."""
        return (self.spacing_ij_mm[0], self.spacing_ij_mm[1], self.step_mm)

    @property
    def is_tilted(self) -> bool:
        """Whether an in-plane shift per slice has to be undone."""
        return self.tilt_deg > 0.0


def orthonormal_pair(orientation: Sequence[float]) -> tuple[np.ndarray, np.ndarray, float]:
    """The nearest perpendicular unit row and column directions to an ImageOrientationPatient
    (each turned by half the deviation: the polar factor of the 3 x 2 matrix), and the cosine
    between the directions as written.

    A direction matrix that is not orthonormal is one no mask file can hold (NIfTI and ITK
    write orthonormal ones): tscimg refused its own masks on a scan 5e-4 off perpendicular.

    Examples
    --------
    >>> row, col, cosine = orthonormal_pair([1, 0, 0, 0.001, 1, 0])
    >>> round(float(row @ col), 12), round(cosine, 6)
    (0.0, 0.001)
    """
    m = np.column_stack([orientation[:3], orientation[3:6]]).astype(float)
    m /= np.linalg.norm(m, axis=0)
    cosine = float(m[:, 0] @ m[:, 1])
    u, _, vt = np.linalg.svd(m, full_matrices=False)
    polar = u @ vt
    return polar[:, 0], polar[:, 1], cosine


def plan_stack(
    slices: Sequence[PositionedSlice],
    orientation: Sequence[float],
    pixel_spacing: Sequence[float],
    source: str,
    pixels: Callable[[int], np.ndarray],
    allow_resampling: bool = False,
    single_slice_step_mm: float | None = None,
) -> StackPlan:
    """Sort slices along the normal and check duplicates, gaps and tilt.

    Parameters
    ----------
    slices
        The slices of one orientation.
    orientation
        DICOM ImageOrientationPatient: row direction then column direction (6 numbers).
    pixel_spacing
        DICOM PixelSpacing: (between rows, between columns), mm.
    source
        The folder or file, for messages.
    pixels
        Returns the pixel array of a slice key; used only to compare duplicates.
    allow_resampling
        Interpolate across gaps and irregular steps instead of raising.
    single_slice_step_mm
        Slice spacing to record when there is only one slice (e.g. SliceThickness).
    """
    for problem in (orientation_problem(orientation), pixel_spacing_problem(pixel_spacing)):
        if problem is not None:
            raise DicomSeriesError(
                problem, path=source, hint="The header is damaged: re-export the series"
            )
    non_finite = [s for s in slices if not all(math.isfinite(v) for v in s.position_lps)]
    if non_finite:
        raise DicomSeriesError(
            f"the position of {non_finite[0].label} {list(non_finite[0].position_lps)} is not "
            "finite",
            path=source,
            hint="The header is damaged: re-export the series",
        )
    row, col, cosine = orthonormal_pair(orientation)
    normal = np.cross(row, col)
    spacing_ij = (float(pixel_spacing[1]), float(pixel_spacing[0]))
    warnings: list[str] = []
    if abs(cosine) > PERPENDICULAR_WARNING_COSINE:
        off_deg = math.degrees(math.asin(min(abs(cosine), 1.0)))
        warnings.append(
            f"the row and column directions are {off_deg:.3f} "
            "degrees from perpendicular (ImageOrientationPatient): made perpendicular, each "
            "turned by half of it"
        )

    positions = np.array([s.position_lps for s in slices], dtype=float)
    z_all = positions @ normal
    order = np.argsort(z_all, kind="stable")
    kept: list[int] = []
    for idx in order:
        if kept and abs(z_all[idx] - z_all[kept[-1]]) < SAME_POSITION_MM:
            prev = kept[-1]
            same = np.array_equal(pixels(slices[prev].key), pixels(slices[idx].key))
            if not same:
                raise DicomSeriesError(
                    f"{slices[prev].label} and {slices[idx].label} are at the same position "
                    f"({z_all[idx]:.3f} mm along the slice normal) but hold different pixels",
                    path=source,
                    hint="The folder mixes acquisitions (echoes, phases or a repeat): "
                    "export one of them, or remove the extra files",
                )
            warnings.append(
                f"duplicate slice {slices[idx].label} removed (identical to {slices[prev].label})"
            )
            continue
        kept.append(int(idx))

    pos = positions[kept]
    z = pos @ normal - float(pos[0] @ normal)
    rel = pos - pos[0]
    u = rel @ row
    v = rel @ col
    n = len(kept)
    tilt_deg = 0.0
    if n == 1:
        step = float(single_slice_step_mm or 1.0)
        return StackPlan(
            order=tuple(slices[i].key for i in kept),
            row_dir=tuple(row),
            col_dir=tuple(col),
            normal=tuple(normal),
            spacing_ij_mm=spacing_ij,
            origin_lps=tuple(pos[0]),
            along_normal_mm=(0.0,),
            in_plane_offset_mm=((0.0, 0.0),),
            step_mm=step,
            slice_count=1,
            needs_restacking=False,
            tilt_deg=0.0,
            warnings=tuple(warnings),
        )

    # Slices must lie on a line: in-plane offset proportional to the normal position.
    slope_u = float(np.dot(u, z) / np.dot(z, z))
    slope_v = float(np.dot(v, z) / np.dot(z, z))
    off_line = np.hypot(u - slope_u * z, v - slope_v * z)
    if off_line.max() > LINE_TOLERANCE_MM:
        bad = int(np.argmax(off_line))
        raise DicomSeriesError(
            f"slice positions do not lie on one line: {slices[kept[bad]].label} is "
            f"{off_line[bad]:.2f} mm off it",
            path=source,
            hint="The folder may mix several stacks of the same orientation; export one stack",
        )
    drift = math.hypot(slope_u, slope_v)
    # a tilt moves the last slice in-plane by drift x the stack's length; under the rounding
    # of positions written to one decimal (LINE_TOLERANCE_MM) it is that rounding, not a tilt
    if drift > TILT_TOLERANCE and drift * float(np.ptp(z)) > LINE_TOLERANCE_MM:
        tilt_deg = math.degrees(math.atan(drift))
        warnings.append(
            f"gantry tilt of {tilt_deg:.2f} degrees found from slice positions; "
            "resampled onto an orthogonal grid"
        )

    steps = np.diff(z)
    typical = float(np.median(steps))
    deviation = np.abs(steps - typical)
    irregular = bool(deviation.max() > max(STEP_TOLERANCE_FRACTION * typical, 0.01))
    if irregular:
        # positions written to one decimal on an oblique stack are off by up to 0.087 mm each,
        # and a step by twice that: irregular only where a slice lies off the regular grid by
        # more than that rounding (at most a quarter step; a missing slice moves the rest by a
        # whole one)
        index = np.arange(n, dtype=float)
        fitted = np.polyval(np.polyfit(index, z, 1), index)
        allowance = max(0.5 * STEP_TOLERANCE_FRACTION * typical,
                        min(LINE_TOLERANCE_MM, 0.25 * typical))  # fmt: skip
        irregular = bool(np.abs(z - fitted).max() > allowance)
    if irregular:
        worst = int(np.argmax(deviation))
        a, b = slices[kept[worst]], slices[kept[worst + 1]]
        missing = round(steps[worst] / typical) - 1
        what = (
            f"{missing} slice{'s' if missing != 1 else ''} missing"
            if missing >= 1
            else "irregular slice spacing"
        )
        where = (
            f"between {a.label} ({z[worst]:.2f} mm) and {b.label} ({z[worst + 1]:.2f} mm) "
            f"the step is {steps[worst]:.3f} mm where the series steps {typical:.3f} mm"
        )
        if not allow_resampling:
            raise DicomSeriesError(
                f"gap in the series ({what}): {where}",
                path=source,
                hint="Re-export the complete series, or allow resampling "
                "(--allow-resampling / allow_resampling=True) to interpolate across it",
            )
        warnings.append(f"{what}: {where}; interpolated onto a regular {typical:.3f} mm grid")
        count = round(float(z[-1]) / typical) + 1
        step = float(z[-1]) / (count - 1)
    else:
        count = n
        step = float(z[-1]) / (n - 1)

    return StackPlan(
        order=tuple(slices[i].key for i in kept),
        row_dir=tuple(float(x) for x in row),
        col_dir=tuple(float(x) for x in col),
        normal=tuple(float(x) for x in normal),
        spacing_ij_mm=spacing_ij,
        origin_lps=tuple(float(x) for x in pos[0]),
        along_normal_mm=tuple(float(x) for x in z),
        in_plane_offset_mm=tuple((float(a), float(b)) for a, b in zip(u, v, strict=True)),
        step_mm=step,
        slice_count=int(count),
        needs_restacking=irregular,
        tilt_deg=tilt_deg,
        warnings=tuple(warnings),
    )


def assemble(stack: np.ndarray, plan: StackPlan) -> np.ndarray:
    """Resample sorted slices ``[n, rows, cols]`` onto the plan's regular orthogonal grid.

    Returns an array ``[k, j, i]``. With no tilt and no gap the input is returned as is.
    Resampled integer data is rounded back to its type; the fill value is the minimum.
    """
    if not plan.is_tilted and not plan.needs_restacking:
        return stack
    dtype = stack.dtype
    work = stack.astype(np.float32)
    fill = float(work.min())
    if plan.is_tilted:
        sx, sy = plan.spacing_ij_mm
        for m, (du, dv) in enumerate(plan.in_plane_offset_mm):
            # output (i, j) of slice m lies at its source pixel (i - du / sx, j - dv / sy)
            work[m] = ndimage.shift(work[m], (dv / sy, du / sx), order=1, cval=fill)
    if plan.needs_restacking:
        z = np.asarray(plan.along_normal_mm)
        targets = np.arange(plan.slice_count) * plan.step_mm
        upper = np.clip(np.searchsorted(z, targets, side="right"), 1, len(z) - 1)
        lower = upper - 1
        frac = ((targets - z[lower]) / (z[upper] - z[lower])).astype(np.float32)
        frac = np.clip(frac, 0.0, 1.0)[:, None, None]
        work = work[lower] * (1 - frac) + work[upper] * frac
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(work), info.min, info.max).astype(dtype)
    return work.astype(dtype)
