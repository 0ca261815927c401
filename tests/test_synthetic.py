"""The phantom renderer conserves volume: partial-volume sums equal analytic ellipsoid volumes."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
from builders import centred_geometry

from tscimg.core.geometry import Geometry
from tscimg.synthetic import Ellipsoid, Layer, RigidPose, render, rotation_matrix


@pytest.mark.parametrize(
    ("spacing", "semi_axes"),
    [
        ((0.6, 0.6, 0.6), (5.5, 5.0, 6.0)),
        ((1.1, 1.1, 5.0), (16.0, 14.0, 13.0)),
        ((1.2, 1.2, 1.5), (8.5, 7.5, 7.0)),
    ],
)
def test_partial_volume_occupancy_integrates_to_the_analytic_volume(spacing, semi_axes) -> None:  # type: ignore[no-untyped-def]
    shape = Ellipsoid((1.3, -0.7, 2.1), semi_axes, (20.0, -10.0, 35.0))
    extent = 2.6 * max(semi_axes)
    size = tuple(int(np.ceil(extent / s)) for s in spacing)
    grid = centred_geometry(size, spacing, tuple(rotation_matrix((8.0, 0.0, 5.0)).ravel()))
    occupancy = render(
        grid,
        RigidPose((3.0, -2.0, 4.0), (1.0, 2.0, -1.0)),
        0.0,
        [Layer(shape, 1.0)],
        samples_per_axis=(4, 4, 6),
    )
    volume_ml = occupancy.sum() * grid.voxel_volume_mm3 / 1000
    assert volume_ml == pytest.approx(shape.volume_ml, rel=0.01)


def test_pose_round_trip() -> None:
    pose = RigidPose((5.0, -4.0, 3.0), (10.0, -12.0, 7.0), (1.0, 2.0, 3.0))
    pts = np.array([[0.0, 0.0, 0.0], [10.0, -5.0, 20.0]])
    assert np.allclose(pose.lps_to_body(pose.body_to_lps(pts)), pts)
    moved = pose.body_to_lps(pts)
    assert np.isclose(np.linalg.norm(moved[1] - moved[0]), np.linalg.norm(pts[1] - pts[0]))


def _oblique_hollow() -> tuple[Geometry, RigidPose, Layer, tuple[int, int, int]]:
    wall = Ellipsoid((1.0, -2.0, 0.5), (9.0, 6.0, 4.0), (15.0, -25.0, 40.0))
    cavity = Ellipsoid((1.5, -2.0, 0.0), (5.0, 3.0, 2.0), (15.0, -25.0, 40.0))
    grid = centred_geometry(
        (26, 22, 9), (0.9, 0.9, 2.5), tuple(rotation_matrix((6.0, -4.0, 9.0)).ravel())
    )
    pose = RigidPose((2.0, -3.0, 5.0), (1.5, -0.5, 2.0))
    return grid, pose, Layer(wall, 1.0, hollow=cavity), (2, 3, 4)


def _sheared() -> tuple[Geometry, RigidPose, Layer, tuple[int, int, int]]:
    # direction columns that are not unit vectors: a sub-voxel point lies farther from its
    # centre than half the voxel diagonal (a second reader's case; that reach missed a voxel)
    grid = Geometry(
        (20, 20, 8), (1.0, 1.0, 3.0), (-10.0, -10.0, -12.0), (1, 0, 0.8, 0, 1, 0.8, 0, 0, 1)
    )
    return grid, RigidPose(), Layer(Ellipsoid((0.3, 0.1, 0.7), (6.0, 5.0, 8.0)), 1.0), (2, 2, 5)


@pytest.mark.parametrize("case", [_oblique_hollow, _sheared], ids=["oblique-hollow", "sheared"])
def test_occupancy_sampled_only_near_surfaces_equals_sampling_every_voxel(
    case: Callable[[], tuple[Geometry, RigidPose, Layer, tuple[int, int, int]]],
) -> None:
    """render() samples sub-voxel points only in voxels within reach of a layer's surface;
    every voxel sampled, as it did before, gives the same occupancy (a hollow wall on an
    oblique, anisotropic grid under a rotated pose; a sheared grid)."""
    grid, pose, layer, samples = case()
    fast = render(grid, pose, 0.0, [layer], samples_per_axis=samples)
    m = grid.index_to_lps_matrix
    k, j, i = np.meshgrid(*(np.arange(n) for n in grid.size[::-1]), indexing="ij")
    index = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(float)
    count = np.zeros(index.shape[0])
    for offset in itertools.product(*((np.arange(n) + 0.5) / n - 0.5 for n in samples)):
        count += layer.contains(pose.lps_to_body((index + offset) @ m[:3, :3].T + m[:3, 3]))
    every = (count / np.prod(samples)).reshape(grid.size[::-1])
    assert 0 < np.count_nonzero((every > 0) & (every < 1)) < every.size
    np.testing.assert_array_equal(fast, every)
