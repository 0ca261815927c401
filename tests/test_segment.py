"""Segmentation: prompts and errors, accuracy on phantoms with known truth, refinement, CLI."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from builders import IDENTITY, SAMPLE_SCANS, centred_geometry, run_tscimg

from tscimg import Geometry, Modality, PromptError, Scan, load_mask, load_scan
from tscimg.segment import Method, Prompts, segment
from tscimg.segment.protocol import dice
from tscimg.synthetic import SAMPLE_STUDIES, Ellipsoid, Layer, RigidPose, SampleVisit, render
from tscimg.synthetic.rendering import voxel_centres_lps


@cache
def baseline_visits() -> tuple[SampleVisit, ...]:
    return tuple(make().visits[0] for make in SAMPLE_STUDIES)


def truth_of(visit: SampleVisit) -> np.ndarray:
    g = visit.scan.geometry
    inside = visit.lesions["L1"].contains(visit.pose.lps_to_body(voxel_centres_lps(g)))
    return inside.reshape(g.size[::-1])


@pytest.mark.parametrize("n", [0, 1, 2], ids=["aml-ct", "sega-mr", "rhabdomyoma-echo"])
def test_one_click_at_the_lesion_centre_finds_the_lesion(n: int) -> None:
    visit = baseline_visits()[n]
    prompts = Prompts.from_physical(
        visit.scan.geometry, positive_lps=[visit.lesion_centre_lps("L1")]
    )
    result = segment(visit.scan, prompts, visit.lesion_type)
    assert result.mask.geometry == visit.scan.geometry  # the mask overlays its scan
    got = result.mask.array_view() > 0
    truth = truth_of(visit)
    assert dice(got, truth) >= 0.90
    assert result.volume_ml == pytest.approx(visit.lesions["L1"].volume_ml, rel=0.10)
    assert result.provenance()["method"] == result.parameters.method.value


def test_prompts_in_index_lps_and_ras_agree() -> None:
    g = centred_geometry((30, 30, 10), (0.8, 0.8, 3.0))
    point = (12, 17, 4)
    lps = g.index_to_lps(point)
    ras = (-lps[0], -lps[1], lps[2])
    p = Prompts.from_physical(g, positive_index=[point], positive_lps=[lps], positive_ras=[ras])
    assert p.positive == (point, point, point)


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        (Prompts(positive=((99, 0, 0),)), "outside the image"),
        (Prompts(positive=((5, 5, 5),), box=(9, 9, 9, 2, 2, 2)), "inverted"),
        (Prompts(positive=((5, 5, 5),), negative=((5, 5, 5),)), "both positive and negative"),
        (Prompts(positive=((1, 1, 1),), box=(4, 4, 4, 9, 9, 9)), "outside the box"),
        (Prompts(), "no positive point and no box"),
    ],
)
def test_bad_prompts_are_clear_errors(prompts: Prompts, message: str) -> None:
    g = Geometry((20, 20, 20), (1.0, 1.0, 1.0), (0, 0, 0), IDENTITY)
    scan = Scan(g.apply_to(sitk.Image(20, 20, 20, sitk.sitkInt16)), source="scan.nii.gz")
    with pytest.raises(PromptError, match=message) as err:
        segment(scan, prompts)
    assert "scan.nii.gz" in str(err.value)


def test_empty_result_is_an_error_not_an_empty_mask() -> None:
    g = Geometry((30, 30, 30), (1.0, 1.0, 1.0), (0, 0, 0), IDENTITY)
    flat = np.random.default_rng(0).normal(100, 5, (30, 30, 30)).astype(np.float32)
    scan = Scan(g.apply_to(sitk.GetImageFromArray(flat)), source="flat.nii.gz")
    with pytest.raises(PromptError, match="empty"):
        segment(scan, Prompts(positive=((15, 15, 15),)))


def _two_blobs() -> tuple[Scan, Ellipsoid, Ellipsoid]:
    g = centred_geometry((60, 40, 30), (1.0, 1.0, 1.0))
    left = Ellipsoid((-9.0, 0.0, 0.0), (10.0, 8.0, 8.0))
    right = Ellipsoid((9.0, 0.0, 0.0), (10.0, 8.0, 8.0))  # touching: one bright region
    values = render(g, RigidPose(), 100.0, [Layer(left, 300.0), Layer(right, 300.0)])
    values += np.random.default_rng(1).normal(0, 8, values.shape)
    return (
        Scan(g.apply_to(sitk.GetImageFromArray(values.astype(np.float32))), modality=Modality.MR),
        left,
        right,
    )


@pytest.mark.parametrize("method", list(Method))
def test_a_negative_click_removes_what_the_reader_rejects(method: Method) -> None:
    scan, left, right = _two_blobs()
    g = scan.geometry
    pos = tuple(round(v) for v in g.lps_to_index(left.center_mm))
    neg = tuple(round(v) for v in g.lps_to_index(right.center_mm))
    both = segment(scan, Prompts(positive=(pos,)), method=method).volume_ml
    assert both == pytest.approx(left.volume_ml + right.volume_ml, rel=0.25)
    one = segment(scan, Prompts(positive=(pos,), negative=(neg,)), method=method)
    assert one.volume_ml == pytest.approx(left.volume_ml, rel=0.25)
    truth = left.contains(voxel_centres_lps(g)).reshape(g.size[::-1])
    assert dice(one.mask.array_view() > 0, truth) > 0.85


def test_a_box_alone_uses_its_centre_and_says_so() -> None:
    scan, left, _ = _two_blobs()
    g = scan.geometry
    lo = [round(v) for v in g.lps_to_index(np.subtract(left.center_mm, 11.0))]
    hi = [round(v) for v in g.lps_to_index(np.add(left.center_mm, (8.0, 11.0, 11.0)))]
    result = segment(scan, Prompts(box=(*lo, *hi)))  # type: ignore[arg-type]
    assert "box centre" in result.warnings[0]
    # the box is a leak guard: nothing outside it
    arr = result.mask.array_view()
    assert arr[:, :, hi[0] + 1 :].sum() == 0
    assert result.volume_ml > 0.5 * left.volume_ml


def test_a_box_that_cuts_the_lesion_is_a_warning() -> None:
    """The box is a hard limit: a mask that reaches its face was cut off there (or leaked to it),
    and the reader is told. TSC-002's SEGA (an analytic ellipsoid): a box of exactly the lesion's
    extent, trimmed by 2 voxels in i, is reached; the protocol's box (extent + 10%) is not."""
    from tscimg.segment.protocol import interior_point, label_box

    visit = baseline_visits()[1]
    truth = truth_of(visit)
    click = interior_point(truth, visit.scan.geometry.spacing_mm[::-1])
    i0, j0, k0, i1, j1, k1 = label_box(truth)
    clear = segment(visit.scan, Prompts(positive=(click,), box=(i0, j0, k0, i1, j1, k1)))
    assert not any("box's face" in w for w in clear.warnings)
    idx = np.argwhere(truth)
    (k0, j0, i0), (k1, j1, i1) = idx.min(axis=0), idx.max(axis=0)
    cut_box = (int(i0) + 2, int(j0), int(k0), int(i1), int(j1), int(k1))
    cut = segment(visit.scan, Prompts(positive=(click,), box=cut_box))
    warning = next(w for w in cut.warnings if "box's face" in w)
    assert f"i = {int(i0) + 2}" in warning and "10% larger" in warning


def test_segment_cli_writes_a_mask_on_the_scan_grid(tmp_path: Path) -> None:
    visit = baseline_visits()[1]
    folder = (
        Path(__file__).resolve().parents[1] / "sample_scans" / "TSC-002" / "2024-02-20" / "dicom"
    )
    x, y, z = visit.lesion_centre_lps("L1")
    out = tmp_path / "sega.nrrd"
    result = run_tscimg(
        "segment",
        str(folder),
        "-o",
        str(out),
        f"--point-lps={x},{y},{z}",
        "--lesion-type",
        "sega",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert {"volume_ml", "voxel_count", "mask"} <= record.keys()
    scan = load_scan(folder)
    mask = load_mask(out, reference=scan)  # raises unless it lies on the scan's grid
    assert mask.voxel_count() == record["voxel_count"]
    assert record["volume_ml"] == pytest.approx(visit.lesions["L1"].volume_ml, rel=0.10)
    bad = run_tscimg(
        "segment",
        str(folder),
        "-o",
        str(out),
        "--point",
        "10,10,10",
        "--negative",
        "10,10,10",
    )
    assert bad.returncode == 1 and "both positive and negative" in bad.stderr


def test_hole_filling_equals_scipy_on_random_shapes() -> None:
    from scipy import ndimage

    from tscimg.segment.postprocess import _filled

    rng = np.random.default_rng(0)
    for _ in range(10):
        blob = ndimage.gaussian_filter(rng.random((24, 30, 28)), 2) > 0.5
        assert np.array_equal(_filled(blob), ndimage.binary_fill_holes(blob))
        assert np.array_equal(_filled(blob[4]), ndimage.binary_fill_holes(blob[4]))


def _echo2d_visits() -> tuple[SampleVisit, ...]:
    from tscimg.synthetic.studies import rhabdomyoma_echo2d_study

    return rhabdomyoma_echo2d_study().visits


@pytest.mark.parametrize("n", [0, 1, 2])
def test_one_click_on_a_2d_echo_frame_dice_and_area(n: int) -> None:
    """Issue 7: one-click Dice >= 0.85 on 2D frames, area error <= 10% (analytic truth)."""
    from tscimg.measure import measure_planar

    visit = _echo2d_visits()[n]
    scan = visit.scan
    assert scan.is_planar
    prompts = Prompts.from_physical(scan.geometry, positive_lps=[visit.lesion_centre_lps("L1")])
    result = segment(scan, prompts, visit.lesion_type)
    got = result.mask.array_view() > 0
    truth = truth_of(visit)  # pixel centres inside the spheroid's central section
    assert dice(got, truth) >= 0.85
    a, b = visit.lesions["L1"].semi_axes_mm[:2]
    area = measure_planar(result.mask).area_mm2
    assert area == pytest.approx(np.pi * a * b, rel=0.10)


@pytest.mark.parametrize("method", [None, Method.ACTIVE_CONTOUR], ids=["preset", "active_contour"])
def test_3d_echo_dice_on_every_visit(method: Method | None) -> None:
    """Issue 7: one-click Dice >= 0.85 on the 3D echo volumes with speckle, every visit, with
    the preset and with the active contour. The masses are 8-12 mm across: with its
    curvature weight at five times the propagation the level set shrank the last visit's mass
    to nothing (Dice 0.000; measured 0.926 with the two equal)."""
    from tscimg.synthetic.studies import rhabdomyoma_echo_study

    for visit in rhabdomyoma_echo_study().visits:
        prompts = Prompts.from_physical(
            visit.scan.geometry, positive_lps=[visit.lesion_centre_lps("L1")]
        )
        result = segment(visit.scan, prompts, visit.lesion_type, method=method)
        assert dice(result.mask.array_view() > 0, truth_of(visit)) >= 0.85
        if method is None:
            assert result.volume_ml == pytest.approx(visit.lesions["L1"].volume_ml, rel=0.10)


@pytest.mark.parametrize("method", list(Method), ids=lambda m: m.value)
def test_every_method_segments_a_2d_echo_frame(method: Method) -> None:
    """A single frame is one voxel thick; the active contour (ITK's filters need 4 voxels per
    axis) runs in the frame's plane. Measured Dice 0.916-0.974 on the three visits for every
    family."""
    visit = _echo2d_visits()[2]
    prompts = Prompts.from_physical(
        visit.scan.geometry, positive_lps=[visit.lesion_centre_lps("L1")]
    )
    result = segment(visit.scan, prompts, visit.lesion_type, method=method)
    assert result.mask.geometry == visit.scan.geometry
    assert dice(result.mask.array_view() > 0, truth_of(visit)) >= 0.9


def test_work_region_guard_of_a_box_past_the_image_is_the_part_inside() -> None:
    """``work_region`` given a box whose first corner lies 8 voxels before the image (segment()
    clips boxes first; a new caller might not): the guard is the box's part inside the image,
    voxel for voxel (it was sliced from the crop's far end: columns 11-12 along i, for 0-12)."""
    from tscimg.segment.region import work_region

    g = Geometry((40, 40, 20), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), IDENTITY)
    scan = Scan.from_array(np.zeros((20, 40, 40), np.float32), g)
    past = work_region(scan, Prompts(positive=((2, 20, 10),), box=(-8, 10, 5, 12, 30, 15)), 30.0)
    guard = np.zeros((20, 40, 40), bool)
    k0, j0, i0 = past.offset_kji
    shape = past.guard.shape
    guard[k0 : k0 + shape[0], j0 : j0 + shape[1], i0 : i0 + shape[2]] = past.guard
    expected = np.zeros_like(guard)
    expected[5:16, 10:31, 0:13] = True
    np.testing.assert_array_equal(guard, expected)


def test_a_lesion_at_the_image_edge_with_a_box_past_it_is_segmented_and_said_to_be_cut() -> None:
    """A sphere (radius 8 mm) centred 2 mm inside the image's first i plane: 744 of its voxel
    centres (1.488 mL) lie in the scan. A box reaching 8 voxels past that edge was sliced with
    a negative index (numpy counted from the crop's far end): the mask came out 2 voxels
    (0.004 mL). It is now clipped to the image for the work, with a warning (the result keeps
    the box as given), and gives the clipped box's mask exactly; the mask reaching the image's
    edge is said too (its volume counts only the part inside the scan), not as the box's face.
    Without a box, region growing lost the plane on the edge (1.31 mL: the closing's erosion
    took the outside as background) and so never said the edge was reached; the closing now
    repeats the edge plane outward. Both give the 744 voxels exactly (1.488 mL; with the box it
    was 1.584)."""
    g = Geometry((40, 40, 20), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), IDENTITY)
    k, j, i = np.indices((20, 40, 40))
    r = np.sqrt((i - 2) ** 2 + (j - 20) ** 2 + ((k - 10) * 2) ** 2)
    noise = np.random.default_rng(0).normal(0, 5, r.shape)
    scan = Scan.from_array((np.where(r < 8, 200.0, 50.0) + noise).astype(np.float32), g)
    inside_ml = int((r < 8).sum()) * 2.0 / 1000
    clipped = segment(scan, Prompts(positive=((2, 20, 10),), box=(0, 10, 5, 12, 30, 15)), "generic")
    past = segment(scan, Prompts(positive=((2, 20, 10),), box=(-8, 10, 5, 12, 30, 15)), "generic")
    np.testing.assert_array_equal(past.mask.array_view(), clipped.mask.array_view())
    assert past.volume_ml == pytest.approx(inside_ml, abs=1e-9)
    assert past.prompts.box == (-8, 10, 5, 12, 30, 15)  # as given: its margins are carried
    assert any("reaches past the image" in w and "clipped to (0, 10, 5" in w for w in past.warnings)
    unboxed = segment(scan, Prompts(positive=((2, 20, 10),)), "generic")
    inside = r < 8
    for result in (past, clipped, unboxed):
        np.testing.assert_array_equal(result.mask.array_view() > 0, inside)
        assert result.image_edges_reached == ("i = 0",)
        assert any("edge of the image at i = 0" in w for w in result.warnings)
        # the image's edge, not the box, cuts the lesion there
        assert result.box_faces_reached == ()
        assert not any("box's face" in w for w in result.warnings)


def test_a_physical_box_is_the_index_box_its_two_voxel_corners_name_on_an_oblique_scan() -> None:
    """DESIGN.md section 4: --box-lps is --box "in physical space": the LPS positions of two
    opposite voxel corners. On an oblique grid (TSC-002: 12 and 6 degrees) every pair of
    opposite corners of an index box gives back that box (an LPS-aligned box through two
    points would grow it by up to 40% along an axis on a grid turned by 30 degrees)."""
    scan = load_scan(SAMPLE_SCANS / "TSC-002" / "2024-02-20" / "dicom")
    g = scan.geometry
    box = (21, 16, 15, 38, 33, 28)
    lo, hi = box[:3], box[3:]
    for pick in [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]:
        first = tuple(float(hi[n] if pick[n] else lo[n]) for n in range(3))
        second = tuple(float(lo[n] if pick[n] else hi[n]) for n in range(3))
        lps = (*g.index_to_lps(first), *g.index_to_lps(second))
        assert Prompts.from_physical(scan, box_lps=lps).box == box
    centre = g.index_to_lps((29.5, 24.5, 21.5))
    prompts = Prompts.from_physical(
        scan, positive_lps=[centre], box_lps=(*g.index_to_lps(lo), *g.index_to_lps(hi))
    )
    result = segment(scan, prompts, "sega")
    assert result.box_faces_reached == ()
    assert result.volume_ml == pytest.approx(1.869, rel=0.05)


def test_a_dark_lesion_at_the_edge_of_a_skull_stripped_image_never_grows_into_its_padding() -> None:
    """A skull-stripped image fills the outside with one value (BRATS: its minimum). A click
    in a dark lesion (BRATS necrosis) at the brain's edge grew into that outside: 15-120 mL of
    the mask on BRATS pat0005, silently; on this phantom 41,631 of 44,078 voxels. Padding is
    never lesion now: the click gives the 1,243 lesion voxels, with a box too."""
    g = Geometry((60, 60, 30), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), IDENTITY)
    k, j, i = np.indices((30, 60, 60))
    brain = (i - 30) ** 2 + (j - 30) ** 2 + ((k - 15) * 2) ** 2 < 25**2
    lesion = ((i - 50) ** 2 + (j - 30) ** 2 + ((k - 15) * 2) ** 2 < 81) & brain
    rng = np.random.default_rng(0)
    img = np.where(brain, 100.0 + rng.normal(0, 5, brain.shape), 0.0)
    img[lesion] = 30.0 + rng.normal(0, 5, int(lesion.sum()))
    img[~brain] = img[brain].min() - 10.0  # the padding: one value below everything
    scan = Scan.from_array(img.astype(np.float32), g, modality="MR")
    box = (40, 20, 10, 59, 40, 20)
    for prompts in (Prompts(positive=((50, 30, 15),)), Prompts(positive=((50, 30, 15),), box=box)):
        mask = segment(scan, prompts, "generic").mask.array_view() > 0
        assert not (mask & ~brain).any()
        assert dice(mask, lesion) > 0.95


def test_a_box_drawn_on_one_slice_of_a_3d_scan_says_the_lesion_is_cut_to_it() -> None:
    """A reader's box drawn on the axial slice in view (k0 == k1): the mask is that slice's
    part of the lesion (14 voxels on TSC-002, 11 of BRATS pat0006's 107 mL), and no face
    warning was given (faces of boxes under 3 voxels thick are not checked). It says so now;
    a 3D box does not."""
    scan = load_scan(SAMPLE_SCANS / "TSC-002" / "2024-02-20" / "dicom")
    flat = segment(scan, Prompts(positive=((29, 25, 21),), box=(20, 16, 21, 39, 34, 21)), "sega")
    assert any("the box spans 1 slice along k (k = 21 to 21)" in w for w in flat.warnings)
    assert np.unique(np.nonzero(flat.mask.array_view())[0]).tolist() == [21]
    full = segment(scan, Prompts(positive=((29, 25, 21),), box=(20, 16, 14, 39, 34, 28)), "sega")
    assert not any("the box spans" in w for w in full.warnings)
