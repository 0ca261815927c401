"""Volume uncertainty from the boundary voxels.

Model (documented in docs/measurement.md): the delineated boundary is uncertain by a shift of
``f`` voxel along each boundary face's normal, ``f = 0.1`` by default. The uncertainty is the
volume of that shell over the voxelized boundary:

    volume_uncertainty = f * (number of boundary faces along each axis) * voxel volume

(a face normal to axis ``a`` moved by ``f * spacing[a]`` sweeps ``f`` voxel volumes). With
``f = 0.1`` this covers the spread between three expert annotators on the real KiTS
angiomyolipoma cases (0.51 vs SD 0.43 mL, 0.61 vs 0.28 mL, 0.18 vs 0.09 mL), where half the
boundary shell (a worst-case bound) would be 4 to 7 times the observed spread.

Examples
--------
>>> cube = np.ones((2, 2, 2), dtype=bool)  # 24 boundary faces
>>> boundary_face_count(cube)
24
>>> round(boundary_shift_volume_mm3(cube, voxel_volume_mm3=1.0, fraction=0.1), 6)
2.4
"""

from __future__ import annotations

import numpy as np


def boundary_face_count(region: np.ndarray) -> int:
    """Number of voxel faces between the region and the background (all three axes)."""
    padded = np.pad(region.astype(np.int8), 1)
    return int(sum(np.count_nonzero(np.diff(padded, axis=a)) for a in range(padded.ndim)))


def boundary_shift_volume_mm3(
    region: np.ndarray, voxel_volume_mm3: float, fraction: float
) -> float:
    """Volume swept by moving every boundary face by ``fraction`` of a voxel, mm^3."""
    return fraction * boundary_face_count(region) * voxel_volume_mm3
