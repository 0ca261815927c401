"""Physical image geometry in LPS, and checks that two grids are the same.

Conventions (DESIGN.md section 3): coordinates are millimetres in LPS (the DICOM
patient system, which is also ITK's); voxel indices are ``(i, j, k)``, 0-based, ITK
order; numpy arrays from SimpleITK are indexed ``[k, j, i]``.

Examples
--------
>>> g = Geometry(size=(10, 10, 5), spacing_mm=(0.5, 0.5, 2.0), origin_lps=(10.0, 0.0, -4.0),
...              direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
>>> g.index_to_lps((2, 0, 1))
(11.0, 0.0, -2.0)
>>> g.lps_to_index((11.0, 0.0, -2.0))
(2.0, 0.0, 1.0)
>>> g.voxel_volume_mm3
0.5
>>> ras_to_lps((1.0, 2.0, 3.0))
(-1.0, -2.0, 3.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from tscimg.core.errors import GeometryMismatchError, ImageReadError, InputError

#: Default tolerance for positions and spacings when two grids must coincide, in mm.
GRID_TOLERANCE_MM = 1e-3
#: Default tolerance for direction cosines when two grids must coincide (unitless).
DIRECTION_TOLERANCE = 1e-4
#: Largest voxel size accepted, in mm: no CT, MR or echo volume samples coarser than this, so a
#: larger value is a damaged header (a volume of 10^27 mL is not a measurement).
MAX_VOXEL_SIZE_MM = 50.0
#: Smallest voxel size accepted, in mm: clinical CT, MR and echo resolve 0.1 mm at best, so a
#: smaller value is a unit error (a NIfTI in metres read as mm: 0.0008) or a damaged header;
#: at 0.001 mm a 3 mm clean-up ball alone asked for 60 GB.
MIN_VOXEL_SIZE_MM = 0.01
#: Largest deviation of direction cosines from an orthonormal matrix accepted when loading.
ORTHONORMAL_TOLERANCE = 1e-3
#: Largest distance of an origin from the scanner's isocentre accepted, in mm (10 m).
MAX_ORIGIN_MM = 1e4


def box_corners(
    low: Sequence[float] | np.ndarray, high: Sequence[float] | np.ndarray
) -> np.ndarray:
    """The 8 corners ``(8, 3)`` of the axis-aligned box from ``low`` to ``high``.

    Examples
    --------
    >>> box_corners((0, 0, 0), (1, 2, 3))[[0, 7]].tolist()
    [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]
    """
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return np.array(
        [(x, y, z) for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )


def ras_to_lps(point_ras: Sequence[float]) -> tuple[float, float, float]:
    """Convert a point from RAS (NIfTI, Slicer's display) to LPS (DICOM, ITK) in mm.

    Raises
    ------
    InputError
        When the point does not have 3 coordinates.
    """
    coordinates = [float(v) for v in point_ras]
    if len(coordinates) != 3:
        raise InputError(
            f"a point {tuple(point_ras)} has {len(coordinates)} coordinates, not 3",
            hint="Give (x, y, z) in mm",
        )
    x, y, z = coordinates
    return (-x, -y, z)


lps_to_ras = ras_to_lps  # the conversion is its own inverse


@dataclass(frozen=True)
class Geometry:
    """The grid of an image: where each voxel sits in the patient, in mm (LPS).

    Parameters
    ----------
    size
        Number of voxels along ``(i, j, k)``.
    spacing_mm
        Voxel spacing along ``(i, j, k)`` in mm.
    origin_lps
        Physical position of the centre of voxel ``(0, 0, 0)``, LPS, in mm.
    direction
        Direction cosines, row-major ``dim x dim``: column ``n`` is the LPS
        direction of index axis ``n`` (SimpleITK's convention).
    """

    size: tuple[int, ...]
    spacing_mm: tuple[float, ...]
    origin_lps: tuple[float, ...]
    direction: tuple[float, ...]

    def __post_init__(self) -> None:
        # hand-built grids (lists, numpy values) are stored as tuples of int / float, so they
        # compare equal to, and hash like, the grid SimpleITK reports for the same image
        for name, kind in (
            ("size", int),
            ("spacing_mm", float),
            ("origin_lps", float),
            ("direction", float),
        ):
            value = getattr(self, name)
            if isinstance(value, tuple) and all(type(v) is kind for v in value):
                continue
            try:
                normalized = tuple(kind(v) for v in value)
            except (TypeError, ValueError) as exc:
                raise InputError(
                    f"Geometry {name} must be a sequence of numbers, got {value!r}",
                    hint="Give size as (ni, nj, nk) and spacing_mm, origin_lps as 3 numbers each",
                ) from exc
            object.__setattr__(self, name, normalized)
        d = len(self.size)
        if d not in (2, 3) or len(self.spacing_mm) != d or len(self.origin_lps) != d:
            raise InputError(
                f"Geometry needs 2 or 3 axes with one spacing and one origin coordinate each, "
                f"got size {list(self.size)}, spacing_mm {list(self.spacing_mm)}, origin_lps "
                f"{list(self.origin_lps)}",
                hint="Give (i, j, k) values: size (ni, nj, nk), spacing_mm and origin_lps of 3",
            )
        if len(self.direction) != d * d:
            raise InputError(
                f"Geometry direction needs {d * d} numbers (row-major {d} x {d} cosines), "
                f"got {len(self.direction)}",
                hint="Give the identity (1, 0, 0, 0, 1, 0, 0, 0, 1) for an axis-aligned grid",
            )

    @classmethod
    def of(cls, image: sitk.Image) -> Geometry:
        """Read the geometry of a SimpleITK image."""
        return cls(
            size=tuple(int(v) for v in image.GetSize()),
            spacing_mm=tuple(float(v) for v in image.GetSpacing()),
            origin_lps=tuple(float(v) for v in image.GetOrigin()),
            direction=tuple(float(v) for v in image.GetDirection()),
        )

    @classmethod
    def of_grid(cls, grid: object, what: str = "grid") -> Geometry:
        """The geometry of ``grid``: a :class:`Geometry`, a SimpleITK image, or an object
        carrying one as ``.geometry`` (a :class:`~tscimg.Scan` or :class:`~tscimg.Mask`).

        Raises
        ------
        InputError
            Naming ``what`` and the type given, for anything else.

        Examples
        --------
        >>> Geometry.of_grid(sitk.Image(4, 3, 2, sitk.sitkUInt8)).size
        (4, 3, 2)
        """
        if isinstance(grid, Geometry):
            return grid
        if isinstance(grid, sitk.Image):
            return cls.of(grid)
        geometry = getattr(grid, "geometry", None)
        if isinstance(geometry, Geometry):
            return geometry
        raise InputError(
            f"{what} must be a Geometry, a Scan, a Mask or a SimpleITK.Image, got "
            f"{type(grid).__name__}",
            hint="Pass scan.geometry (the grid of the scan the mask belongs to)",
        )

    @property
    def dimension(self) -> int:
        """Number of spatial dimensions (2 or 3)."""
        return len(self.size)

    @property
    def is_planar(self) -> bool:
        """A 2D grid, or a 3D grid one slice thick (an echo frame): measured by area.

        Examples
        --------
        >>> Geometry((64, 48, 1), (0.3, 0.3, 1.0), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1)).is_planar
        True
        """
        return self.dimension == 2 or self.size[2] == 1

    @property
    def direction_matrix(self) -> np.ndarray:
        """Direction cosines as a ``(dim, dim)`` array; column ``n`` is axis ``n``."""
        return np.asarray(self.direction, dtype=float).reshape(self.dimension, self.dimension)

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm^3 (area in mm^2 for a 2D grid)."""
        return float(np.prod(self.spacing_mm))

    @property
    def index_to_lps_matrix(self) -> np.ndarray:
        """``(dim + 1, dim + 1)`` homogeneous matrix mapping ``(i, j, k, 1)`` to LPS mm."""
        d = self.dimension
        m = np.eye(d + 1)
        m[:d, :d] = self.direction_matrix @ np.diag(self.spacing_mm)
        m[:d, d] = self.origin_lps
        return m

    def _point(self, values: Sequence[float], what: str) -> np.ndarray:
        """``values`` as a float array of this grid's dimension, or an :class:`InputError`."""
        point = np.asarray(values, dtype=float)
        if point.shape != (self.dimension,):
            raise InputError(
                f"{what} {values!r} does not have {self.dimension} coordinates",
                hint="Give (i, j, k) voxel indices or (x, y, z) mm for a 3D grid",
            )
        return point

    def index_to_lps(self, index: Sequence[float]) -> tuple[float, ...]:
        """Physical LPS position (mm) of a (possibly fractional) voxel index ``(i, j, k)``.

        Raises
        ------
        InputError
            When ``index`` does not have one coordinate per axis.
        """
        idx = self._point(index, "voxel index")
        p = self.direction_matrix @ (idx * np.asarray(self.spacing_mm)) + np.asarray(
            self.origin_lps
        )
        return tuple(float(v) for v in p)

    def lps_to_index(self, point_lps: Sequence[float]) -> tuple[float, ...]:
        """Continuous voxel index ``(i, j, k)`` of a physical LPS point (mm).

        Raises
        ------
        InputError
            When ``point_lps`` does not have one coordinate per axis.
        """
        offset = self._point(point_lps, "LPS point") - np.asarray(self.origin_lps)
        idx = (self.direction_matrix.T @ offset) / np.asarray(self.spacing_mm)
        return tuple(float(v) for v in idx)

    def contains_index(self, index: Sequence[float]) -> bool:
        """Whether a voxel index lies inside the grid (centres from 0 to size - 1)."""
        self._point(index, "voxel index")
        return all(-0.5 <= float(v) < n - 0.5 for v, n in zip(index, self.size, strict=True))

    def apply_to(self, image: sitk.Image, copy: bool = True) -> sitk.Image:
        """``image`` carrying this geometry (sizes must agree).

        A copy unless ``copy=False``, which stamps the geometry onto ``image`` itself: only for
        an image the caller has just created and nobody else holds.
        """
        if tuple(image.GetSize()) != self.size:
            raise ValueError(f"image size {image.GetSize()} does not match grid size {self.size}")
        out = sitk.Image(image) if copy else image
        out.SetSpacing(self.spacing_mm)
        out.SetOrigin(self.origin_lps)
        out.SetDirection(self.direction)
        return out

    def differences(
        self,
        other: Geometry,
        tolerance_mm: float = GRID_TOLERANCE_MM,
        direction_tolerance: float = DIRECTION_TOLERANCE,
    ) -> list[str]:
        """Describe how ``other`` differs from this grid beyond the tolerances (empty if same).

        ``other`` may also be a Scan, Mask or SimpleITK image (:meth:`of_grid`).
        """
        other = Geometry.of_grid(other, "other")
        out: list[str] = []
        if self.size != other.size:
            out.append(f"size {list(self.size)} vs {list(other.size)}")
            return out
        dsp = np.max(np.abs(np.subtract(self.spacing_mm, other.spacing_mm)))
        if dsp > tolerance_mm:
            out.append(f"spacing differs by {dsp:.4g} mm")
        dor = np.max(np.abs(np.subtract(self.origin_lps, other.origin_lps)))
        if dor > tolerance_mm:
            out.append(f"origin differs by {dor:.4g} mm")
        ddi = np.max(np.abs(np.subtract(self.direction, other.direction)))
        if ddi > direction_tolerance:
            out.append(f"direction cosines differ by {ddi:.4g}")
        return out

    def axis_order_of(
        self, other: Geometry, tolerance_mm: float = GRID_TOLERANCE_MM
    ) -> tuple[tuple[int, ...], tuple[bool, ...]] | None:
        """How ``other`` orders this grid's voxels, when it holds the very same voxels.

        Two grids hold the same voxels when every voxel centre of one is a voxel centre of the
        other (within ``tolerance_mm``) and the two cover the same box: the same image stored
        with its axes in another order or reversed (a label map saved RAS-first by nibabel for
        a scan read LPS-first from DICOM, or transposed by another tool).

        Returns
        -------
        (axes, flipped) or None
            ``axes[n]``: the axis of ``other`` that runs along this grid's axis ``n``;
            ``flipped[n]``: whether it runs the other way. ``None`` when the voxels differ
            (another spacing, an offset, an oblique or partial overlap) or the grids differ in
            dimension.

        Examples
        --------
        >>> scan = Geometry((4, 3, 2), (1.0, 1.0, 2.0), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
        >>> ras = Geometry((4, 2, 3), (1.0, 2.0, 1.0), (3, 0, 0), (-1, 0, 0, 0, 0, 1, 0, 1, 0))
        >>> scan.axis_order_of(ras)
        ((0, 2, 1), (True, False, False))
        >>> scan.axis_order_of(scan)
        ((0, 1, 2), (False, False, False))
        """
        other = Geometry.of_grid(other, "other")
        d = self.dimension
        if other.dimension != d:
            return None
        # this grid's index -> the other grid's index (an affine map)
        to_other = np.linalg.inv(other.index_to_lps_matrix) @ self.index_to_lps_matrix
        linear, shift = to_other[:d, :d], to_other[:d, d]
        signs = np.rint(linear)
        step_mm = np.asarray(other.spacing_mm, dtype=float)
        tolerance = tolerance_mm / float(step_mm.min())
        ones = np.abs(signs)
        if np.abs(linear - signs).max() > tolerance or not (
            np.all(ones.sum(0) == 1) and np.all(ones.sum(1) == 1)  # a signed permutation
        ):
            return None
        axes = tuple(int(np.argmax(ones[:, n])) for n in range(d))
        flipped = tuple(bool(signs[axes[n], n] < 0) for n in range(d))
        last = linear @ (np.asarray(self.size, dtype=float) - 1) + shift
        low, high = np.minimum(shift, last), np.maximum(shift, last)
        top = np.asarray(other.size, dtype=float) - 1
        if np.abs(low).max() > tolerance or np.abs(high - top).max() > tolerance:
            return None
        return axes, flipped

    def require_same(
        self,
        other: Geometry,
        this_name: str,
        other_name: str,
        tolerance_mm: float = GRID_TOLERANCE_MM,
        direction_tolerance: float = DIRECTION_TOLERANCE,
    ) -> None:
        """Raise :class:`GeometryMismatchError` naming both grids unless they coincide.

        Examples
        --------
        >>> a = Geometry((4, 4, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
        >>> b = Geometry((4, 4, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 2.5), (1, 0, 0, 0, 1, 0, 0, 0, 1))
        >>> a.require_same(b, "scan.nii.gz", "mask.nii.gz")
        Traceback (most recent call last):
        ...
        tscimg.core.errors.GeometryMismatchError: mask.nii.gz: its grid does not match ...
        """
        other = Geometry.of_grid(other, "other")
        diff = self.differences(other, tolerance_mm, direction_tolerance)
        if diff:
            raise GeometryMismatchError(
                f"its grid does not match {this_name} ({'; '.join(diff)}); "
                f"{this_name} has {self.describe()}, {other_name} has {other.describe()}",
                path=other_name,
                hint="Use the mask drawn on this scan, or resample it onto the scan's grid "
                "with nearest-neighbour interpolation first",
            )

    def implausibilities(self) -> list[str]:
        """What makes this grid impossible for a scan (empty when it is plausible).

        A voxel size must be finite, at least :data:`MIN_VOXEL_SIZE_MM` and at most
        :data:`MAX_VOXEL_SIZE_MM`; the origin
        finite and within :data:`MAX_ORIGIN_MM` of the isocentre; the direction cosines finite
        and orthonormal (within :data:`ORTHONORMAL_TOLERANCE`); every size at least 1.

        Examples
        --------
        >>> grid = Geometry((4, 4, 4), (1.0, 0.0, 1e30), (0.0, 0.0, float("nan")),
        ...                 (1, 0, 0, 0, 1, 0, 0, 0, 1))
        >>> for problem in grid.implausibilities():
        ...     print(problem)
        voxel size 0 mm along j
        voxel size 1e+30 mm along k (at most 50 mm)
        origin [0, 0, nan] mm is not finite
        """
        out: list[str] = []
        if any(n < 1 for n in self.size):
            out.append(f"size {list(self.size)} has an empty axis")
        for axis, value in zip("ijk", self.spacing_mm, strict=False):
            if not math.isfinite(value):
                out.append(f"voxel size {value} along {axis} is not a number")
            elif value <= 0:
                out.append(f"voxel size {value:g} mm along {axis}")
            elif value < MIN_VOXEL_SIZE_MM:
                out.append(
                    f"voxel size {value:.4g} mm along {axis} (at least {MIN_VOXEL_SIZE_MM:g} mm: "
                    "a unit error?)"
                )
            elif value > MAX_VOXEL_SIZE_MM:
                out.append(
                    f"voxel size {value:.4g} mm along {axis} (at most {MAX_VOXEL_SIZE_MM:g} mm)"
                )
        origin = np.asarray(self.origin_lps, dtype=float)
        if not np.all(np.isfinite(origin)):
            out.append(f"origin [{', '.join(f'{v:g}' for v in origin)}] mm is not finite")
        elif np.abs(origin).max() > MAX_ORIGIN_MM:
            out.append(
                f"origin [{', '.join(f'{v:.4g}' for v in origin)}] mm lies more than "
                f"{MAX_ORIGIN_MM / 1000:g} m from the isocentre"
            )
        d = np.asarray(self.direction, dtype=float)
        if d.size != self.dimension**2 or not np.all(np.isfinite(d)):
            out.append("direction cosines are not finite")
        else:
            m = d.reshape(self.dimension, self.dimension)
            error = float(np.abs(m.T @ m - np.eye(self.dimension)).max())
            if error > ORTHONORMAL_TOLERANCE:
                out.append(
                    f"direction cosines are not orthonormal (deviation {error:.2g}: axes "
                    "parallel, not perpendicular or not of unit length)"
                )
        return out

    def require_plausible(self, source: str | None) -> None:
        """Raise :class:`ImageReadError` naming ``source`` when :meth:`implausibilities` finds any.

        Examples
        --------
        >>> Geometry((4, 4, 4), (1.0, 1.0, 0.0), (0.0, 0.0, 0.0),
        ...          (1, 0, 0, 0, 1, 0, 0, 0, 1)).require_plausible("ct.nrrd")
        Traceback (most recent call last):
        ...
        tscimg.core.errors.ImageReadError: ct.nrrd: implausible geometry (voxel size 0 mm ...
        """
        problems = self.implausibilities()
        if problems:
            raise ImageReadError(
                f"implausible geometry ({'; '.join(problems)})",
                path=source,
                hint="The header is damaged or was written wrongly: re-export or re-convert the "
                "image (for DICOM, e.g. with dcm2niix)",
            )

    def describe(self) -> str:
        """One-line human description of the grid."""

        def fmt(values: Sequence[float], digits: int = 4) -> str:
            return "[" + ", ".join(f"{v:.{digits}g}" for v in values) + "]"

        return (
            f"size {list(self.size)}, spacing {fmt(self.spacing_mm)} mm, "
            f"origin {fmt(self.origin_lps, 6)} mm LPS, direction {fmt(self.direction, 4)}"
        )
