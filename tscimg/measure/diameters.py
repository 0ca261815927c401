"""Lesion diameters: maximum 3D, longest on an acquisition slice, and orthogonal triplets.

Examples
--------
>>> pts = np.array([[0, 0, 0], [10, 0, 0], [5, 3, 0], [5, -3, 0], [5, 0, 2], [5, 0, -2.0]])
>>> round(max_distance(pts), 6)
10.0
>>> [round(d, 6) for d in orthogonal_diameters(pts)]
[10.0, 6.0, 4.0]
"""

from __future__ import annotations

import numpy as np
from skimage import measure as skmeasure

from tscimg.core.geometry import Geometry


def _hull_points(points: np.ndarray) -> np.ndarray:
    """The convex-hull vertices (the only candidates for a largest distance)."""
    from scipy.spatial import ConvexHull, QhullError  # imported when measured: CLI start-up

    if len(points) <= 4:
        return points
    try:
        return points[ConvexHull(points).vertices]
    except QhullError:  # flat or degenerate point sets: keep them all
        return points


def _farthest_pair(points: np.ndarray) -> tuple[float, np.ndarray]:
    """Largest distance between points and the unit vector joining that pair."""
    hull = _hull_points(points)
    if len(hull) < 2:
        return 0.0, np.array([1.0, 0.0, 0.0])[: points.shape[1]]
    best, pair = 0.0, (0, 1)
    for start in range(0, len(hull), 2048):  # bounded memory for very large hulls
        block = hull[start : start + 2048]
        d2 = ((block[:, None, :] - hull[None, :, :]) ** 2).sum(axis=-1)
        a, b = np.unravel_index(int(np.argmax(d2)), d2.shape)
        if d2[a, b] > best**2:
            best, pair = float(np.sqrt(d2[a, b])), (start + int(a), int(b))
    vector = hull[pair[1]] - hull[pair[0]]
    norm = np.linalg.norm(vector)
    return best, vector / norm if norm > 0 else vector


def max_distance(points: np.ndarray) -> float:
    """Largest Euclidean distance between any two of the ``(n, d)`` points."""
    from scipy.spatial.distance import pdist

    hull = _hull_points(points)
    return float(pdist(hull).max()) if len(hull) >= 2 else 0.0


def orthogonal_diameters(points: np.ndarray) -> tuple[float, float, float]:
    """Longest diameter, the longest perpendicular to it, and the extent perpendicular to both.

    For an ellipsoid with semi-axes a >= b >= c this gives (2a, 2b, 2c).
    """
    d1, u1 = _farthest_pair(points)
    # project onto the plane perpendicular to u1, in a 2D basis of that plane
    helper = np.eye(3)[int(np.argmin(np.abs(u1)))]
    e1 = np.cross(u1, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u1, e1)
    plane = np.column_stack([points @ e1, points @ e2])
    d2, v2 = _farthest_pair(plane)
    u2 = v2[0] * e1 + v2[1] * e2
    u3 = np.cross(u1, u2)
    extent = points @ u3
    d3 = float(extent.max() - extent.min()) if len(points) else 0.0
    return d1, d2, d3


def axial_longest_diameter(region: np.ndarray, geometry: Geometry) -> float:
    """Longest in-plane diameter on any acquisition slice (constant k), mm.

    Each slice's cross-section is outlined by marching squares at 0.5 (the same boundary as
    the 3D mesh), and the largest distance between outline points is measured in mm, as a
    reader does with a ruler on the slice the scan was acquired in.
    """
    si, sj = geometry.spacing_mm[0], geometry.spacing_mm[1]
    best = 0.0
    for k in range(region.shape[0]):
        section = region[k]
        if not section.any():
            continue
        contours = skmeasure.find_contours(np.pad(section.astype(np.float32), 1), 0.5)
        pts = np.concatenate(contours) if contours else np.empty((0, 2))
        if len(pts) >= 2:
            best = max(best, max_distance(pts[:, ::-1] * np.array([si, sj])))
    return best
