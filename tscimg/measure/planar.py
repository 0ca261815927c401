"""Measuring a lesion on one 2D image (an echo frame): area, diameters and volume estimates.

A single plane cannot give a volume, only estimates that assume a shape; each is labelled:

- ``area_mm2``: pixel count x pixel area.
- ``longest_diameter_mm``: the largest distance across the outline (marching squares).
- ``perpendicular_diameter_mm``: the outline's extent perpendicular to the longest diameter.
- ``long_axis_mm``: the major axis of the ellipse with the region's second moments (robust to a
  speckled, rough border; the length the area-length formulas use).
- ``area_length_volume_ml``: single-plane area-length, ``8 A^2 / (3 pi L)`` with L the long axis
  (exact for a spheroid cut along its long axis: a solid of revolution about it).
- ``ellipsoid_volume_ml``: ``pi/6 x L x W x W`` (the unseen diameter taken equal to W).
- ``biplane_volume_ml`` (two views, :func:`biplane_volume_ml`): ``8 A1 A2 / (3 pi L)``, with L the
  mean of the two views' long axes (the views share the long axis).

Uncertainty: the outline is uncertain by a shift of ``f`` pixel along its normal,
``f = 0.3`` (:data:`PLANAR_BOUNDARY_SHIFT_FRACTION`); the area by perimeter x shift, the long
axis by twice the shift (both ends), and the area-length volume by both:
``u_V / V = sqrt((2 u_A / A)^2 + (u_L / L)^2)``. On speckled frames of known truth
(``benchmarks/echo2d_uncertainty.py``, 36 frames) the volume error is -1.6% +- 4.5% (SD) and
this ± (8.3% on average) covers 33 of them; the 3D model's boundary shift of 0.1 voxel gave
2.7% here and covered 12 (a speckled frame's border is less certain than a CT or MR voxel's).

Examples
--------
>>> import numpy as np
>>> from tscimg.core.geometry import Geometry
>>> g = Geometry((101, 101, 1), (0.2, 0.2, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
>>> j, i = np.mgrid[0:101, 0:101]
>>> disc = ((i - 50) ** 2 + (j - 50) ** 2 <= 40**2)[None]  # radius 8 mm
>>> m = measure_planar(Mask.from_array(disc.astype(np.uint8), g))
>>> round(m.area_mm2 / (np.pi * 8**2), 3)  # pixel area vs the analytic disc
1.0
>>> round(m.longest_diameter_mm, 1)  # the outline runs half a pixel outside the centres
16.2
>>> round(m.long_axis_mm, 2)  # second-moment ellipse of the digital disc
16.0
>>> round(m.area_length_volume_ml / (4 / 3 * np.pi * 8**3 / 1000), 2)  # a sphere
1.0
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from skimage import measure as skmeasure

from tscimg.core.errors import MaskError
from tscimg.core.mask import Mask, bounding_box

#: How each planar figure is obtained; carried in every output.
PLANAR_METHODS = {
    "area_mm2": "pixel count x pixel area",
    "longest_diameter_mm": "largest distance across the marching-squares outline",
    "perpendicular_diameter_mm": "outline extent perpendicular to the longest diameter",
    "long_axis_mm": "major axis of the second-moment ellipse: 4 sqrt(largest eigenvalue)",
    "area_length_volume_ml": "single-plane area-length: 8 A^2 / (3 pi L), L = long axis",
    "ellipsoid_volume_ml": "approximation: pi/6 x L x W x W (unseen diameter = W)",
    "area_uncertainty_mm2": "boundary shift of 0.3 pixel along the outline: perimeter x shift",
    "long_axis_uncertainty_mm": "the same shift at both ends of the long axis: 2 x shift",
    "volume_uncertainty_ml": "area-length volume: V x sqrt((2 u_A / A)^2 + (u_L / L)^2)",
}

#: Boundary uncertainty of a 2D outline, in pixels (calibrated on speckled echo frames of known
#: truth by benchmarks/echo2d_uncertainty.py: the ± then covers 33 of 36 volume errors).
PLANAR_BOUNDARY_SHIFT_FRACTION = 0.3


@dataclass(frozen=True)
class PlanarMeasurement:
    """The figures of one lesion on one plane."""

    pixel_count: int
    area_mm2: float
    long_axis_mm: float
    longest_diameter_mm: float
    perpendicular_diameter_mm: float
    area_length_volume_ml: float
    ellipsoid_volume_ml: float
    area_uncertainty_mm2: float
    centroid_lps: tuple[float, float, float]
    long_axis_uncertainty_mm: float = 0.0

    @property
    def area_length_uncertainty_ml(self) -> float:
        """The area-length volume's uncertainty from the area's (V grows as A^2) and the long
        axis's (V falls as 1/L), mL."""
        if self.area_mm2 <= 0 or self.long_axis_mm <= 0:
            return 0.0
        relative = math.hypot(
            2.0 * self.area_uncertainty_mm2 / self.area_mm2,
            self.long_axis_uncertainty_mm / self.long_axis_mm,
        )
        return self.area_length_volume_ml * relative

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        out = asdict(self)
        out["centroid_lps"] = list(self.centroid_lps)
        return out


def measure_planar(
    mask: Mask,
    boundary_shift_fraction: float = PLANAR_BOUNDARY_SHIFT_FRACTION,
    label: int | None = None,
) -> PlanarMeasurement:
    """Measure the lesion of a single-slice mask (all positive labels, or one ``label``).

    Raises
    ------
    MaskError
        When the mask (or the label) is empty or has more than one slice.
    """
    g = mask.geometry
    if len(g.size) == 3 and g.size[2] != 1:
        raise MaskError("planar measurement needs a single-slice (2D) mask", path=mask.source)
    values = np.asarray(mask.array_view()).reshape(g.size[1], g.size[0])
    plane = values > 0 if label is None else values == label
    box = bounding_box(plane)
    if box is None:
        what = "the mask is empty" if label is None else f"label {label} is not in the mask"
        present = ", ".join(str(v) for v in mask.labels) or "none"
        raise MaskError(f"{what} (labels present: {present})", path=mask.source)
    dx, dy = g.spacing_mm[0], g.spacing_mm[1]
    crop = np.pad(plane[box], 1)
    count = int(plane.sum())
    area = count * dx * dy
    contours = skmeasure.find_contours(crop.astype(float), 0.5)
    outline = np.concatenate(contours)
    points = np.column_stack([outline[:, 1] * dx, outline[:, 0] * dy])  # (x, y) in mm
    # the longest distance joins two corners of the outline's convex hull: its pairwise
    # distances cost what the hull costs, not the whole outline's (774 MB for a 1024 px frame)
    points = points[_hull_vertices(points)]
    diffs = points[:, None, :] - points[None, :, :]
    dist2 = (diffs**2).sum(axis=-1)
    a, b = np.unravel_index(int(np.argmax(dist2)), dist2.shape)
    longest = float(np.sqrt(dist2[a, b]))
    if longest > 0:
        axis = (points[b] - points[a]) / longest
        normal = np.array([-axis[1], axis[0]])
        across = points @ normal
        width = float(across.max() - across.min())
    else:
        width = 0.0
    # each outline (an island, a hole) closed on itself: one polyline through all of them
    # added the jumps between them (two discs 116 mm for 80)
    perimeter = sum(
        float(np.linalg.norm(np.diff(np.vstack([c, c[:1]]), axis=0) * np.array([dy, dx]),
                             axis=1).sum())
        for c in contours
    )  # fmt: skip
    shift = boundary_shift_fraction * math.sqrt(dx * dy)
    jj, ii = np.nonzero(plane)
    axis_length = _moment_long_axis_mm(ii * dx, jj * dy, dx, dy)
    area_length = 8.0 * area**2 / (3.0 * math.pi * axis_length) / 1000.0 if axis_length > 0 else 0.0
    centroid = g.index_to_lps((float(ii.mean()), float(jj.mean()), 0.0)[: len(g.size)])
    return PlanarMeasurement(
        pixel_count=count,
        area_mm2=area,
        long_axis_mm=axis_length,
        longest_diameter_mm=longest,
        perpendicular_diameter_mm=width,
        area_length_volume_ml=area_length,
        ellipsoid_volume_ml=math.pi / 6.0 * longest * width * width / 1000.0,
        area_uncertainty_mm2=perimeter * shift,
        centroid_lps=(
            float(centroid[0]),
            float(centroid[1]),
            float(centroid[2]) if len(centroid) > 2 else 0.0,
        ),
        long_axis_uncertainty_mm=2.0 * shift,
    )


def _hull_vertices(points: np.ndarray) -> np.ndarray:
    """Indices of the convex hull's corners of ``(n, 2)`` points (all of them when the hull
    is degenerate: a line, or under 3 points)."""
    if len(points) < 4:
        return np.arange(len(points))
    from scipy.spatial import ConvexHull, QhullError  # imported when measured: CLI start-up

    try:
        return np.asarray(ConvexHull(points).vertices)
    except QhullError:  # collinear points
        return np.arange(len(points))


def _moment_long_axis_mm(x_mm: np.ndarray, y_mm: np.ndarray, dx: float, dy: float) -> float:
    """Long axis of the ellipse with the region's second moments: ``4 sqrt(lambda_max)``.

    Unlike the caliper diameter it does not grow with boundary roughness (speckle), so it is
    the length the area-length formulas use; for an ellipse both are its major axis.
    """
    if x_mm.size == 0:
        return 0.0
    # one pixel: no spread of centres, only the pixel's own moment (it read a volume of 0)
    cov = np.cov(np.vstack([x_mm, y_mm])) if x_mm.size > 1 else np.zeros((2, 2))
    # a pixel is a square, not a point: add its own second moment
    cov = cov + np.diag([dx**2 / 12.0, dy**2 / 12.0])
    return float(4.0 * math.sqrt(max(np.linalg.eigvalsh(cov)[-1], 0.0)))


def biplane_volume_ml(area_1_mm2: float, area_2_mm2: float, length_mm: float) -> float:
    """Biplane area-length volume from two views sharing the long axis: ``8 A1 A2 / (3 pi L)``.

    Exact for an ellipsoid whose two views contain its long axis (semi-axes a, b and a, c):
    ``8 (pi a b)(pi a c) / (3 pi 2a) = 4/3 pi a b c``.

    Examples
    --------
    >>> a, b, c = 6.0, 4.5, 3.0
    >>> v = biplane_volume_ml(math.pi * a * b, math.pi * a * c, 2 * a)
    >>> round(v, 6) == round(4 / 3 * math.pi * a * b * c / 1000, 6)
    True
    """
    if length_mm <= 0:
        return 0.0
    return 8.0 * area_1_mm2 * area_2_mm2 / (3.0 * math.pi * length_mm) / 1000.0
