"""Follow-ups measured consistently with their baseline, the registration's second estimate, and
the trust gate, end to end through ``tscimg.track`` (issue 14).

Truth: the same scan twice is no change at all (0.0%, exactly); the same anatomy moved and
re-sliced is no change either (within 3%); the sample studies' analytic ellipsoid volumes; and
what a scan holds (noise is not anatomy, a cropped scan lacks what it lacks).
"""

from __future__ import annotations

import csv
import datetime
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from builders import SAMPLE_SCANS, centred_geometry, shared_data
from scipy import ndimage

import tscimg
from tscimg.core.geometry import Geometry
from tscimg.core.mask import Mask
from tscimg.core.scan import Scan
from tscimg.longitudinal.carry import LesionReference, carried_box, carry_lesion
from tscimg.longitudinal.criteria import TSC
from tscimg.longitudinal.registration import Registration
from tscimg.longitudinal.results import LesionOrigin, LesionVisitResult, assess_patient
from tscimg.measure import LesionRecord
from tscimg.report import write_reports
from tscimg.segment import Prompts, segment
from tscimg.segment.protocol import interior_point, label_box
from tscimg.synthetic import Ellipsoid, Layer, RigidPose, render
from tscimg.synthetic.label_phantoms import aml_ct_phantom

TRUTH = json.loads((SAMPLE_SCANS / "truth.json").read_text())
SEGA = next(p for p in TRUTH["patients"] if p["patient_id"] == "TSC-002")
BASELINE = SAMPLE_SCANS / SEGA["visits"][0]["nifti"]
CENTRE_LPS = SEGA["visits"][0]["lesions"]["L1"]["centre_lps"]


def _track(tmp_path: Path, rows: list[dict[str, str]]) -> dict[str, Any]:
    """Run ``tscimg.track`` on a one-patient manifest; the patient's single assessment."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    manifest = tmp_path / "manifest.csv"
    columns = ["patient_id", "date", "image", "lesion_id", "lesion_type", "point_lps",
               "negative_lps", "box_lps", "treatment_start"]  # fmt: skip
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({"patient_id": "P", "lesion_id": "L1", "lesion_type": "sega", **row})
    result = tscimg.track(manifest, tmp_path / "out")
    assert not result.errors, result.errors
    (patient,) = result.to_dict()["patients"]
    (assessment,) = patient["assessments"]
    paths = write_reports(result, tmp_path / "out", pdf=False)
    page = paths["html"].read_text()
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [r["change_registration_pct"] for r in rows] == [
        "" if t["change_registration_pct"] is None else str(t["change_registration_pct"])
        for t in assessment["timepoints"]
    ]
    if assessment["status"] == "not_evaluable":  # the page says why, and what to do
        assert "Flagged for review" in page and "own prompt" in page
        assert all(r["review"] for r in rows[1:] if r["date"] == rows[-1]["date"])
    return dict(assessment)


def _point(centre: list[float]) -> str:
    return ";".join(f"{v:.2f}" for v in centre)


def _box(centre: list[float], half_mm: float) -> str:
    lo = [v - half_mm for v in centre]
    hi = [v + half_mm for v in centre]
    return ";".join(f"{v:.2f}" for v in lo + hi)


@pytest.mark.parametrize("with_box", [False, True], ids=["point", "point+box"])
def test_the_same_scan_entered_twice_changes_by_exactly_zero(
    tmp_path: Path, with_box: bool
) -> None:
    """Issue 14: the same MRI entered as two visits (point + box at the first, carried at the
    second) read -14.2% and "non-response at 12 months". The same scan registers to the
    identity and is segmented with the same prompts: 0.0% by both estimates."""
    first = {"date": "2024-02-20", "image": str(BASELINE), "point_lps": _point(CENTRE_LPS),
             "treatment_start": "2024-03-01"}  # fmt: skip
    if with_box:
        first["box_lps"] = _box(CENTRE_LPS, 11.0)
    a = _track(tmp_path, [first, {"date": "2025-03-05", "image": str(BASELINE)}])
    baseline, again = a["timepoints"]
    assert again["change_from_baseline_pct"] == 0.0
    assert again["change_registration_pct"] == 0.0
    assert again["lesions"]["L1"]["volume_ml"] == baseline["lesions"]["L1"]["volume_ml"]
    assert again["lesions"]["L1"]["origin"] == "carried" and not again["review"]
    assert a["status"] == "non_response_12m"  # 12 months and truly unchanged


def _moved(
    image: sitk.Image,
    angles_deg: tuple[float, float, float],
    shift_mm: tuple[float, float, float],
    spacing_mm: tuple[float, float, float],
    noise: float,
    seed: int,
) -> sitk.Image:
    """The same anatomy with the patient moved (rotation about the lesion, shift) and re-sliced
    onto a new grid, plus Gaussian noise of ``noise`` x the image's 1-99% range."""
    rigid = sitk.Euler3DTransform()
    rigid.SetCenter(CENTRE_LPS)
    rigid.SetRotation(*np.radians(angles_deg))
    rigid.SetTranslation(shift_mm)
    extent = np.asarray(image.GetSize()) * np.asarray(image.GetSpacing())
    size = [int(v) for v in np.round(extent / np.asarray(spacing_mm))]
    moved = sitk.Resample(image, size, rigid, sitk.sitkBSpline, image.GetOrigin(), spacing_mm,
                          image.GetDirection(), 0.0, sitk.sitkFloat32)  # fmt: skip
    arr = sitk.GetArrayFromImage(moved)
    lo, hi = np.percentile(arr, [1, 99])
    arr += np.random.default_rng(seed).normal(0.0, noise * (hi - lo), arr.shape).astype(np.float32)
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(moved)
    return out


def test_the_same_anatomy_moved_and_resliced_changes_by_at_most_three_percent(
    tmp_path: Path,
) -> None:
    """Issue 14: an unchanged follow-up, the patient moved 4 degrees and 5 mm, re-sliced at
    1.0 mm instead of 1.5 mm, 2% noise: the segmentation within 3% (measured +2.4%), the
    registration estimate within the 5 points by which the two must agree (measured +3.7%; the
    same image held in memory, whose direction cosines differ by 1e-8, gives +2.0%: the global
    optimum moves, and a residual misalignment of the lesion reads as a volume change)."""
    image = sitk.ReadImage(str(BASELINE), sitk.sitkFloat32)
    moved = _moved(image, (4.0, -2.0, 3.0), (5.0, -3.0, 2.0), (1.2, 1.2, 1.0), 0.02, 7)
    follow_up = tmp_path / "moved.nii.gz"
    sitk.WriteImage(moved, str(follow_up))
    first = {"date": "2024-02-20", "image": str(BASELINE), "point_lps": _point(CENTRE_LPS),
             "box_lps": _box(CENTRE_LPS, 11.0), "treatment_start": "2024-03-01"}  # fmt: skip
    a = _track(tmp_path, [first, {"date": "2024-09-02", "image": str(follow_up)}])
    _, again = a["timepoints"]
    assert abs(again["change_from_baseline_pct"]) <= 3.0
    assert abs(again["change_registration_pct"]) <= 5.0
    assert not again["review"]
    assert a["status"] == "too_early"
    # the baseline's intensity model placed the border, mapped by the scans' own gain (1: the
    # same scanner, only noise added)
    mapped = again["lesions"]["L1"]["registration"]["intensity_map"]
    assert mapped["gain"] == pytest.approx(1.0, abs=0.05)


def test_an_unusable_follow_up_is_flagged_and_the_next_is_carried_from_the_baseline(
    tmp_path: Path,
) -> None:
    """A follow-up that is noise (a wrong series) is no measurement: it is flagged, the status
    stays not_evaluable while it is the latest visit, and the visit after it is carried from
    the baseline, not from the flagged visit."""
    image = sitk.ReadImage(str(BASELINE), sitk.sitkFloat32)
    arr = np.random.default_rng(3).normal(100.0, 30.0, image.GetSize()[::-1]).astype(np.float32)
    noise = sitk.GetImageFromArray(arr)
    noise.CopyInformation(image)
    wrong = tmp_path / "wrong_series.nii.gz"
    sitk.WriteImage(noise, str(wrong))
    second = SAMPLE_SCANS / SEGA["visits"][1]["nifti"]
    first = {"date": "2024-02-20", "image": str(BASELINE), "point_lps": _point(CENTRE_LPS),
             "treatment_start": "2024-03-01"}  # fmt: skip
    flagged = _track(tmp_path / "a", [first, {"date": "2024-06-01", "image": str(wrong)}])
    assert flagged["status"] == "not_evaluable"
    assert flagged["review"] and flagged["review"][0].startswith("2024-06-01: ")
    assert flagged["timepoints"][1]["lesions"]["L1"]["review"]
    assert "own prompt" in flagged["recommendations"][0]
    # the action names the visit to check (an earlier or unmeasured one is not "this visit")
    assert flagged["recommendations"][0].startswith("check the visit of 2024-06-01")
    assert not flagged["progression"]["reached"] and not flagged["response"]["reached"]

    later = _track(
        tmp_path / "b",
        [first, {"date": "2024-06-01", "image": str(wrong)},
         {"date": "2024-09-02", "image": str(second)}],
    )  # fmt: skip
    last = later["timepoints"][2]
    assert last["lesions"]["L1"]["registration"]["from_date"] == "2024-02-20"
    assert not last["review"]
    truth = SEGA["visits"][1]["change_from_baseline_pct"]
    assert last["change_from_baseline_pct"] == pytest.approx(truth, abs=3.0)
    assert later["status"] == "too_early"


def test_a_lesion_leaving_the_field_of_view_is_flagged(tmp_path: Path) -> None:
    """The follow-up's coverage ends through the middle of the lesion: not measurable there."""
    image = sitk.ReadImage(str(BASELINE))
    k_centre = round(image.TransformPhysicalPointToContinuousIndex(CENTRE_LPS)[2])
    size = list(image.GetSize())
    cropped = sitk.RegionOfInterest(image, [size[0], size[1], k_centre + 1], [0, 0, 0])
    follow_up = tmp_path / "cropped.nii.gz"
    sitk.WriteImage(cropped, str(follow_up))
    first = {"date": "2024-02-20", "image": str(BASELINE), "point_lps": _point(CENTRE_LPS),
             "treatment_start": "2024-03-01"}  # fmt: skip
    a = _track(tmp_path, [first, {"date": "2024-09-02", "image": str(follow_up)}])
    assert a["status"] == "not_evaluable"
    assert any("field of view" in r for r in a["review"])


def test_a_lesion_wholly_outside_the_follow_up_is_not_measured_and_the_patient_goes_on(
    tmp_path: Path,
) -> None:
    """The follow-up's coverage ends well before the lesion (the wrong anatomy was scanned):
    no volume is invented, the visit is flagged "not measured" with what to do, its totals are
    empty (JSON null, an empty CSV cell), and the patient's next visit is still measured,
    carried from the baseline."""
    image = sitk.ReadImage(str(BASELINE))
    k_centre = round(image.TransformPhysicalPointToContinuousIndex(CENTRE_LPS)[2])
    size = list(image.GetSize())
    k_end = k_centre - round(15.0 / image.GetSpacing()[2])  # 15 mm short of the centre
    cropped = sitk.RegionOfInterest(image, [size[0], size[1], k_end], [0, 0, 0])
    outside = tmp_path / "elsewhere.nii.gz"
    sitk.WriteImage(cropped, str(outside))
    second = SAMPLE_SCANS / SEGA["visits"][1]["nifti"]
    first = {"date": "2024-02-20", "image": str(BASELINE), "point_lps": _point(CENTRE_LPS),
             "treatment_start": "2024-03-01"}  # fmt: skip
    gap = {"date": "2024-06-01", "image": str(outside)}
    alone = _track(tmp_path / "a", [first, gap])
    assert alone["status"] == "not_evaluable"
    missing = alone["timepoints"][1]
    lesion = missing["lesions"]["L1"]
    assert lesion["volume_ml"] is None and lesion["mask"] is None
    assert missing["total_volume_ml"] is None and missing["change_from_baseline_pct"] is None
    assert lesion["review"][0].startswith("not measured") and "own prompt" in lesion["review"][0]
    rows = list(csv.DictReader((tmp_path / "a" / "out" / "report.csv").open()))
    assert rows[1]["volume_ml"] == "" and rows[1]["total_volume_ml"] == ""
    assert "L1 not measured (carried" in (tmp_path / "a" / "out" / "report.html").read_text()

    later = _track(tmp_path / "b", [first, gap, {"date": "2024-09-02", "image": str(second)}])
    last = later["timepoints"][2]
    assert last["lesions"]["L1"]["registration"]["from_date"] == "2024-02-20"
    truth = SEGA["visits"][1]["change_from_baseline_pct"]
    assert last["change_from_baseline_pct"] == pytest.approx(truth, abs=3.0)
    assert later["status"] == "too_early" and later["timepoints"][1]["review"]


def test_the_carried_outline_is_the_graph_cuts_prior_at_a_follow_up() -> None:
    """The outline prior: a ball's normalised radius is 1 on its border and 0 at its centre, so
    the prior is one half on the border. A low-contrast lesion (560 against 500, noise 60)
    that shrank 35% inside the box carried from its baseline (the baseline extent + 20%):
    with the shrunk outline as the prior the graph cut is within 5% of the analytic volume
    (measured -2.2%; the box's own prior +3.4%)."""
    from tscimg import Geometry, Mask, Modality, Scan
    from tscimg.segment import Prompts, segment
    from tscimg.segment.graph_cut import _outline_prior
    from tscimg.segment.parameters import GraphCutTuning
    from tscimg.synthetic import Ellipsoid, Layer, RigidPose, render
    from tscimg.synthetic.rendering import voxel_centres_lps

    k, j, i = np.indices((41, 41, 41))
    r = np.sqrt((i - 20.0) ** 2 + (j - 20.0) ** 2 + (k - 20.0) ** 2)
    radius, prior = _outline_prior(r <= 12.0, np.array([1.0, 1.0, 1.0]), GraphCutTuning())
    assert radius[20, 20, 20] == pytest.approx(0.0, abs=0.05)
    assert radius[20, 20, 32] == pytest.approx(1.0, abs=1.0 / 12.0)  # within a voxel of R
    assert prior[20, 20, 32] == pytest.approx(0.5, abs=0.15)

    g = Geometry((64, 64, 40), (0.8, 0.8, 1.0), (-25.2, -25.2, -19.5), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    baseline = Ellipsoid((0.0, 0.0, 0.0), (11.0, 9.0, 8.0), (0.0, 0.0, 20.0))
    shrunk = baseline.scaled_to_volume(0.65 * baseline.volume_ml)
    values = render(g, RigidPose(), 500.0, [Layer(shrunk, 560.0)])
    values = values + np.random.default_rng(2).normal(0.0, 60.0, values.shape)
    image = g.apply_to(sitk.GetImageFromArray(values.astype(np.float32)))
    scan = Scan(image, modality=Modality.MR)
    centres = np.asarray(voxel_centres_lps(g)).reshape(-1, 3)
    outline = Mask.from_array(shrunk.contains(centres).reshape(g.size[::-1]).astype(np.uint8), g)
    click = tuple(round(v) for v in g.lps_to_index((0.0, 0.0, 0.0)))
    reach = np.array([11.0, 9.0, 8.0]) * 1.2 / np.array(g.spacing_mm)
    box = tuple(int(v) for v in np.r_[np.array(click) - reach, np.array(click) + reach].round())
    carried = segment(
        scan,
        Prompts(positive=(click,), box=box, prior=outline),
        "generic",  # type: ignore[arg-type]
    )
    assert carried.volume_ml == pytest.approx(shrunk.volume_ml, rel=0.05)


def test_a_lesion_of_a_few_voxels_is_carried_without_an_internal_error() -> None:
    """A 2 mm core given as the reference mask: the carried box is a few voxels wide and the
    graph cut's samples hold a voxel or two, too few to fit an appearance model (scikit-learn
    raised, and the patient failed as an internal error on breast1 in the change-precision
    benchmark). The cut stands on what it has; the mask lies inside the SEGA."""
    from tscimg import Mask
    from tscimg.longitudinal import carry_lesion
    from tscimg.synthetic.rendering import voxel_centres_lps
    from tscimg.synthetic.studies import sega_mr_study

    visit = sega_mr_study().visits[0]
    g = visit.scan.geometry
    centres = np.asarray(voxel_centres_lps(g)).reshape((*g.size[::-1], 3))
    distance = np.linalg.norm(centres - np.asarray(visit.lesion_centre_lps("L1")), axis=-1)
    core = Mask.from_array((distance <= 2.0).astype(np.uint8), g)
    carried = carry_lesion(visit.scan, core, visit.scan, visit.lesion_type)
    inside = visit.lesions["L1"].contains(visit.pose.lps_to_body(centres.reshape(-1, 3)))
    labels = carried.mask.array_view().reshape(-1) > 0
    assert labels.any() and inside[labels].all()


def test_a_visit_not_measured_survives_the_resume_state_and_leaves_the_sum_empty() -> None:
    """A lesion record of None (not measured) round-trips through the resume state, and the
    response engine gives its visit no sum and no change: not_evaluable, never a number."""

    def visit(day: str, record: LesionRecord | None, review: tuple[str, ...] = ()) -> Any:
        date = datetime.date.fromisoformat(day)
        return LesionVisitResult(
            "L1", tscimg.LesionType.SEGA, date, "scan.nii.gz", LesionOrigin.CARRIED, record,
            review=review,
        )  # fmt: skip

    gap = visit("2024-09-01", None, ("not measured: the registration failed",))
    assert LesionVisitResult.from_dict(gap.to_dict()) == gap
    baseline = visit("2024-01-10", LesionRecord.of_figures(4.0, 0.1, 20.0))
    result = assess_patient("P", [baseline, gap], TSC, datetime.date(2024, 1, 15))
    (a,) = result.assessments
    assert a.timepoints[1].total_volume_ml is None
    assert a.timepoints[1].change_from_baseline_pct is None
    assert a.status.value == "not_evaluable" and a.nadir_date == datetime.date(2024, 1, 10)


def test_the_carried_box_holds_the_carried_extent_and_its_margin_on_thick_slices() -> None:
    """On 5 mm slices the protocol's 10% margin of a 4-slice lesion is 0.4 slice: rounding the
    carried box to the nearest slice could end it inside the lesion's border voxel plus that
    margin. Where the margin is under a voxel the box is rounded outward; along the 1 mm axes
    (margin 0.4 voxel too, here) likewise, and it holds the extent and margin everywhere."""
    g = Geometry((12, 12, 10), (1.0, 1.0, 5.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    labels = np.zeros((10, 12, 12), dtype=np.uint8)
    labels[3:7, 4:8, 4:8] = 1  # slices k = 3..6
    image = g.apply_to(sitk.GetImageFromArray(labels.astype(np.float32)))
    reference = LesionReference(Scan(image), Mask.from_array(labels, g), "2024-01-01")
    moved = Registration((sitk.TranslationTransform(3, (0.0, 0.0, -0.95 * 5.0)),), 1.0, 1.0)
    margin = np.full(3, 0.1)
    box = carried_box(reference, Scan(image), moved, (margin, margin))
    # border voxel centres map to k = 2.05 .. 5.05; with the margin 1.65 .. 5.45 (nearest: 2 .. 5)
    assert (box[2], box[5]) == (1, 6)
    assert (box[0], box[3]) == (3, 8) and (box[1], box[4]) == (3, 8)  # 4..7 with 0.4 voxel margin


def test_a_carried_lesion_that_reaches_the_scans_edge_is_flagged_for_review() -> None:
    """The lesion (radius 6 mm) grew to 8.5 mm at a follow-up whose field of view starts 2 mm
    beyond the baseline lesion: the carried cut reaches the scan's first i plane, so the scan
    may not hold all of it (the truth is 2.57 mL inside the scan, more outside). A prompted
    visit gets a warning (the reader saw the scan); a carried one is flagged, naming the edge."""
    from tscimg.longitudinal import carry_lesion

    g = Geometry((48, 48, 24), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    k, j, i = np.indices((24, 48, 48)).astype(float)
    r = np.sqrt((i - 24) ** 2 + (j - 24) ** 2 + ((k - 12) * 2) ** 2)
    texture = 40 * np.sin(i / 3.0) * np.sin(j / 4.0) + 30 * np.cos(k / 2.0)
    noise = np.random.default_rng(0).normal(0, 4, r.shape)

    def scan(radius: float) -> Scan:
        values = 100 + texture + np.where(r < radius, 150.0, 0.0) + noise
        return Scan.from_array(values.astype(np.float32), g)

    baseline = Mask.from_array((r < 6).astype(np.uint8), g)
    follow_up = Scan(sitk.RegionOfInterest(scan(8.5).image, [32, 48, 24], [16, 0, 0]))
    carried = carry_lesion(scan(6.0), baseline, follow_up, "generic")
    assert carried.segmentation is not None
    assert carried.segmentation.image_edges_reached == ("i = 0",)
    assert any("reaches the edge of this scan at i = 0" in r for r in carried.review)


def test_a_lesion_whose_baseline_box_reached_past_the_image_is_carried() -> None:
    """The reader's box at the baseline reaches 2 voxels past the image (the lesion sits 8 mm
    from its edge): segment() clips it for its cut and keeps it as given, and the carried prior
    (the shape inscribed in that box) was then cut from a negative index: ValueError (could not
    broadcast ... into shape (11,17,0)). The prior now comes from the clipped box, as the
    baseline's cut did; the lesion shrunk from 6 to 5 mm radius measures within 10% of its 257
    voxel centres (0.514 mL; measured 0.538)."""
    from tscimg.longitudinal import carry_lesion
    from tscimg.segment import Prompts, segment

    g = Geometry((48, 48, 24), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    k, j, i = np.indices((24, 48, 48)).astype(float)
    r = np.sqrt((i - 8) ** 2 + (j - 24) ** 2 + ((k - 12) * 2) ** 2)
    texture = 40 * np.sin(i / 3.0) * np.sin(j / 4.0) + 30 * np.cos(k / 2.0)

    def scan(radius: float, seed: int) -> Scan:
        noise = np.random.default_rng(seed).normal(0, 4, r.shape)
        return Scan.from_array((100 + texture + np.where(r < radius, 150.0, 0.0) + noise), g)

    baseline = scan(6.0, 0)
    first = segment(
        baseline, Prompts(positive=((8, 24, 12),), box=(-2, 16, 7, 15, 32, 17)), "generic"
    )
    assert first.prompts.box == (-2, 16, 7, 15, 32, 17)
    carried = carry_lesion(LesionReference(baseline, first.mask, "2024-01-01", first), None,
                           scan(5.0, 1), "generic")  # fmt: skip
    truth_ml = int((r < 5).sum()) * 2.0 / 1000
    assert carried.mask.volume_ml() == pytest.approx(truth_ml, rel=0.10)
    assert carried.review == ()


def test_a_baseline_prompted_with_a_box_alone_is_carried_like_its_box_centre_click() -> None:
    """segment() takes a box without a point and uses its centre as the click; carrying that
    baseline mapped only the reader's (absent) clicks and refused every follow-up with "the
    lesion ... maps outside this scan" (through track: every follow-up not measured,
    not_evaluable). The box's centre is now the carried click: the follow-up's mask is voxel
    for voxel the one carried from the same box with that click given."""
    baseline = tscimg.load_scan(SAMPLE_SCANS / "TSC-002" / "2024-02-20" / "dicom")
    follow_up = tscimg.load_scan(SAMPLE_SCANS / "TSC-002" / "2024-09-02" / "dicom")
    box = (17, 13, 11, 41, 37, 31)
    alone = segment(baseline, Prompts(box=box), "sega")
    clicked = segment(baseline, Prompts(positive=((29, 25, 21),), box=box), "sega")
    np.testing.assert_array_equal(alone.mask.array_view(), clicked.mask.array_view())
    carried = [
        carry_lesion(LesionReference(baseline, s.mask, "2024-02-20", s), None, follow_up, "sega")
        for s in (alone, clicked)
    ]
    assert carried[0].mask.voxel_count() > 0
    np.testing.assert_array_equal(carried[0].mask.array_view(), carried[1].mask.array_view())
    assert carried[0].review == ()


def test_a_ct_follow_up_of_another_contrast_phase_is_warned(tmp_path: Path) -> None:
    """An unenhanced CT baseline and an enhanced follow-up (kidney 35 -> 160 HU): Hounsfield
    units are one scale, so nothing was mapped or said, and -25% read as -30.2%, a response
    (a helper's registration audit). The carried visit says the phases differ; the same
    follow-up unenhanced does not."""
    g = Geometry((64, 64, 32), (1.5, 1.5, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    k, j, i = np.indices((32, 64, 64))
    kidney = ((i - 32) / 18) ** 2 + ((j - 32) / 14) ** 2 + ((k - 16) / 10) ** 2 < 1
    aml = ((i - 30) / 6) ** 2 + ((j - 32) / 5) ** 2 + ((k - 16) / 4) ** 2 < 1
    rng = np.random.default_rng(0)

    def ct(kidney_hu: float) -> Scan:
        values = np.where(aml, -100.0, np.where(kidney, kidney_hu, 40.0))
        values = values + rng.normal(0, 8, values.shape)
        return Scan.from_array(values.astype(np.int16), g, modality="CT")

    baseline = ct(35.0)
    seg = segment(baseline, Prompts(positive=((30, 32, 16),)), "aml")
    reference = LesionReference(baseline, seg.mask, "2024-01-10", seg)
    for kidney_hu, warned in ((160.0, True), (35.0, False)):
        carried = carry_lesion(reference, None, ct(kidney_hu), "aml")
        said = [w for w in carried.warnings if "contrast phase" in w]
        assert bool(said) is warned, carried.warnings
        if warned:
            assert "reads +12" in said[0] and "since 2024-01-10" in said[0]


def _halo_scan(lesion: Ellipsoid, pose: RigidPose, seed: int) -> sitk.Image:
    """A bright, homogeneous lesion (300) in a halo (160) on a background (100), noise sd 8."""
    g = centred_geometry((48, 48, 40), (1.0, 1.0, 1.2))
    halo = Ellipsoid((0.0, 0.0, 0.0), (22.0, 22.0, 22.0))
    values = render(g, pose, 100.0, [Layer(halo, 160.0), Layer(lesion, 300.0)])
    values += np.random.default_rng(seed).normal(0.0, 8.0, values.shape)
    return g.apply_to(sitk.GetImageFromArray(values.astype(np.float32)))


def test_a_baseline_its_growing_would_decide_carries_a_model_to_its_follow_ups(
    tmp_path: Path,
) -> None:
    """A lesion whose region growing spans the reader's box decides alone in ``segment()`` and
    learns no intensity model; at a prompted visit ``tscimg track`` lets the cut place that
    border, so its follow-ups reuse the model (BRATS pat0006's FLAIR tumour: every follow-up's
    growing leaked and a cut learned afresh read +37% on the unchanged scan), and the same scan
    twice is still 0.0%. Truth: the analytic ellipsoid volumes (-35%)."""
    lesion = Ellipsoid((0.0, 0.0, 0.0), (9.0, 7.0, 6.0), (10.0, 0.0, 20.0))
    baseline = tmp_path / "baseline.nii.gz"
    sitk.WriteImage(_halo_scan(lesion, RigidPose(), 0), str(baseline))
    smaller = lesion.scaled_to_volume(0.65 * lesion.volume_ml)
    follow_up = tmp_path / "follow_up.nii.gz"
    moved = RigidPose((3.0, -2.0, 4.0), (2.0, 1.0, -1.5))
    sitk.WriteImage(_halo_scan(smaller, moved, 1), str(follow_up))
    scan = tscimg.load_scan(baseline)
    g = scan.geometry
    truth = render(g, RigidPose(), 0.0, [Layer(lesion, 1.0)]) >= 0.5
    box = label_box(truth)
    alone = segment(
        scan, Prompts(positive=(interior_point(truth, g.spacing_mm[::-1]),), box=box), "sega"
    )
    assert alone.intensity_model is None  # the growing decided: the case this test is about
    box_lps = ";".join(f"{v:.3f}" for v in (*g.index_to_lps(box[:3]), *g.index_to_lps(box[3:])))
    first = {"date": "2024-02-20", "image": str(baseline), "point_lps": _point([0.0, 0.0, 0.0]),
             "box_lps": box_lps, "treatment_start": "2024-03-01"}  # fmt: skip
    a = _track(
        tmp_path,
        [first, {"date": "2024-03-20", "image": str(baseline)},
         {"date": "2025-03-01", "image": str(follow_up)}],
    )  # fmt: skip
    _, same, later = a["timepoints"]
    assert same["change_from_baseline_pct"] == 0.0
    assert later["lesions"]["L1"]["registration"]["intensity_map"] is not None
    assert later["change_from_baseline_pct"] == pytest.approx(-35.0, abs=3.0)
    assert later["change_registration_pct"] == pytest.approx(-35.0, abs=5.0)
    assert a["status"] == "response"
    # still the preset's name in the report (the switched-off shortcut is in the provenance)
    assert {t["lesions"]["L1"]["method"] for t in a["timepoints"]} == {"sega-mr/graph_cut"}


def _halo_visits(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """The halo lesion at baseline, the same scan again, and the lesion -35% with the patient
    moved (its centre at (2, 1, -1.5) mm LPS); and the reader's baseline box (LPS)."""
    lesion = Ellipsoid((0.0, 0.0, 0.0), (9.0, 7.0, 6.0), (10.0, 0.0, 20.0))
    tmp_path.mkdir(parents=True, exist_ok=True)
    baseline = tmp_path / "baseline.nii.gz"
    sitk.WriteImage(_halo_scan(lesion, RigidPose(), 0), str(baseline))
    follow_up = tmp_path / "follow_up.nii.gz"
    moved = RigidPose((3.0, -2.0, 4.0), (2.0, 1.0, -1.5))
    smaller = lesion.scaled_to_volume(0.65 * lesion.volume_ml)
    sitk.WriteImage(_halo_scan(smaller, moved, 1), str(follow_up))
    g = tscimg.load_scan(baseline).geometry
    box = label_box(render(g, RigidPose(), 0.0, [Layer(lesion, 1.0)]) >= 0.5)
    box_lps = ";".join(f"{v:.3f}" for v in (*g.index_to_lps(box[:3]), *g.index_to_lps(box[3:])))
    return baseline, baseline, follow_up, box_lps


def test_a_follow_up_re_prompted_with_a_click_is_segmented_like_its_carried_self(
    tmp_path: Path,
) -> None:
    """A follow-up the reader prompts with a click alone, after a baseline prompted with a box,
    is segmented within the box carried from the baseline with its intensity model and
    parameters (the click, on the carried outline, confirms it): the click alone was grown,
    not cut, and the same scan re-prompted at the baseline's own click read -16.1% (the -35%
    follow-up -46.5%). Truth: the same scan twice is 0.0% exactly; the analytic ellipsoid
    volumes (-35%)."""
    baseline, same, follow_up, box_lps = _halo_visits(tmp_path)
    first = {"date": "2024-02-20", "image": str(baseline), "point_lps": _point([0.0, 0.0, 0.0]),
             "box_lps": box_lps, "treatment_start": "2024-03-01"}  # fmt: skip
    a = _track(
        tmp_path,
        [first, {"date": "2024-03-20", "image": str(same), "point_lps": "0;0;0"},
         {"date": "2025-03-01", "image": str(follow_up), "point_lps": "2;1;-1.5"}],
    )  # fmt: skip
    _, again, later = a["timepoints"]
    assert again["change_from_baseline_pct"] == 0.0
    assert [t["lesions"]["L1"]["origin"] for t in a["timepoints"]] == ["prompt"] * 3
    assert later["lesions"]["L1"]["registration"]["intensity_map"] is not None
    assert later["change_from_baseline_pct"] == pytest.approx(-35.0, abs=3.0)
    assert not later["review"] and a["status"] == "response"


def test_a_prompted_follow_up_that_disagrees_with_the_registration_is_flagged(
    tmp_path: Path,
) -> None:
    """A click beside the lesion, in its halo, at the -35% follow-up (baseline and follow-up
    prompted with clicks alone, both grown): the segmentation read +2,706% (the halo), the
    registration -35.0%, and the status was `progression`, the disagreement only a warning.
    The trust gate flags a prompted visit whose two estimates disagree by more than 10 points,
    and says to give the mask or a box. Truth: the analytic volumes (-35%)."""
    baseline, _, follow_up, _ = _halo_visits(tmp_path)
    first = {"date": "2024-02-20", "image": str(baseline), "point_lps": "0;0;0",
             "treatment_start": "2024-03-01"}  # fmt: skip
    a = _track(
        tmp_path, [first, {"date": "2025-03-01", "image": str(follow_up), "point_lps": "3;-2;4"}]
    )
    _, beside = a["timepoints"]
    assert beside["change_registration_pct"] == pytest.approx(-35.0, abs=5.0)
    assert beside["change_from_baseline_pct"] > 100.0  # the halo, measured
    assert a["status"] == "not_evaluable"
    assert any("the two change estimates disagree" in r for r in beside["review"])


def test_clicks_at_a_carried_follow_up_are_points_only() -> None:
    """``carry_lesion(..., clicks=...)`` takes the reader's clicks at the follow-up; a box there
    is a prompt of its own (``segment()``), and clicks without a positive point place nothing."""
    scan = tscimg.load_scan(BASELINE)
    mask = Mask.from_array(np.zeros(scan.geometry.size[::-1], dtype=np.uint8), scan.geometry)
    centre = scan.geometry.lps_to_index(CENTRE_LPS)
    click = tuple(round(v) for v in centre)
    for clicks, said in (
        (Prompts(positive=(click,), box=(0, 0, 0, 5, 5, 5)), "a box is a prompt of its own"),
        (Prompts(negative=(click,)), "no positive point"),
    ):
        with pytest.raises(tscimg.InputError, match=said):
            carry_lesion(scan, mask, scan, "sega", clicks=clicks)


def test_a_re_prompted_click_off_the_carried_lesion_is_not_absorbed(tmp_path: Path) -> None:
    """A reader's click at a follow-up outside the box carried from the box-prompted baseline
    (18 mm from the lesion, which the registration places at (2, 1, -1.5) mm) once stretched
    the carried box to reach it; it is segmented from the click alone, with a warning saying
    where the click lies, and the registration's estimate (-35%, the truth) flags what it
    measured. A click outside the image is a clear error, not an internal one."""
    baseline, _, follow_up, box_lps = _halo_visits(tmp_path)
    first = {"date": "2024-02-20", "image": str(baseline), "point_lps": "0;0;0",
             "box_lps": box_lps, "treatment_start": "2024-03-01"}  # fmt: skip
    a = _track(
        tmp_path / "far",
        [first, {"date": "2025-03-01", "image": str(follow_up), "point_lps": "18;14;8"}],
    )
    _, far = a["timepoints"]
    said = " ".join(far["lesions"]["L1"]["warnings"])
    assert "lies outside the box carried from the visit of 2024-02-20" in said
    assert far["change_registration_pct"] == pytest.approx(-35.0, abs=5.0)
    assert a["status"] == "not_evaluable"
    assert any("the two change estimates disagree" in r for r in far["review"])
    manifest = tmp_path / "outside.csv"
    manifest.write_text(
        "patient_id,date,image,lesion_id,lesion_type,point_lps,box_lps\n"
        f"P,2024-02-20,{baseline},L1,sega,0;0;0,{box_lps}\n"
        f"P,2025-03-01,{follow_up},L1,sega,25;20;10,\n"
    )
    (error,) = tscimg.track(manifest, tmp_path / "outside").errors
    assert "positive point (49, 44, 28) lies outside the image" in str(error)


def test_a_re_prompted_click_whose_registration_fails_is_flagged_and_not_registered_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the registration fails, the click alone is segmented (grown, where the baseline
    was cut: -16.1% for the same scan) and nothing checks the change: flagged, and the
    registration is not tried a second time for the change estimate."""
    import tscimg.batch.patient as patient

    baseline, same, _, box_lps = _halo_visits(tmp_path)
    calls: list[str] = []

    def failing(reference: object, scan: Scan, *args: object, **kwargs: object) -> None:
        calls.append(str(scan.source))
        raise tscimg.InputError("ITK found no overlap between the two scans")

    monkeypatch.setattr(patient, "register_lesion", failing)
    first = {"date": "2024-02-20", "image": str(baseline), "point_lps": "0;0;0",
             "box_lps": box_lps, "treatment_start": "2024-03-01"}  # fmt: skip
    a = _track(tmp_path, [first, {"date": "2025-03-01", "image": str(same), "point_lps": "0;0;0"}])
    _, again = a["timepoints"]
    (reason,) = again["review"]
    assert "segmented from its click alone" in reason and "registration failed" in reason
    assert "cannot check the change" in reason
    assert len(calls) == 1 and a["status"] == "not_evaluable"


def test_a_re_prompted_click_is_not_segmented_alike_a_flagged_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Later visits are never carried from a flagged visit (DESIGN.md section 5): with the only
    reference flagged, a click alone at a follow-up takes nothing from it (no carried box or
    intensity model) and is segmented on its own."""
    import tscimg.batch.patient as patient

    original = patient._References.to_carry_from

    def flagged(self: Any) -> tuple[LesionReference, tuple[str, ...]]:
        reference, _ = original(self)
        return reference, ("carried from 2024-02-20, which is itself flagged (a test's flag)",)

    monkeypatch.setattr(patient._References, "to_carry_from", flagged)
    baseline, same, _, box_lps = _halo_visits(tmp_path)
    first = {"date": "2024-02-20", "image": str(baseline), "point_lps": "0;0;0",
             "box_lps": box_lps, "treatment_start": "2024-03-01"}  # fmt: skip
    a = _track(tmp_path, [first, {"date": "2025-03-01", "image": str(same), "point_lps": "0;0;0"}])
    _, again = a["timepoints"]
    assert "intensity_map" not in again["lesions"]["L1"]["registration"]
    assert again["change_from_baseline_pct"] == pytest.approx(-16.1, abs=0.5)  # grown alone


@pytest.mark.parametrize("clicked_on", ["follow-up", "same scan", "follow-up, corrected"])
def test_a_visit_clicked_alike_does_not_take_over_as_the_reference(
    tmp_path: Path, clicked_on: str
) -> None:
    """A follow-up re-prompted with a click and segmented within the box carried from the
    baseline (on a moved -35% scan, or on the baseline's own scan at another click, both
    confirming the carried outline; or on the moved scan with a negative click too, cut from
    the reader's clicks) is carried work, not the reader's own outline: the next visit is
    carried from the baseline, not chained from it (on the KiTS case_00137 phantom re-prompted
    at every follow-up, chaining read +18.2% for a true -9% at +40% from the nadir). Truth: the
    next visit is the baseline's own scan (carried from the baseline, the identity: exactly
    0.0%) or the -35% scan (analytic)."""
    baseline, _, follow_up, box_lps = _halo_visits(tmp_path)
    first = {"date": "2024-02-20", "image": str(baseline), "point_lps": "0;0;0",
             "box_lps": box_lps, "treatment_start": "2024-03-01"}  # fmt: skip
    if clicked_on.startswith("follow-up"):
        clicked = {"date": "2024-09-01", "image": str(follow_up), "point_lps": "2;1;-1.5"}
        if clicked_on.endswith("corrected"):  # a negative click in the halo: not a confirmation
            clicked["negative_lps"] = "2;13;-1.5"
        later = {"date": "2025-03-01", "image": str(baseline)}
    else:
        clicked = {"date": "2024-09-01", "image": str(baseline), "point_lps": "1;1;0"}
        later = {"date": "2025-03-01", "image": str(follow_up)}
    a = _track(tmp_path, [first, clicked, later])
    _, prompted, carried = a["timepoints"]
    assert prompted["lesions"]["L1"]["origin"] == "prompt"
    confirmed = any(
        "its outline is the carried one" in w for w in prompted["lesions"]["L1"]["warnings"]
    )
    assert confirmed is not clicked_on.endswith("corrected")
    assert not prompted["review"]  # trusted: only the rule keeps it from becoming the reference
    assert carried["lesions"]["L1"]["origin"] == "carried"
    assert carried["lesions"]["L1"]["registration"]["from_date"] == "2024-02-20"
    if clicked_on.startswith("follow-up"):
        assert carried["change_from_baseline_pct"] == 0.0
    else:
        assert carried["change_from_baseline_pct"] == pytest.approx(-35.0, abs=3.0)


def test_a_click_segmented_alone_does_not_replace_a_boxed_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a re-prompted click could not be segmented alike (here: the cut within the carried
    box is made to fail), the click alone is segmented with a warning; were that visit trusted
    (here: the trust gate's change checks are made to pass, as where the two methods agree), it
    still does not become the reference, so the next visit is carried from the box-prompted
    baseline. Truth: the next visit is the baseline's own scan, carried from the baseline (the
    identity): exactly 0.0%."""
    import tscimg.batch.patient as patient
    from tscimg.core.errors import PromptError

    original = patient.carry_lesion

    def refusing_clicks(*args: Any, **kwargs: Any) -> Any:
        if len(args) > 6 or "clicks" in kwargs:
            raise PromptError("the click lies outside the box carried from the visit")
        return original(*args, **kwargs)

    monkeypatch.setattr(patient, "carry_lesion", refusing_clicks)
    monkeypatch.setattr(patient, "change_review", lambda *args, **kwargs: ([], []))
    baseline, _, follow_up, box_lps = _halo_visits(tmp_path / "scans")
    first = {"date": "2024-02-20", "image": str(baseline), "point_lps": "0;0;0",
             "box_lps": box_lps, "treatment_start": "2024-03-01"}  # fmt: skip
    clicked = {"date": "2024-09-01", "image": str(follow_up), "point_lps": "2;1;-1.5"}
    later = {"date": "2025-03-01", "image": str(baseline)}
    a = _track(tmp_path, [first, clicked, later])
    _, alone, carried = a["timepoints"]
    said = " ".join(alone["lesions"]["L1"]["warnings"])
    assert "segmented from its click alone" in said and not alone["review"]
    assert carried["lesions"]["L1"]["registration"]["from_date"] == "2024-02-20"
    assert carried["change_from_baseline_pct"] == 0.0


def test_clicks_on_the_carried_lesion_confirm_it_wherever_they_fall(tmp_path: Path) -> None:
    """A reader's clicks at a follow-up that lie on the lesion as carried confirm it: the outline
    is the carried one voxel for voxel, wherever on the lesion they fell (on the KiTS phantoms of
    the change-precision benchmark a click 1-4 voxels from the carried one moved the change by
    up to 8 points). A click on what the carried outline misses is used. Truth: the carried
    mask itself, and the analytic ellipsoid volumes (-35%)."""
    baseline, _, follow_up, _ = _halo_visits(tmp_path)
    scan = tscimg.load_scan(baseline)
    g = scan.geometry
    lesion = Ellipsoid((0.0, 0.0, 0.0), (9.0, 7.0, 6.0), (10.0, 0.0, 20.0))
    truth = render(g, RigidPose(), 0.0, [Layer(lesion, 1.0)]) >= 0.5
    prompts = Prompts(positive=(interior_point(truth, g.spacing_mm[::-1]),), box=label_box(truth))
    seg = segment(scan, prompts, "sega")
    reference = LesionReference(scan, seg.mask, "2024-02-20", seg)
    later = tscimg.load_scan(follow_up)
    carried = carry_lesion(reference, None, later, "sega")
    change = 100.0 * (carried.mask.volume_ml() / reference.volume_ml - 1.0)
    assert change == pytest.approx(-35.0, abs=3.0)
    outline = carried.mask.array_view() > 0
    depth = ndimage.distance_transform_edt(outline, sampling=later.geometry.spacing_mm[::-1])
    deep = [tuple(int(v) for v in p[::-1]) for p in np.argwhere(depth >= 2.5)]
    for clicks in ((deep[0],), (deep[-1],), (deep[len(deep) // 2], deep[0])):
        confirmed = carry_lesion(reference, None, later, "sega", deformation=carried.deformation,
                                 clicks=Prompts(positive=clicks))  # fmt: skip
        assert np.array_equal(confirmed.mask.array_view() > 0, outline), clicks
        assert any("its outline is the carried one" in w for w in confirmed.warnings)
    # a click beside the carried outline, in the halo but within the carried box: used
    box = carried.prompts.box
    assert box is not None
    lo, hi = np.asarray(box[:3]), np.asarray(box[3:])
    away = ndimage.distance_transform_edt(~outline)  # voxels to the carried outline
    beside = [
        tuple(int(v) for v in p[::-1])
        for p in np.argwhere((away >= 2) & (away <= 3))
        if np.all(p[::-1] > lo) and np.all(p[::-1] < hi)
    ]
    used = carry_lesion(reference, None, later, "sega", deformation=carried.deformation,
                        clicks=Prompts(positive=(beside[0],)))  # fmt: skip
    i, j, k = beside[0]
    assert used.mask.array_view()[k, j, i] > 0
    assert not any("its outline is the carried one" in w for w in used.warnings)


@pytest.mark.parametrize(("case", "seed"), [("case_00017", 0), ("case_00137", 2)])
def test_a_real_aml_re_prompted_anywhere_on_it_reads_exactly_zero(case: str, seed: int) -> None:
    """The KiTS AML phantoms of the change-precision benchmark (real tumour shapes; the same
    seeds), box-prompted at the protocol's click, then the same scan re-prompted with one click
    at points 2 mm or more inside the lesion: within the carried box, from the click, these
    read -17.9% to +10.4% (case_00017 -17.9 to -5.2, case_00137 -18.9 to +10.4 at seven
    points each; four are tried here); a click on the lesion as carried now confirms it. Truth:
    the same scan twice, exactly 0.0%."""
    labels = tscimg.load_mask(shared_data("kits_aml", case, "segmentation.nii.gz"))
    scan, tumour = aml_ct_phantom(labels, seed)
    g = scan.geometry
    prompts = Prompts(positive=(interior_point(tumour, g.spacing_mm[::-1]),), box=label_box(tumour))
    seg = segment(scan, prompts, "aml")
    reference = LesionReference(scan, seg.mask, "2025-01-15", seg)
    outline = seg.mask.array_view() > 0
    depth = ndimage.distance_transform_edt(outline, sampling=g.spacing_mm[::-1])
    inside = [tuple(int(v) for v in p[::-1]) for p in np.argwhere(depth >= 2.0)]
    for click in inside[:: len(inside) // 4][:4]:
        again = carry_lesion(reference, None, scan, "aml", clicks=Prompts(positive=(click,)))
        assert np.array_equal(again.mask.array_view() > 0, outline), click
        assert again.confirmed
