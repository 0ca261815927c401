"""Longitudinal tracking end to end on the sample scans, and the batch guarantees.

Truth comes from sample_scans/truth.json (analytic ellipsoid volumes and the generator's known
status); prompts are given at baseline only, every follow-up is repositioned (up to 6 degrees,
12 mm) with a different slice thickness, so each follow-up lesion is carried by registration.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from builders import SAMPLE_SCANS, run_tscimg
from dicom_output_checks import (  # noqa: F401  collected here: they use the demo below
    DICOM_PATIENTS,
    test_every_dicom_visit_gets_a_seg_that_reads_back_voxel_for_voxel,
    test_every_seg_and_sr_passes_dciodvfy,
    test_every_sr_reads_back_with_highdicom_to_the_reported_volumes,
)
from report_browser_checks import (  # noqa: F401  collected here: they use the demo below
    test_every_image_loads_and_the_console_is_clean,
    test_report_pdf_has_the_same_content,
    test_report_pdf_pages_as_pictures,
)

import tscimg
from tscimg.longitudinal import ResponseStatus, register
from tscimg.synthetic.rendering import voxel_centres_lps

TRUTH = json.loads((SAMPLE_SCANS / "truth.json").read_text())
VOLUMETRIC = [p for p in TRUTH["patients"] if p["visits"][0]["frame"] is None]
ECHO_2D = [p for p in TRUTH["patients"] if p["visits"][0]["frame"] is not None]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    out = tmp_path_factory.mktemp("demo")
    result = run_tscimg("demo", "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    report = json.loads((out / "report.json").read_text())
    return out, summary, report


@pytest.fixture(scope="module")
def demo_report(demo: tuple[Path, dict[str, Any], dict[str, Any]]) -> Path:
    """The demo's report.html, for the browser and PDF checks imported above."""
    return demo[0] / "report.html"


@pytest.fixture(scope="module")
def tracked(demo: tuple[Path, dict[str, Any], dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """The demo's output folder and its report of the DICOM patients, for the DICOM SEG and SR
    checks imported above."""
    out, _, report = demo
    dicom = [p for p in report["patients"] if p["patient_id"] in DICOM_PATIENTS]
    return out, {**report, "patients": dicom}


def _assessment(report: dict[str, Any], patient_id: str) -> dict[str, Any]:
    (patient,) = [p for p in report["patients"] if p["patient_id"] == patient_id]
    (assessment,) = patient["assessments"]
    return assessment


@pytest.mark.parametrize("truth", VOLUMETRIC, ids=lambda t: t["patient_id"])
def test_every_sample_status_and_change_matches_the_truth(
    demo: tuple[Path, dict[str, Any], dict[str, Any]], truth: dict[str, Any]
) -> None:
    _, _, report = demo
    a = _assessment(report, truth["patient_id"])
    assert a["status"] == truth["expected_status"]
    assert a["lesion_type"] == truth["lesion_type"]
    assert a["baseline_date"] == truth["visits"][0]["date"]
    assert [t["date"] for t in a["timepoints"]] == [v["date"] for v in truth["visits"]]
    for tp, visit in zip(a["timepoints"], truth["visits"], strict=True):
        assert tp["change_from_baseline_pct"] == pytest.approx(
            visit["change_from_baseline_pct"], abs=3.0
        ), tp["date"]
        assert tp["total_volume_ml"] == pytest.approx(visit["total_volume_ml"], rel=0.10)
        assert not tp["review"], tp["date"]
        if not tp["is_baseline"]:
            # the registration's own estimate: within 5 points of the segmentation's (issue 14's
            # target) and of the truth
            reg = tp["change_registration_pct"]
            assert reg == pytest.approx(tp["change_from_baseline_pct"], abs=5.0), tp["date"]
            assert reg == pytest.approx(visit["change_from_baseline_pct"], abs=5.0), tp["date"]
    follow_ups = [tp["lesions"]["L1"] for tp in a["timepoints"][1:]]
    assert all(lesion["origin"] == "carried" for lesion in follow_ups)
    assert all(lesion["registration"]["quality_ncc"] > 0.8 for lesion in follow_ups)


@pytest.mark.parametrize("truth", ECHO_2D, ids=lambda t: t["patient_id"])
def test_2d_echo_study_status_areas_and_volume_estimates_match_the_truth(
    demo: tuple[Path, dict[str, Any], dict[str, Any]], truth: dict[str, Any]
) -> None:
    """Issue 7: area within 10% of the analytic section; the area-length volume (an estimate
    that squares the area's error) within 15%; the status right. Single speckled frames are
    noisy: over 12 speckle realizations the area error is -3.3% +- 2.9% (docs/echo.md)."""
    _, _, report = demo
    a = _assessment(report, truth["patient_id"])
    assert a["status"] == truth["expected_status"]
    for tp, visit in zip(a["timepoints"], truth["visits"], strict=True):
        lesion, true = tp["lesions"]["L1"], visit["lesions"]["L1"]
        assert lesion["origin"] == "prompt" and lesion["scan"]["frame"] == visit["frame"]
        assert lesion["volume_method"] == "single-plane area-length (2D)"
        assert lesion["area_mm2"] == pytest.approx(true["area_mm2"], rel=0.10)
        assert lesion["volume_ml"] == pytest.approx(true["volume_ml"], rel=0.15)
        assert lesion["long_axis_mm"] == pytest.approx(true["longest_diameter_mm"], rel=0.10)
        assert tp["change_from_baseline_pct"] == pytest.approx(
            visit["change_from_baseline_pct"], abs=10.0
        )
    assert not any("different methods" in w for w in a["warnings"])


def test_report_files_follow_the_contract(
    demo: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    out, summary, report = demo
    assert report["schema"] == "tscimg.report/1"
    assert (
        report["criteria"]["name"] == "tsc" and report["criteria"]["response_reduction_pct"] == 30
    )
    assert report["software"]["tscimg"] and report["errors"] == []
    assert "not a medical device" in report["disclaimer"]
    a = _assessment(report, "TSC-002")
    assert {"baseline_date", "nadir_date", "best_change_pct", "response", "progression",
            "non_response_12m", "status", "timepoints"} <= a.keys()  # fmt: skip
    assert a["non_response_12m"] is True and any("trough" in r for r in a["recommendations"])
    aml = _assessment(report, "TSC-001")  # 5 / 2.5 / 3 / 5 mm slices
    assert sum("slice thickness changed" in w for w in aml["warnings"]) == 3
    tp = a["timepoints"][-1]
    assert {"date", "months_on_treatment", "lesions", "total_volume_ml",
            "change_from_baseline_pct", "change_from_nadir_pct"} <= tp.keys()  # fmt: skip
    assert tp["months_on_treatment"] == pytest.approx(12.13, abs=0.01)  # 2024-03-01 -> 2025-03-05
    # the demo's treatment file: TSC-002's troughs below 5 ng/mL in the 12 months are named
    assert any("3.4 ng/mL on 2024-03-29, 4.1 ng/mL on 2024-06-27, 4.4 ng/mL on 2025-02-27" in r
               for r in a["recommendations"])  # fmt: skip
    # TSC-001 paused 21 days (2024-10-07 to 2024-10-28): 2024-01-15 to 2025-07-15 less those
    # days, to 2025-06-24: 17 months and 9 of June's 30 days
    assert aml["timepoints"][-1]["months_on_treatment"] == pytest.approx(17 + 9 / 30, abs=0.005)
    assert any("17.6 ng/mL on 2024-07-10 is above 15" in w
               for w in report["patients"][0]["warnings"])  # fmt: skip
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert len(rows) == sum(len(p["visits"]) for p in TRUTH["patients"])
    # each row's status as of its visit; the assessment's latest status beside it
    assert [(r["status"], r["latest_status"]) for r in rows if r["patient_id"] == "TSC-002"] == [
        ("no_baseline", "non_response_12m"),
        ("too_early", "non_response_12m"),
        ("non_response_12m", "non_response_12m"),
    ]
    assert not any(v.startswith("-0.0") for r in rows for v in r.values())
    html = (out / "report.html").read_text()
    assert "not a medical device" in html and "non_response_12m" in html
    for patient in report["patients"]:  # provenance: every input scan's hash is on the page
        for tp in patient["assessments"][0]["timepoints"]:
            assert tp["lesions"]["L1"]["scan"]["sha256"][:16] in html
    assert summary["report"] == str(out / "report.html")


def test_masks_overlay_their_scans(demo: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    out, _, report = demo
    for patient in report["patients"]:
        for tp in patient["assessments"][0]["timepoints"]:
            lesion = tp["lesions"]["L1"]
            scan = tscimg.load_scan(SAMPLE_SCANS / lesion["image"])
            mask = tscimg.load_mask(out / lesion["mask"], reference=scan)  # checks the grid
            assert mask.voxel_count() == lesion["voxel_count"]


def test_rerun_resumes_and_gives_the_same_report(
    demo: tuple[Path, dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    out, _, report = demo
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    # the demo's run: the manifest with the sample treatment file
    result = tscimg.track(
        SAMPLE_SCANS / "manifest.csv", copy, treatment=SAMPLE_SCANS / "treatment.csv"
    )
    assert result.provenance["resumed_patients"] == ["TSC-001", "TSC-002", "TSC-003", "TSC-004"]
    again = json.loads((copy / "report.json").read_text())
    assert again["patients"] == report["patients"]


def test_changed_input_is_recomputed_and_a_bad_case_fails_alone(tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    shutil.copytree(SAMPLE_SCANS / "TSC-003", samples / "TSC-003")
    rows = [r for r in (SAMPLE_SCANS / "manifest.csv").read_text().splitlines() if "TSC-003" in r]
    broken = samples / "BAD-1" / "scan.nii.gz"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"this is not a NIfTI file")
    header = (SAMPLE_SCANS / "manifest.csv").read_text().splitlines()[0]
    bad_row = "BAD-1,2024-01-01,BAD-1/scan.nii.gz,L1,aml,,1;2;3,,,,,,,,2024-01-02,"
    (samples / "manifest.csv").write_text("\n".join([header, *rows, bad_row]) + "\n")
    out = tmp_path / "out"
    result = run_tscimg(
        "track", str(samples / "manifest.csv"), "-o", str(out), "--json", "--jobs", "2"
    )
    assert result.returncode == 3, result.stderr
    summary = json.loads(result.stdout)
    (error,) = summary["errors"]
    assert error["patient_id"] == "BAD-1" and error["date"] == "2024-01-01"
    assert "scan.nii.gz" in error["message"]
    report = json.loads((out / "report.json").read_text())
    assert [p["patient_id"] for p in report["patients"]] == ["TSC-003"]
    assert report["errors"][0]["patient_id"] == "BAD-1"
    (failed,) = [r for r in csv.DictReader((out / "report.csv").open()) if r["error"]]
    assert failed["patient_id"] == "BAD-1" and failed["date"] == "2024-01-01"  # a row of its own
    # change one follow-up: only that patient is recomputed, the state tells which
    target = samples / "TSC-003" / "2024-10-01" / "echo3d.nii.gz"
    target.write_bytes((SAMPLE_SCANS / "TSC-003" / "2024-06-30" / "echo3d.nii.gz").read_bytes())
    rerun = tscimg.track(samples / "manifest.csv", out)
    assert rerun.provenance["resumed_patients"] == []
    last = rerun.patients[0].assessments[0].timepoints[-1]
    assert last.total_volume_ml == pytest.approx(
        rerun.patients[0].assessments[0].timepoints[1].total_volume_ml, rel=0.02
    )
    # the same file now stands at two visits: said, with both dates
    assert any(
        "same image file" in w and "2024-06-30" in w and "2024-10-01" in w
        for w in rerun.patients[0].warnings
    )


def test_bad_manifest_exits_1_naming_row_and_column(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("patient_id,date,image,colour\nP1,2024-01-01,x.nii.gz,red\n")
    result = run_tscimg("track", str(manifest), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "row 1: unknown column(s) colour" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "report.json").exists()


def test_exist_criteria_change_the_threshold(
    demo: tuple[Path, dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    out, _, _ = demo
    copy = tmp_path / "out"
    shutil.copytree(out, copy)  # resumes: only the assessment is recomputed
    result = run_tscimg(
        "track",
        str(SAMPLE_SCANS / "manifest.csv"),
        "-o",
        str(copy),
        "--criteria",
        "exist",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((copy / "report.json").read_text())
    assert report["criteria"]["name"] == "exist"
    aml = _assessment(report, "TSC-001")
    # the follow-ups at -38% and -45% (true) respond under tsc (30%), not under exist (50%)
    for visit in aml["timepoints"][1:3]:
        assert -50.0 < visit["change_from_baseline_pct"] < -30.0
        assert not visit["response_met"]
    # the last visit is -48% (true), 2 points from the threshold: the status follows the two
    # estimates, each within the 3-point tolerance of the accuracy test below; where they fall
    # on either side of -50% they cannot decide it (the trust gate: not_evaluable)
    last = aml["timepoints"][-1]
    seg, reg = last["change_from_baseline_pct"], last["change_registration_pct"]
    assert seg == pytest.approx(-48.0, abs=3.0) and reg == pytest.approx(-48.0, abs=3.0)
    if (seg <= -50.0) != (reg <= -50.0):
        assert aml["status"] == "not_evaluable"
        assert any("either side of the -50% response threshold" in r for r in last["review"])
    else:
        assert aml["status"] == ("response" if seg <= -50.0 else "non_response_12m")
    echo = _assessment(report, "TSC-003")  # -55% at the last visit, 5 months: response
    assert echo["status"] == "response"


@pytest.mark.parametrize("patient", VOLUMETRIC, ids=lambda t: t["patient_id"])
def test_registration_maps_the_lesion_centre_within_a_millimetre_and_a_half(
    patient: dict[str, Any],
) -> None:
    visits = patient["visits"]
    first = visits[0]
    previous = tscimg.load_scan(SAMPLE_SCANS / first["nifti"])
    centre = np.asarray(first["lesions"]["L1"]["centre_lps"])
    reach = max(first["lesions"]["L1"]["semi_axes_mm"])
    follow = visits[-1]
    result = register(
        previous, tscimg.load_scan(SAMPLE_SCANS / follow["nifti"]), (centre - reach, centre + reach)
    )
    error = np.linalg.norm(
        np.subtract(result.map_point(centre), follow["lesions"]["L1"]["centre_lps"])
    )
    assert error < 1.5
    assert result.quality_ncc > 0.8 > result.quality_ncc_before


def test_registration_of_unrelated_content_is_flagged_as_poor() -> None:
    scan = tscimg.load_scan(SAMPLE_SCANS / "TSC-003" / "2024-04-28" / "echo3d.nii.gz")
    rng = np.random.default_rng(1)
    noise = sitk.GetImageFromArray(rng.normal(0, 1, (64, 64, 64)).astype(np.float32))
    noise.CopyInformation(scan.image)
    centre = np.array([11.0, 2.0, 0.0])
    result = register(scan, tscimg.Scan(noise), (centre - 6, centre + 6))
    assert result.quality_ncc < 0.5
    assert any("poor registration" in w for w in result.warnings)


@pytest.mark.parametrize("patient", ["TSC-001", "TSC-002"])
def test_a_follow_up_mirrored_left_right_is_flagged(patient: str) -> None:
    """A follow-up whose array was flipped left-right but not its header (a conversion error)
    was registered rigidly and its lesion measured on the other side (the other kidney),
    unflagged (a helper's registration audit). A copy of the follow-up flipped back now fits
    clearly better, and the registration says so (a review reason of the carried visit); the
    follow-up as given does not (the sample CT is a synthetic abdomen, the MR a head)."""
    from dataclasses import replace

    visits = next(p for p in TRUTH["patients"] if p["patient_id"] == patient)["visits"]
    previous = tscimg.load_scan(SAMPLE_SCANS / visits[0]["nifti"])
    follow_up = tscimg.load_scan(SAMPLE_SCANS / visits[1]["nifti"])
    assert not any("mirrored" in w for w in register(previous, follow_up).warnings)
    pixels = sitk.GetArrayFromImage(follow_up.image)
    direction = np.asarray(follow_up.image.GetDirection()).reshape(3, 3)
    axis = int(np.argmax(np.abs(direction[0, :])))  # the voxel axis nearest L-R
    flipped = sitk.GetImageFromArray(np.ascontiguousarray(np.flip(pixels, axis=2 - axis)))
    flipped.CopyInformation(follow_up.image)
    (warning,) = [
        w for w in register(previous, replace(follow_up, image=flipped)).warnings if "mirrored" in w
    ]
    assert "check the scan's orientation" in warning


def test_the_mirrored_check_gives_no_verdict_on_a_failed_global_fit() -> None:
    """A second reader's re-sliced head MR (sagittal, NCC 0.19 after the global rigid stage)
    read as mirrored in its true orientation, and its mirrored copy did not: on a failed fit
    either side can score better. Without a fit of NCC 0.5 there is no verdict either way."""
    from tscimg.longitudinal.registration import (
        RegistrationParameters,
        _resampled,
        _rigid_global,
        mirrored_fit_gain,
    )

    visits = next(p for p in TRUTH["patients"] if p["patient_id"] == "TSC-002")["visits"]
    previous = tscimg.load_scan(SAMPLE_SCANS / visits[0]["nifti"]).image
    follow_up = tscimg.load_scan(SAMPLE_SCANS / visits[1]["nifti"]).image
    params = RegistrationParameters()
    fixed, moving = _resampled(previous, 3.0), _resampled(follow_up, 3.0)
    gain = mirrored_fit_gain(fixed, moving, follow_up, _rigid_global(fixed, moving, params), params)
    assert gain is not None and gain < 0  # a good fit: a verdict, not mirrored
    shape = sitk.GetArrayViewFromImage(moving).shape
    noise = sitk.GetImageFromArray(np.random.default_rng(2).normal(0, 1, shape).astype(np.float32))
    noise.CopyInformation(moving)
    rigid = _rigid_global(fixed, noise, params)
    assert mirrored_fit_gain(fixed, noise, follow_up, rigid, params) is None


def test_a_carried_lesion_reaching_its_carried_box_is_flagged_for_review() -> None:
    """The carried box is the reference lesion's registered outline plus the protocol's 10%:
    a follow-up filling it grew beyond it or leaked, so it is flagged (not a reader's box, so
    the reader's "draw the box larger" advice is left out). TSC-002's SEGA (an ellipsoid 14-17
    mm across) carried onto the same scan from a core of radius 4 mm given as a mask: the box
    is about 10 mm wide and the SEGA fills it."""
    from tscimg import Mask
    from tscimg.longitudinal import carry_lesion
    from tscimg.synthetic.studies import sega_mr_study

    visit = sega_mr_study().visits[0]
    geometry = visit.scan.geometry
    centres = np.asarray(voxel_centres_lps(geometry)).reshape((*geometry.size[::-1], 3))
    core = np.linalg.norm(centres - np.asarray(visit.lesion_centre_lps("L1")), axis=-1) <= 4.0
    previous = Mask.from_array(core.astype(np.uint8), geometry)
    # region growing (the MR AML preset), whose box is a guard: the graph cut's shape prior
    # would keep the mask off the box's faces
    carried = carry_lesion(visit.scan, previous, visit.scan, "aml")
    assert carried.registration.is_identity  # the same scan: no registration noise
    assert carried.segmentation is not None and carried.segmentation.box_faces_reached
    assert any("reaches the box carried from" in r for r in carried.review)
    assert not any("box's face" in w for w in carried.segmentation.warnings)


def test_an_input_swapped_after_the_manifest_check_fails_its_patient_by_name(
    tmp_path: Path,
) -> None:
    """An image replaced by a named pipe between the manifest check and the patient's run
    (hashing reads it) fails that patient with the input error naming the file, never as an
    internal error and never a hang."""
    import os

    from tscimg.batch.patient import TrackParameters
    from tscimg.batch.runner import _jobs, run_patient
    from tscimg.io.manifest import read_manifest

    source = SAMPLE_SCANS / "TSC-004" / "2024-05-10" / "echo2d_cine.dcm"
    image = tmp_path / "echo.dcm"
    shutil.copy(source, image)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "patient_id,date,image,lesion_id,lesion_type,point_lps,treatment_start,frame\n"
        "P1,2024-05-10,echo.dcm,L1,rhabdomyoma,30.00;21.20;0.00,2024-05-15,3\n"
    )
    (job,) = _jobs(read_manifest(manifest), None, TrackParameters(), resume=False)
    image.unlink()
    os.mkfifo(image)
    outcome = run_patient(job)
    assert outcome.error is not None and outcome.lesions is None
    assert "internal error" not in outcome.error.message
    assert "echo.dcm" in outcome.error.message


def test_library_track_names_a_wrong_option_before_any_work(tmp_path: Path) -> None:
    """From a library user's script: ``jobs="2"`` failed inside with "'<=' not supported
    between 'str' and 'int'", ``criteria=None`` with an AttributeError, and an output folder
    that is a file with a bare FileExistsError (write_reports too), where the command line
    says "cannot write the output here (it is a file)". Each is an InputError now, and nothing
    is written."""
    from tscimg.longitudinal.criteria import TSC
    from tscimg.longitudinal.results import CohortResult
    from tscimg.report import write_reports

    manifest = SAMPLE_SCANS / "manifest.csv"
    for options, message in (
        ({"jobs": "2"}, "jobs must be a whole number of at least 1, got '2'"),
        ({"jobs": 0}, "jobs must be a whole number of at least 1, got 0"),
        ({"criteria": None}, "response criteria must be a rule set's name"),
    ):
        with pytest.raises(tscimg.InputError, match=message):
            tscimg.track(manifest, tmp_path / "out", **options)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()
    a_file = tmp_path / "afile"
    a_file.write_text("not a folder")
    with pytest.raises(tscimg.InputError, match=r"cannot write the output here \(it is a file\)"):
        tscimg.track(manifest, a_file)
    with pytest.raises(tscimg.InputError, match=r"cannot write the output here \(it is a file\)"):
        write_reports(CohortResult(TSC, ()), str(a_file))
    assert a_file.read_text() == "not a folder"


def test_a_manifest_mask_holding_several_labels_is_refused_not_measured_as_one_lesion(
    tmp_path: Path,
) -> None:
    """A manifest row's mask outlines its one lesion. A label map with two labels (the way a
    KiTS file holds kidney and tumour) was measured as their union: on brain1 a baseline of
    945 mL, -98.3% at an unchanged follow-up, and the status `response`, with no flag. The
    visit is refused now, naming the file and its labels; a one-label mask of the same lesion
    is measured as given."""
    g = tscimg.Geometry((30, 30, 12), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    k, j, i = np.indices((12, 30, 30))
    lesion = (i - 15) ** 2 + (j - 15) ** 2 + ((k - 6) * 2) ** 2 < 36
    scan = tscimg.Scan.from_array(np.where(lesion, 300.0, 100.0).astype(np.float32), g,
                                  modality="MR")  # fmt: skip
    tscimg.write_volume(scan, tmp_path / "v1.nii.gz")
    tscimg.write_volume(scan, tmp_path / "v2.nii.gz")
    one = lesion.astype(np.uint8)
    two = one.copy()
    two[:, :5, :] = 2  # a second structure, as a kidney beside its tumour
    tscimg.write_volume(tscimg.Mask.from_array(one, g), tmp_path / "one.nii.gz")
    tscimg.write_volume(tscimg.Mask.from_array(two, g), tmp_path / "two.nii.gz")
    rows = "patient_id,date,image,lesion_id,lesion_type,mask,treatment_start\n"
    (tmp_path / "two.csv").write_text(
        rows + "P1,2024-01-10,v1.nii.gz,L1,sega,two.nii.gz,2024-01-15\n"
        "P1,2024-07-10,v2.nii.gz,L1,sega,one.nii.gz,\n"
    )
    result = tscimg.track(tmp_path / "two.csv")
    assert result.patients == ()
    assert len(result.errors) == 1
    assert "holds 2 labels (1, 2)" in result.errors[0].message
    assert "two.nii.gz" in result.errors[0].message
    (tmp_path / "one.csv").write_text(
        rows + "P1,2024-01-10,v1.nii.gz,L1,sega,one.nii.gz,2024-01-15\n"
        "P1,2024-07-10,v2.nii.gz,L1,sega,one.nii.gz,\n"
    )
    measured = tscimg.track(tmp_path / "one.csv").patients[0].assessments[0]
    assert measured.timepoints[0].total_volume_ml == pytest.approx(lesion.sum() * 2.0 / 1000)
    assert measured.timepoints[1].change_from_baseline_pct == pytest.approx(0.0)


def test_an_empty_mask_from_the_reader_records_the_lesion_as_gone(tmp_path: Path) -> None:
    """A reader's empty mask at a follow-up (the AML has gone: a complete response) failed the
    whole patient, the SEGA's assessment with it ("the mask is empty ... --label", an option
    track lacks). It is the lesion measured as 0 mL now, with a warning, and the patient's
    other lesion types stand."""
    g = tscimg.Geometry((30, 30, 12), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    k, j, i = np.indices((12, 30, 30))
    aml = (i - 10) ** 2 + (j - 15) ** 2 + ((k - 6) * 2) ** 2 < 25
    sega = (i - 22) ** 2 + (j - 15) ** 2 + ((k - 6) * 2) ** 2 < 16
    scan = tscimg.Scan.from_array(np.where(aml | sega, 300.0, 100.0).astype(np.float32), g,
                                  modality="MR")  # fmt: skip
    tscimg.write_volume(scan, tmp_path / "v.nii.gz")
    for name, labels in (("aml", aml), ("sega", sega), ("empty", np.zeros_like(aml))):
        mask = tscimg.Mask.from_array(labels.astype(np.uint8), g)
        tscimg.write_volume(mask, tmp_path / f"{name}.nii.gz")
    (tmp_path / "m.csv").write_text(
        "patient_id,date,image,lesion_id,lesion_type,mask,treatment_start\n"
        "P1,2024-01-10,v.nii.gz,L1,aml,aml.nii.gz,2024-01-15\n"
        "P1,2024-01-10,v.nii.gz,S1,sega,sega.nii.gz,\n"
        "P1,2024-07-10,v.nii.gz,L1,aml,empty.nii.gz,\n"
        "P1,2024-07-10,v.nii.gz,S1,sega,sega.nii.gz,\n"
    )
    result = tscimg.track(tmp_path / "m.csv", tmp_path / "out")
    assert result.errors == ()
    by_type = {a.lesion_type.value: a for a in result.patients[0].assessments}
    gone = by_type["aml"].timepoints[-1]
    assert gone.total_volume_ml == 0.0 and gone.change_from_baseline_pct == -100.0
    assert by_type["aml"].status is ResponseStatus.RESPONSE
    assert by_type["sega"].timepoints[-1].change_from_baseline_pct == pytest.approx(0.0)
    (lesion,) = [lv for lv in result.patients[0].lesions if lv.volume_ml == 0.0]
    assert any("recorded as gone (0 mL)" in w for w in lesion.warnings)
    assert (tmp_path / "out" / "masks" / "P1" / "2024-07-10_L1.nii.gz").is_file()


def test_a_visit_folder_of_two_dicom_series_says_what_a_track_user_can_do(tmp_path: Path) -> None:
    """A visit folder holding two series failed with "Choose one with --series UID", an
    option track does not have (and a manifest has no series column): the hint now says to
    give each series a folder of its own."""
    both = tmp_path / "both"
    both.mkdir()
    for n, folder in enumerate(("TSC-001/2024-01-10/dicom", "TSC-002/2024-02-20/dicom")):
        for f in sorted((SAMPLE_SCANS / folder).iterdir()):
            shutil.copy(f, both / f"s{n}_{f.name}")
    (tmp_path / "m.csv").write_text(
        "patient_id,date,image,lesion_id,lesion_type,point_index,treatment_start\n"
        "P1,2024-01-10,both,L1,aml,10;10;5,2024-01-15\n"
    )
    result = tscimg.track(tmp_path / "m.csv")
    assert len(result.errors) == 1
    message = result.errors[0].message
    assert "the folder holds 2 series" in message
    assert "move each series into a folder of its own" in message


def test_a_report_path_taken_by_a_folder_is_an_output_error_before_any_patient(
    tmp_path: Path,
) -> None:
    """A folder named report.pdf in OUTDIR (the earlier reports are removed before a patient's
    outputs are rewritten): the removal failed inside a patient, which was reported as an
    internal error, and the run lost report.json. It is now refused before any patient,
    naming the path."""
    out = tmp_path / "out"
    (out / "report.pdf").mkdir(parents=True)
    with pytest.raises(tscimg.InputError, match=r"report\.pdf: cannot write the output here"):
        tscimg.track(SAMPLE_SCANS / "manifest.csv", out)
    assert not (out / "masks").exists()


def test_echo_views_read_from_dicom_say_they_get_no_seg_or_sr(
    demo: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    """TSC-004's echo visits are DICOM cines: they got no SEG/SR and nothing said so, while
    docs/reports.md promises both for visits read from DICOM. Each lesion entry now says why
    (a 2D frame has no patient-space geometry for a SEG) and that the figures stand."""
    _, _, report = demo
    for timepoint in _assessment(report, "TSC-004")["timepoints"]:
        for lesion in timepoint["lesions"].values():
            assert lesion["dicom_seg"] is None
            assert any("no DICOM SEG/SR was written for this visit: it is a 2D frame" in w
                       for w in lesion["warnings"])  # fmt: skip


def test_two_series_of_one_date_in_folders_of_one_name_keep_their_own_seg_and_sr(
    tmp_path: Path,
) -> None:
    """Two DICOM series of one visit date, each in a folder named "dicom" (CT/DICOM and
    MR/DICOM): the output folder was <date>_dicom for both, the second overwrote the first's
    SEG and SR, and report.json sent lesion L1 to a SEG that held only L2. Each series now has
    its own folder, and each SEG holds its own lesion."""
    import pydicom
    from pydicom.uid import generate_uid

    source = SAMPLE_SCANS / "TSC-002" / "2024-02-20" / "dicom"
    series = generate_uid()
    for name in ("brain", "brain2"):
        (tmp_path / name / "dicom").mkdir(parents=True)
    for f in sorted(source.iterdir()):
        shutil.copy(f, tmp_path / "brain" / "dicom" / f.name)
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID, ds.SeriesNumber = series, 99
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.save_as(tmp_path / "brain2" / "dicom" / f.name)
    (tmp_path / "m.csv").write_text(
        "patient_id,date,image,lesion_id,lesion_type,point_lps,treatment_start\n"
        "P,2024-02-20,brain/dicom,L1,sega,-6;-14;0,2024-03-01\n"
        "P,2024-02-20,brain2/dicom,L2,aml,-6;-14;0,\n"
    )
    out = tmp_path / "out"
    tscimg.track(tmp_path / "m.csv", out)
    report = json.loads((out / "report.json").read_text())
    lesions = report["patients"][0]["assessments"]
    entries = {
        lid: entry
        for assessment in lesions
        for t in assessment["timepoints"]
        for lid, entry in t["lesions"].items()
    }
    assert entries["L1"]["dicom_seg"] != entries["L2"]["dicom_seg"]
    for lid, entry in entries.items():
        seg = pydicom.dcmread(out / entry["dicom_seg"])
        kind = {"L1": "sega", "L2": "aml"}[lid]
        assert [s.SegmentLabel for s in seg.SegmentSequence] == [f"{lid} ({kind})"]
