"""Geometry conventions: index <-> LPS, RAS <-> LPS, and grid mismatch errors."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from tscimg import Geometry, GeometryMismatchError, Mask, ras_to_lps
from tscimg.synthetic import rotation_matrix


def oblique_geometry() -> Geometry:
    d = rotation_matrix((12.0, -7.0, 20.0))
    return Geometry(
        (30, 40, 20), (0.7, 0.8, 5.0), (-10.0, 25.0, 3.5), tuple(float(v) for v in d.ravel())
    )


def test_index_to_lps_agrees_with_simpleitk_on_an_oblique_grid() -> None:
    g = oblique_geometry()
    img = g.apply_to(sitk.Image(*g.size, sitk.sitkUInt8))
    for idx in [(0, 0, 0), (3, 7, 11), (29, 39, 19)]:
        assert np.allclose(g.index_to_lps(idx), img.TransformIndexToPhysicalPoint(idx), atol=1e-9)
    p = (1.0, 2.0, 3.0)
    assert np.allclose(g.lps_to_index(p), img.TransformPhysicalPointToContinuousIndex(p), atol=1e-9)


def test_ras_to_lps_flips_x_and_y_only() -> None:
    assert ras_to_lps((10.0, -20.0, 30.0)) == (-10.0, 20.0, 30.0)
    assert ras_to_lps(ras_to_lps((1.5, 2.5, 3.5))) == (1.5, 2.5, 3.5)


def test_mismatch_error_names_both_grids_and_the_fix() -> None:
    g = oblique_geometry()
    shifted = Geometry(
        g.size, g.spacing_mm, (g.origin_lps[0] + 2.0, *g.origin_lps[1:]), g.direction
    )
    with pytest.raises(GeometryMismatchError) as err:
        g.require_same(shifted, "visit1.nii.gz", "lesion.nii.gz")
    text = str(err.value)
    assert "visit1.nii.gz" in text and "lesion.nii.gz" in text
    assert "origin differs by 2 mm" in text and "resample" in text


def test_tolerance_accepts_rounding_noise_only() -> None:
    g = oblique_geometry()
    nudged = Geometry(g.size, tuple(s + 1e-5 for s in g.spacing_mm), g.origin_lps, g.direction)
    g.require_same(nudged, "a", "b")
    assert g.differences(nudged) == []
    assert g.differences(Geometry((30, 40, 21), g.spacing_mm, g.origin_lps, g.direction))


def test_mask_keeps_the_geometry_it_is_given() -> None:
    g = oblique_geometry()
    labels = np.zeros(g.size[::-1], dtype=np.uint8)
    labels[5, 10, 12] = 2
    mask = Mask.from_array(labels, g, source="m")
    assert mask.geometry == g
    assert mask.labels == (2,) and mask.voxel_count(2) == 1
    mask.require_on(g, "scan")


def test_array_view_of_a_temporary_mask_stays_valid() -> None:
    import gc

    g = oblique_geometry()
    labels = np.zeros(g.size[::-1], dtype=np.uint8)
    labels[3:6, 4:9, 5:7] = 1
    view = Mask.from_array(labels, g).array_view()  # the Mask is gone after this line
    gc.collect()
    _ = [np.ones(g.size[::-1], dtype=np.uint8) for _ in range(5)]  # reuse freed memory if any
    assert int(view.sum()) == int(labels.sum())
    assert int((view[3:6] > 0).sum()) == 30
    assert not view.flags.writeable
