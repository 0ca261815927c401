"""The lesion surface: a marching-cubes mesh in physical space, its volume and area."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage import measure as skmeasure

from tscimg.core.geometry import Geometry


@dataclass(frozen=True)
class SurfaceMesh:
    """A closed triangle mesh of a binary region, in LPS mm.

    Attributes
    ----------
    vertices_lps
        ``(n, 3)`` vertex positions, LPS, mm.
    faces
        ``(m, 3)`` vertex indices of each triangle.
    vertices_index
        ``(n, 3)`` vertex positions as continuous voxel indices ``(i, j, k)``.
    """

    vertices_lps: np.ndarray
    faces: np.ndarray
    vertices_index: np.ndarray

    @property
    def volume_mm3(self) -> float:
        """Enclosed volume by the divergence theorem (sum of signed tetrahedra), mm^3."""
        tri = self.vertices_lps[self.faces]
        signed = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
        return float(abs(signed))

    @property
    def area_mm2(self) -> float:
        """Total triangle area, mm^2."""
        return float(skmeasure.mesh_surface_area(self.vertices_lps, self.faces))


def surface_mesh(
    region: np.ndarray, geometry: Geometry, offset_ijk: tuple[int, int, int]
) -> SurfaceMesh:
    """Marching cubes (Lorensen tables, level 0.5) over a binary ``[k, j, i]`` region.

    ``region`` is a crop of a mask on ``geometry`` whose first voxel is ``offset_ijk``. It is
    padded by one voxel so the surface is closed, as pyradiomics does; vertices are mapped to
    LPS through the full geometry (spacing and direction honoured).
    """
    padded = np.pad(region.astype(np.float32), 1)
    verts_kji, faces, _, _ = skmeasure.marching_cubes(padded, 0.5, method="lorensen")
    index = verts_kji[:, ::-1] - 1.0 + np.asarray(offset_ijk, dtype=float)
    m = geometry.index_to_lps_matrix
    lps = index @ m[:3, :3].T + m[:3, 3]
    return SurfaceMesh(lps, faces.astype(np.int64), index)
