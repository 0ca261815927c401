"""Analytic shapes with exactly known volumes, and rigid patient poses.

Examples
--------
>>> e = Ellipsoid(center_mm=(0.0, 0.0, 0.0), semi_axes_mm=(10.0, 5.0, 2.0))
>>> round(e.volume_ml, 6)  # 4/3 pi a b c / 1000
0.418879
>>> e.contains(np.array([[9.9, 0.0, 0.0], [0.0, 5.1, 0.0]])).tolist()
[True, False]
>>> round(e.scaled_to_volume(0.2).volume_ml, 12)
0.2
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np


def rotation_matrix(angles_deg: tuple[float, float, float]) -> np.ndarray:
    """Rotation ``Rz @ Ry @ Rx`` from angles about x, y, z in degrees (3x3)."""
    ax, ay, az = (math.radians(a) for a in angles_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class Ellipsoid:
    """A solid ellipsoid in body coordinates (mm).

    Parameters
    ----------
    center_mm
        Centre, body coordinates, mm.
    semi_axes_mm
        Semi-axis lengths (a, b, c), mm.
    rotation_deg
        Orientation of the axes, degrees about x, y, z (see :func:`rotation_matrix`).
    """

    center_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def volume_ml(self) -> float:
        """Exact volume 4/3 pi a b c, in mL."""
        a, b, c = self.semi_axes_mm
        return 4.0 / 3.0 * math.pi * a * b * c / 1000.0

    def radius_squared(self, points_mm: np.ndarray) -> np.ndarray:
        """Each of the ``(n, 3)`` body points' normalised radius, squared: ``sum((x_i / a_i)^2)``
        in the ellipsoid's own axes (1 on its surface)."""
        rot = rotation_matrix(self.rotation_deg)
        local = (np.asarray(points_mm) - np.asarray(self.center_mm)) @ rot
        q = (local / np.asarray(self.semi_axes_mm)) ** 2
        return np.asarray(q.sum(axis=-1))

    def contains(self, points_mm: np.ndarray) -> np.ndarray:
        """Boolean array: which of the ``(n, 3)`` body points lie inside."""
        return np.asarray(self.radius_squared(points_mm) <= 1.0)

    def scaled_to_volume(self, volume_ml: float) -> Ellipsoid:
        """The same ellipsoid scaled uniformly about its centre to ``volume_ml``."""
        factor = (volume_ml / self.volume_ml) ** (1.0 / 3.0)
        a, b, c = self.semi_axes_mm
        return replace(self, semi_axes_mm=(a * factor, b * factor, c * factor))


@dataclass(frozen=True)
class RigidPose:
    """Where the patient lies in the scanner: body point ``b`` sits at ``R (b - c) + c + t`` (LPS).

    Parameters
    ----------
    rotation_deg
        Rotation about x, y, z in degrees.
    translation_mm
        Shift ``t``, mm.
    center_mm
        Centre of rotation ``c``, body coordinates, mm.
    """

    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    center_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def body_to_lps(self, points_mm: np.ndarray) -> np.ndarray:
        """Map ``(n, 3)`` body points to scanner LPS, mm."""
        r = rotation_matrix(self.rotation_deg)
        c = np.asarray(self.center_mm)
        return np.asarray((np.asarray(points_mm) - c) @ r.T + c + np.asarray(self.translation_mm))

    def lps_to_body(self, points_lps: np.ndarray) -> np.ndarray:
        """Map ``(n, 3)`` scanner LPS points back to body coordinates, mm."""
        r = rotation_matrix(self.rotation_deg)
        c = np.asarray(self.center_mm)
        return np.asarray((np.asarray(points_lps) - c - np.asarray(self.translation_mm)) @ r + c)
