"""The DESIGN.md section 6 protocol as a library function (tscimg.segment.run_protocol)."""

from __future__ import annotations

import numpy as np
import pytest

from tscimg import MaskError
from tscimg.segment import run_protocol
from tscimg.segment.protocol import interior_point, label_box, next_click
from tscimg.synthetic import SAMPLE_STUDIES
from tscimg.synthetic.rendering import voxel_centres_lps


def _ball(shape: tuple[int, int, int], centre_kji: tuple[int, int, int], r: float) -> np.ndarray:
    k, j, i = np.ogrid[: shape[0], : shape[1], : shape[2]]
    c = centre_kji
    return np.asarray((k - c[0]) ** 2 + (j - c[1]) ** 2 + (i - c[2]) ** 2 <= r**2)


def test_clicks_go_to_the_middle_of_the_largest_error() -> None:
    shape = (20, 30, 40)
    truth = _ball(shape, (10, 15, 12), 6) | _ball(shape, (10, 15, 24), 5)
    missed = truth & ~_ball(shape, (10, 15, 24), 5)  # the right lobe is missed
    assert next_click(missed, truth, (1.0, 1.0, 1.0)) == ("positive", (24, 15, 10))
    extra = truth | _ball(shape, (10, 15, 34), 4)  # a blob beside it is over-segmented
    assert next_click(extra, truth, (1.0, 1.0, 1.0)) == ("negative", (34, 15, 10))
    with pytest.raises(ValueError, match="no correction"):
        next_click(truth, truth, (1.0, 1.0, 1.0))


def test_the_box_is_the_label_extent_plus_ten_percent_clipped() -> None:
    truth = np.zeros((10, 50, 50), dtype=bool)
    truth[0:5, 10:30, 40:50] = True  # extents 5, 20, 10 voxels
    assert label_box(truth) == (39, 8, 0, 49, 31, 5)
    k, j, i = np.argwhere(truth).mean(axis=0).round().astype(int)
    assert interior_point(_ball(truth.shape, (k, j, i), 3), (1.0, 1.0, 1.0)) == (i, j, k)


def test_protocol_on_a_sample_scan_against_its_analytic_truth() -> None:
    study = SAMPLE_STUDIES[1]()  # TSC-002, SEGA on MRI
    visit = study.visits[0]
    g = visit.scan.geometry
    truth = visit.lesions["L1"].contains(visit.pose.lps_to_body(voxel_centres_lps(g)))
    result = run_protocol(visit.scan, truth.reshape(g.size[::-1]), study.lesion_type)
    assert result.dice_one_click >= 0.95
    assert result.clicks_to == {0.85: 1, 0.90: 1}
    assert result.dice_per_click == (result.dice_click_box,)
    assert abs(result.volume_error_pct) <= 5.0
    with pytest.raises(MaskError, match="empty"):
        run_protocol(visit.scan, np.zeros(g.size[::-1], dtype=bool))
