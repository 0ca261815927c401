"""Rendering layered shapes onto a scan grid with partial-volume effects, blur and noise."""

from __future__ import annotations

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
    k, j, i = np.meshgrid(*(np.arange(n) for n in geometry.size[::-1]), indexing="ij")
    idx = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(float) + np.asarray(offset)
    m = geometry.index_to_lps_matrix
    return np.asarray(idx @ m[:3, :3].T + m[:3, 3])


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
    thickness); values mix in layer order.
    """
    offsets = [(np.arange(n) + 0.5) / n - 0.5 for n in samples_per_axis]
    centres_body = pose.lps_to_body(voxel_centres_lps(geometry))
    occupancy = np.zeros((len(layers), len(centres_body)))
    for di in offsets[0]:
        for dj in offsets[1]:
            for dk in offsets[2]:
                body = pose.lps_to_body(voxel_centres_lps(geometry, (di, dj, dk)))
                for n, layer in enumerate(layers):
                    occupancy[n] += layer.contains(body)
    occupancy /= np.prod(samples_per_axis)
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
