"""Rendering layered shapes onto a scan grid with partial-volume effects, blur and noise."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tscimg.core.geometry import Geometry
from tscimg.synthetic.shapes import Ellipsoid, RigidPose

#: A tissue value: a constant, or a function of ``(n, 3)`` body points (mm) giving values.
TissueValue = float | Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Layer:
    """One tissue: a shape filled with a value; later layers lie on top of earlier ones.

    ``hollow`` (optional) is carved out of ``shape`` (a cavity inside a wall).
    """

    shape: Ellipsoid
    value: TissueValue
    hollow: Ellipsoid | None = None

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which body points lie in the tissue."""
        inside = self.shape.contains(points)
        if self.hollow is not None:
            inside &= ~self.hollow.contains(points)
        return inside

    def values(self, points: np.ndarray) -> np.ndarray:
        """The tissue's value at body points."""
        if callable(self.value):
            return np.asarray(self.value(points), dtype=float)
        return np.full(len(points), float(self.value))


def voxel_centres_lps(geometry: Geometry, offset: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """LPS positions ``(n, 3)`` of every voxel (plus an index offset), in ``[k, j, i]`` order."""
    return _voxel_points_lps(geometry, np.arange(int(np.prod(geometry.size))), offset)


def _voxel_points_lps(geometry: Geometry, rows: np.ndarray, offset: Sequence[float]) -> np.ndarray:
    """:func:`voxel_centres_lps` of the voxels at flat ``rows`` (``[k, j, i]`` order) only."""
    k, j, i = np.unravel_index(rows, geometry.size[::-1])
    idx = np.stack([i, j, k], axis=1).astype(float) + np.asarray(offset)
    m = geometry.index_to_lps_matrix
    return np.asarray(idx @ m[:3, :3].T + m[:3, 3])


def _settled(
    shape: Ellipsoid, points: np.ndarray, reach_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Which body points are inside ``shape``, and which are farther than ``reach_mm`` from its
    surface (every point within ``reach_mm`` of them lies on the same side).

    A point at normalised radius ``r`` (``q = r^2``) lies on the ellipsoid scaled by ``r``;
    the ellipsoid holds that scaled copy grown by ``(1 - r) a_min`` (convexity), and the copy
    scaled by ``r > 1`` holds the ellipsoid grown by ``(r - 1) a_min``: so a point is at least
    ``|1 - r| a_min`` from the surface.
    """
    q = shape.radius_squared(points)
    gap_mm = np.abs(1.0 - np.sqrt(q)) * min(shape.semi_axes_mm)
    return q <= 1.0, gap_mm > reach_mm


def render(
    geometry: Geometry,
    pose: RigidPose,
    background: float,
    layers: Sequence[Layer],
    samples_per_axis: tuple[int, int, int] = (2, 2, 3),
) -> np.ndarray:
    """Render layers onto ``geometry`` as a float array ``[k, j, i]`` with partial volume.

    Each voxel's occupancy by each layer is the fraction of ``samples_per_axis`` sub-voxel
    points inside it (a voxel integrates over its whole extent, including the slice
    thickness); values mix in layer order. Sub-voxel points are evaluated only in voxels whose
    centre lies within reach of a layer's surface (the farthest sub-voxel point from its
    voxel's centre, plus 1%): every other voxel is wholly inside or outside it, so its
    occupancy is 1 or 0 either way. The result is the array that sampling every voxel gives,
    in a fraction of the time, except where a sub-voxel point lies within rounding error of a
    surface (the points of the voxels near it come from a smaller matrix product, which can
    round the last bit differently).
    """
    offsets = [(np.arange(n) + 0.5) / n - 0.5 for n in samples_per_axis]
    centres_body = pose.lps_to_body(voxel_centres_lps(geometry))
    samples = int(np.prod(samples_per_axis))
    # the farthest sub-voxel point from its voxel's centre, mm, through the grid's own
    # index-to-LPS matrix (any direction, sheared too); rigid poses keep lengths
    steps = np.array(list(itertools.product(*offsets))) @ geometry.index_to_lps_matrix[:3, :3].T
    reach_mm = float(np.linalg.norm(steps, axis=1).max()) * 1.01 + 1e-6
    occupancy = np.zeros((len(layers), len(centres_body)))
    for n, layer in enumerate(layers):
        inside, settled = _settled(layer.shape, centres_body, reach_mm)
        if layer.hollow is not None:
            in_hollow, hollow_settled = _settled(layer.hollow, centres_body, reach_mm)
            inside &= ~in_hollow
            settled &= hollow_settled
        occupancy[n][settled & inside] = 1.0
        rows = np.flatnonzero(~settled)
        if rows.size == 0:
            continue
        count = np.zeros(rows.size)
        for di in offsets[0]:
            for dj in offsets[1]:
                for dk in offsets[2]:
                    body = pose.lps_to_body(_voxel_points_lps(geometry, rows, (di, dj, dk)))
                    count += layer.contains(body)
        occupancy[n][rows] = count / samples
    value = np.full(len(centres_body), float(background))
    for n, layer in enumerate(layers):
        touched = occupancy[n] > 0
        if touched.any():
            v = layer.values(centres_body[touched])
            value[touched] = (
                value[touched] * (1 - occupancy[n][touched]) + v * occupancy[n][touched]
            )
    return value.reshape(geometry.size[::-1])


def blur_mm(volume: np.ndarray, geometry: Geometry, sigma_mm: float) -> np.ndarray:
    """Gaussian blur with a physical width (the scanner's point-spread function)."""
    sigma_vox = [sigma_mm / s for s in geometry.spacing_mm[::-1]]
    return np.asarray(ndimage.gaussian_filter(volume, sigma_vox))
