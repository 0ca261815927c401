"""The cohort's records and the batch around them, for patients whose visits do not all fit
the assessment: a target lesion missing at a follow-up (its visit is left out: the other
lesion still has its row), a new lesion whose first visit cannot be judged (it counts at the
first visit that can), and a patient whose assessment fails (it fails alone).

Expected values are worked out by hand from the volumes given (sums, percentages, calendar
months: 2024-01-15 to 2025-01-01 is 11 months and 17 of December's 31 days, 11.55).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import tscimg.batch.runner as runner
from tscimg import RESEARCH_USE_DISCLAIMER
from tscimg.core.vocabularies import LesionType
from tscimg.io.manifest import PatientPlan
from tscimg.longitudinal import (
    TSC,
    CaseError,
    CohortResult,
    LesionOrigin,
    LesionVisitResult,
    PatientResult,
    ResponseStatus,
    assess_patient,
)
from tscimg.measure import LesionRecord
from tscimg.report import render_csv
from tscimg.report.html import render_html

D = dt.date.fromisoformat
START = D("2024-01-15")
LEFT_OUT = (
    "aml 2024-07-01: target lesion(s) L2 not measured at this visit; the visit is left out of "
    "the assessment"
)
STRADDLE = (
    "the two change estimates fall on either side of the -30% response threshold (-40.0% from "
    "the segmentation, -20.0% from the registration): whether the lesion responded cannot be "
    "decided from them; check the mask, or confirm at the next visit"
)


def _lv(
    lesion_id: str,
    date: str,
    volume_ml: float,
    diameter_mm: float = 20.0,
    review: tuple[str, ...] = (),
    origin: LesionOrigin = LesionOrigin.PROMPT,
    registration_volume_ml: float | None = None,
) -> LesionVisitResult:
    return LesionVisitResult(
        lesion_id,
        LesionType.AML,
        D(date),
        f"{date}.nii.gz",
        origin,
        LesionRecord.of_figures(volume_ml, 0.1, diameter_mm),
        review=review,
        registration_volume_ml=registration_volume_ml,
    )


def _missing_at_follow_up() -> list[LesionVisitResult]:
    """L1 and L2 at baseline (5 + 3 = 8 mL), only L1 (4 mL) at 2024-07-01, both later (3 + 2)."""
    return [
        _lv("L1", "2024-01-10", 5.0),
        _lv("L2", "2024-01-10", 3.0),
        _lv("L1", "2024-07-01", 4.0),
        _lv("L1", "2025-01-01", 3.0),
        _lv("L2", "2025-01-01", 2.0),
    ]


def _visit_columns(row: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "months_on_treatment", "total_volume_ml", "is_baseline", "change_from_baseline_pct",
        "change_from_nadir_pct", "change_registration_pct", "change_within_uncertainty",
        "response_met", "progression_met", "regrowth_after_stop", "status",
    )  # fmt: skip
    return {k: row[k] for k in keys}


# -- 1. a lesion measured at a visit left out of the assessment keeps its row ----------------


def test_a_visit_left_out_keeps_its_lesion_row_with_the_visit_columns_empty() -> None:
    patient = assess_patient("P", _missing_at_follow_up(), TSC, START)
    (a,) = patient.assessments
    assert [t.date for t in a.timepoints] == [D("2024-01-10"), D("2025-01-01")]
    assert patient.warnings == (LEFT_OUT,)
    rows = CohortResult(TSC, (patient,)).to_records()
    assert [(r["date"], r["lesion_id"]) for r in rows] == [
        ("2024-01-10", "L1"),
        ("2024-01-10", "L2"),
        ("2024-07-01", "L1"),
        ("2025-01-01", "L1"),
        ("2025-01-01", "L2"),
    ]
    left_out = rows[2]
    assert left_out["volume_ml"] == 4.0 and left_out["origin"] == "prompt"
    assert left_out["target"] is True and left_out["error"] is None
    assert left_out["latest_status"] == "response" and left_out["criteria"] == "tsc 1.0"
    assert _visit_columns(left_out) == dict.fromkeys(_visit_columns(left_out))
    assert left_out["warnings"] == LEFT_OUT
    # the visits that were assessed: 8 mL, then 5 mL = -37.5% at 11.55 months
    assert [r["total_volume_ml"] for r in rows] == [8.0, 8.0, None, 5.0, 5.0]
    assert [r["status"] for r in rows] == [
        "no_baseline", "no_baseline", None, "response", "response",
    ]  # fmt: skip
    assert rows[3]["change_from_baseline_pct"] == -37.5
    assert rows[3]["months_on_treatment"] == 11.55 and rows[0]["months_on_treatment"] == -0.16
    assert [r["warnings"] for r in rows] == ["", "", LEFT_OUT, "", ""]
    # the record's columns keep their order: months right after the date, as before
    assert list(left_out)[:5] == ["patient_id", "lesion_type", "date", "months_on_treatment",
                                  "lesion_id"]  # fmt: skip


def test_report_json_csv_and_html_all_hold_the_patient_with_a_visit_left_out() -> None:
    patient = assess_patient("P", _missing_at_follow_up(), TSC, START)
    cohort = CohortResult(TSC, (patient,))
    report = json.loads(cohort.to_json())
    (a,) = report["patients"][0]["assessments"]
    assert [t["date"] for t in a["timepoints"]] == ["2024-01-10", "2025-01-01"]
    assert a["status"] == "response" and a["best_change_pct"] == -37.5
    assert report["patients"][0]["warnings"] == [LEFT_OUT]
    rows = list(csv.DictReader(io.StringIO(render_csv(cohort))))
    assert len(rows) == 5
    assert (rows[2]["date"], rows[2]["lesion_id"], rows[2]["volume_ml"]) == (
        "2024-07-01", "L1", "4.0",
    )  # fmt: skip
    assert rows[2]["total_volume_ml"] == rows[2]["status"] == rows[2]["is_baseline"] == ""
    assert rows[2]["warnings"] == LEFT_OUT
    html = render_html(cohort)
    assert "L2 not measured at this visit" in html


def test_a_visit_with_no_target_lesion_keeps_its_row_too() -> None:
    """L1 only at an earlier scan (no target: not at the baseline), L2 at the baseline."""
    visits = [
        _lv("L1", "2024-01-01", 10.0),
        _lv("L2", "2024-02-01", 5.0),
        _lv("L1", "2024-09-01", 10.0),
        _lv("L2", "2024-09-01", 5.0),
    ]
    patient = assess_patient("P", visits, TSC, D("2024-02-15"))
    rows = CohortResult(TSC, (patient,)).to_records()
    assert [(r["date"], r["lesion_id"], r["status"]) for r in rows] == [
        ("2024-01-01", "L1", None),
        ("2024-02-01", "L2", "no_baseline"),
        ("2024-09-01", "L1", "too_early"),
        ("2024-09-01", "L2", "too_early"),
    ]
    assert rows[0]["volume_ml"] == 10.0 and rows[0]["total_volume_ml"] is None
    assert rows[0]["warnings"] == (
        "aml 2024-01-01: no target lesion was measured at this visit; the visit is left out of "
        "the assessment | aml L1: seen on 2024-01-01 but not measured at the baseline "
        "(2024-02-01), so it is not a target lesion and is left out of the assessment; measure "
        "it at the baseline visit to include it"
    )


def test_report_json_lists_a_left_out_visit_with_its_lesions_and_reason() -> None:
    """report.json had no trace of L1's 4 mL at 2024-07-01 (only the CSV kept it)."""
    patient = assess_patient("P", _missing_at_follow_up(), TSC, START)
    report = json.loads(CohortResult(TSC, (patient,)).to_json())
    (a,) = report["patients"][0]["assessments"]
    (left,) = a["left_out_visits"]
    assert left["date"] == "2024-07-01"
    assert list(left["lesions"]) == ["L1"] and left["lesions"]["L1"]["volume_ml"] == 4.0
    assert left["reasons"] == [LEFT_OUT.removeprefix("aml 2024-07-01: ")]
    html = render_html(CohortResult(TSC, (patient,)))
    row = html[html.index('<tr class="left-out">') :]
    row = row[: row.index("</tr>")]
    assert "2024-07-01" in row and "L1 4.000 (prompt)" in row
    assert "left out of the assessment" in row and "L2 not measured at this visit" in row


def test_a_lesion_seen_before_the_baseline_only_is_not_a_target() -> None:
    """L1 measured before the baseline and at a follow-up, never at the baseline (2024-02-01):
    not a target (its volume is not in the sums), not new; report.csv said ``target`` true."""
    visits = [
        _lv("L1", "2024-01-01", 10.0),
        _lv("L2", "2024-02-01", 5.0),
        _lv("L1", "2024-09-01", 10.0),
        _lv("L2", "2024-09-01", 5.0),
    ]
    patient = assess_patient("P", visits, TSC, D("2024-02-15"))
    (a,) = patient.assessments
    assert [t.total_volume_ml for t in a.timepoints] == [5.0, 5.0]
    assert patient.target_lesion_ids(a) == {"L2"} and patient.new_lesions == {}
    rows = CohortResult(TSC, (patient,)).to_records()
    assert [(r["date"], r["lesion_id"], r["target"]) for r in rows] == [
        ("2024-01-01", "L1", False),
        ("2024-02-01", "L2", True),
        ("2024-09-01", "L1", False),
        ("2024-09-01", "L2", True),
    ]
    assert "so it is not a target lesion" in rows[2]["warnings"]
    report = json.loads(CohortResult(TSC, (patient,)).to_json())
    follow_up = report["patients"][0]["assessments"][0]["timepoints"][1]
    assert follow_up["target_lesions"] == ["L2"] and follow_up["new_lesions"] == []
    assert follow_up["lesions_not_assessed"] == ["L1"]


# -- 2. a new lesion counts at the first visit that can judge it --------------------------------


def _statuses(patient: PatientResult) -> list[tuple[str, str, bool]]:
    (a,) = patient.assessments
    return [(t.date.isoformat(), t.status.value, t.progression_met) for t in a.timepoints]


def test_a_new_lesion_first_seen_at_a_flagged_visit_counts_at_the_next() -> None:
    visits = [
        _lv("L1", "2024-01-10", 5.0),
        _lv("L1", "2024-07-01", 3.0, review=("leak guard reached",)),
        _lv("N1", "2024-07-01", 2.0, diameter_mm=15.0),
        _lv("L1", "2025-01-01", 3.0),
        _lv("N1", "2025-01-01", 2.0, diameter_mm=15.0),
    ]
    patient = assess_patient("P", visits, TSC, START)
    (a,) = patient.assessments
    assert a.status is ResponseStatus.PROGRESSION  # -40% but a new 15 mm lesion: progression
    assert (a.progression.reached, a.progression.date) == (True, D("2025-01-01"))
    assert (a.response.reached, a.response.date) == (True, D("2025-01-01"))
    assert _statuses(patient) == [
        ("2024-01-10", "no_baseline", False),
        ("2024-07-01", "not_evaluable", False),
        ("2025-01-01", "progression", True),
    ]
    assert a.timepoints[-1].progression_reasons == ("new lesion N1 (15.0 mm)",)
    assert patient.new_lesions == {"N1": D("2024-07-01")}  # first seen: still reported so


def test_a_new_lesion_first_seen_at_a_visit_left_out_counts_at_the_next() -> None:
    visits = [
        _lv("L1", "2024-01-10", 5.0),
        _lv("L2", "2024-01-10", 3.0),
        _lv("L1", "2024-07-01", 3.0),  # L2 missing: the visit is left out
        _lv("N1", "2024-07-01", 2.0, diameter_mm=15.0),
        _lv("L1", "2025-01-01", 3.0),
        _lv("L2", "2025-01-01", 1.0),
        _lv("N1", "2025-01-01", 2.0, diameter_mm=15.0),
    ]
    patient = assess_patient("P", visits, TSC, START)
    (a,) = patient.assessments
    assert a.status is ResponseStatus.PROGRESSION  # 4 / 8 mL = -50%, but a new 15 mm lesion
    assert a.progression.date == D("2025-01-01")
    assert _statuses(patient) == [
        ("2024-01-10", "no_baseline", False),
        ("2025-01-01", "progression", True),
    ]
    rows = CohortResult(TSC, (patient,)).to_records()
    assert [(r["date"], r["lesion_id"], r["target"], r["status"]) for r in rows] == [
        ("2024-01-10", "L1", True, "no_baseline"),
        ("2024-01-10", "L2", True, "no_baseline"),
        ("2024-07-01", "L1", True, None),
        ("2024-07-01", "N1", False, None),
        ("2025-01-01", "L1", True, "progression"),
        ("2025-01-01", "L2", True, "progression"),
        ("2025-01-01", "N1", False, "progression"),
    ]


def test_a_new_lesion_first_seen_small_counts_when_it_reaches_ten_millimetres() -> None:
    visits = [
        _lv("L1", "2024-01-10", 5.0),
        _lv("L1", "2024-07-01", 3.0),
        _lv("N1", "2024-07-01", 0.3, diameter_mm=8.0),  # under 10 mm: not yet progression
        _lv("L1", "2025-01-01", 3.0),
        _lv("N1", "2025-01-01", 2.0, diameter_mm=15.0),
    ]
    patient = assess_patient("P", visits, TSC, START)
    (a,) = patient.assessments
    assert _statuses(patient) == [
        ("2024-01-10", "no_baseline", False),
        ("2024-07-01", "response", False),
        ("2025-01-01", "progression", True),
    ]
    assert a.status is ResponseStatus.PROGRESSION
    assert (a.response.date, a.progression.date) == (D("2024-07-01"), D("2025-01-01"))
    assert a.timepoints[-1].progression_reasons == ("new lesion N1 (15.0 mm)",)


def test_a_new_lesion_that_stays_under_ten_millimetres_is_never_progression() -> None:
    visits = [
        _lv("L1", "2024-01-10", 5.0),
        _lv("L1", "2024-07-01", 3.0),
        _lv("N1", "2024-07-01", 0.3, diameter_mm=8.0),
        _lv("L1", "2025-01-01", 3.0),
        _lv("N1", "2025-01-01", 0.3, diameter_mm=9.9),
    ]
    (a,) = assess_patient("P", visits, TSC, START).assessments
    assert a.status is ResponseStatus.RESPONSE and not a.progression.reached


def test_a_new_lesion_still_present_is_progression_at_every_visit() -> None:
    """A new lesion counted at 2024-07-01 is still there at 2025-01-01: progression is met at
    that visit too (the status describes the latest visit; it used to fall back to "response",
    -40%, as if the new lesion had gone), and progression keeps its first date."""
    visits = [
        _lv("L1", "2024-01-10", 5.0),
        _lv("L1", "2024-07-01", 3.0),
        _lv("N1", "2024-07-01", 2.0, diameter_mm=15.0),
        _lv("L1", "2025-01-01", 3.0),
        _lv("N1", "2025-01-01", 2.0, diameter_mm=15.0),
    ]
    patient = assess_patient("P", visits, TSC, START)
    (a,) = patient.assessments
    assert _statuses(patient) == [
        ("2024-01-10", "no_baseline", False),
        ("2024-07-01", "progression", True),
        ("2025-01-01", "progression", True),
    ]
    assert a.progression.date == D("2024-07-01") and a.status is ResponseStatus.PROGRESSION
    assert a.timepoints[-1].progression_reasons == ("new lesion N1 (15.0 mm)",)


def test_a_new_lesion_still_flagged_at_the_next_visit_keeps_it_not_evaluable() -> None:
    """A new lesion that has not counted yet and is flagged again might be the progression:
    that visit cannot be called a response."""
    visits = [
        _lv("L1", "2024-01-10", 5.0),
        _lv("L1", "2024-07-01", 3.0),
        _lv("N1", "2024-07-01", 2.0, diameter_mm=15.0, review=("best estimate",)),
        _lv("L1", "2025-01-01", 3.0),
        _lv("N1", "2025-01-01", 2.0, diameter_mm=15.0, review=("leak guard reached",)),
    ]
    (a,) = assess_patient("P", visits, TSC, START).assessments
    assert a.status is ResponseStatus.NOT_EVALUABLE and not a.progression.reached
    assert a.review == ("2025-01-01: N1: leak guard reached",)
    assert [t.review for t in a.timepoints] == [
        (), ("N1: best estimate",), ("N1: leak guard reached",),
    ]  # fmt: skip


def test_a_new_lesion_first_seen_where_the_two_estimates_straddle_counts_at_the_next() -> None:
    """At 2024-07-01 L1 is carried: -40% from its segmentation, -20% from the registration, on
    either side of -30%: the visit cannot be judged, so N1 (15 mm) counts at 2025-01-01."""
    visits = [
        _lv("L1", "2024-01-10", 5.0),
        _lv("L1", "2024-07-01", 3.0, origin=LesionOrigin.CARRIED, registration_volume_ml=4.0),
        _lv("N1", "2024-07-01", 2.0, diameter_mm=15.0),
        _lv("L1", "2025-01-01", 3.0),
        _lv("N1", "2025-01-01", 2.0, diameter_mm=15.0),
    ]
    patient = assess_patient("P", visits, TSC, START)
    (a,) = patient.assessments
    assert a.timepoints[1].review == (STRADDLE,)
    assert _statuses(patient) == [
        ("2024-01-10", "no_baseline", False),
        ("2024-07-01", "not_evaluable", False),
        ("2025-01-01", "progression", True),
    ]
    assert a.progression.date == D("2025-01-01") and a.status is ResponseStatus.PROGRESSION


@pytest.mark.parametrize(
    ("origin", "flagged"),
    [(LesionOrigin.CARRIED, True), (LesionOrigin.PROMPT, True), (LesionOrigin.MASK, False)],
)
def test_estimates_that_straddle_the_threshold_flag_all_but_a_readers_mask(
    origin: LesionOrigin, flagged: bool
) -> None:
    """-40% from the segmentation, -20% from the registration: a carried or prompted visit
    decides nothing (nobody has looked at the mask a click gave); a mask the reader gave is
    their word, with the note as a warning."""
    visits = [
        _lv("L1", "2024-01-10", 5.0),
        _lv("L1", "2025-01-01", 3.0, origin=origin, registration_volume_ml=4.0),
    ]
    patient = assess_patient("P", visits, TSC, START)
    (a,) = patient.assessments
    assert a.timepoints[1].review == ((STRADDLE,) if flagged else ())
    assert a.status is (ResponseStatus.NOT_EVALUABLE if flagged else ResponseStatus.RESPONSE)
    assert any(STRADDLE in w for w in a.warnings) is not flagged


# -- 3. one patient's assessment failing fails that patient alone ------------------------------


MANIFEST_HEADER = "patient_id,date,image,lesion_id,lesion_type,point_index,treatment_start\n"


def _manifest(tmp_path: Path, patients: dict[str, tuple[str, Sequence[str]]]) -> Path:
    """A manifest of ``patient -> (treatment start, visit dates)``, lesion L1, one dummy image
    file per visit (the processing is replaced by :func:`_fake_processing`)."""
    lines = [MANIFEST_HEADER]
    for pid, (start, dates) in patients.items():
        for i, date in enumerate(dates):
            image = tmp_path / f"{pid}-{date}.nii.gz"
            image.write_bytes(f"{pid} {date}".encode())
            prompt = "10;10;10" if i == 0 else ""
            lines.append(f"{pid},{date},{image.name},L1,aml,{prompt},{start if i == 0 else ''}\n")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("".join(lines))
    return manifest


def _fake_processing(
    monkeypatch: pytest.MonkeyPatch, volumes: dict[str, Sequence[tuple[str, float]]]
) -> None:
    """Replace segmenting and measuring: each patient's L1 has the given volumes."""

    def process(plan: Any, *args: Any, **kwargs: Any) -> list[LesionVisitResult]:
        return [_lv("L1", d, v) for d, v in volumes[plan.patient_id]]

    monkeypatch.setattr(runner, "process_patient", process)


GOOD = ("2024-01-15", ("2024-01-10", "2024-07-01"))  # 10 -> 6 mL: -40%, response
GOOD_VOLUMES = (("2024-01-10", 10.0), ("2024-07-01", 6.0))


def _two_patients_b_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str) -> Path:
    """A manifest of patients A and B (10 -> 6 mL each) whose B's assessment raises
    ``ValueError(error)``."""
    manifest = _manifest(tmp_path, {"A": GOOD, "B": GOOD})
    _fake_processing(monkeypatch, {"A": GOOD_VOLUMES, "B": GOOD_VOLUMES})
    real = runner.assess_patient

    def assess(patient_id: str, *args: Any, **kwargs: Any) -> PatientResult:
        if patient_id == "B":
            raise ValueError(error)
        return real(patient_id, *args, **kwargs)

    monkeypatch.setattr(runner, "assess_patient", assess)
    return manifest


def test_a_patient_whose_assessment_raises_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = _two_patients_b_failing(tmp_path, monkeypatch, "boom in B")
    result = runner.track(manifest)
    assert [p.patient_id for p in result.patients] == ["A"]
    (a,) = result.patients[0].assessments
    assert a.status is ResponseStatus.RESPONSE and a.best_change_pct == -40.0
    assert result.errors == (
        CaseError("B", None, "internal error in the response assessment: ValueError: boom in B"),
    )
    rows = result.to_records()
    assert rows[-1] == {
        "patient_id": "B",
        "date": None,
        "error": "internal error in the response assessment: ValueError: boom in B",
        "disclaimer": RESEARCH_USE_DISCLAIMER,
    }


def test_an_out_of_range_date_in_the_assessment_becomes_the_patients_error() -> None:
    """A real failure of the assessment: a treatment starting on 9999-12-10 has its 12-month
    mark in the year 10000, which a date cannot hold (the manifest may refuse such dates
    first; the runner must not depend on it)."""
    plan = PatientPlan("B", D("9999-12-10"), None, {}, ())
    lesions = [_lv("L1", "9999-12-01", 10.0), _lv("L1", "9999-12-30", 9.0)]
    message = "internal error in the response assessment: ValueError: year 10000 is out of range"
    assert runner._assess_or_fail(plan, lesions, TSC, None) == CaseError("B", None, message)
    good = PatientPlan("A", START, None, {}, ())
    assessed = runner._assess_or_fail(good, [_lv("L1", d, v) for d, v in GOOD_VOLUMES], TSC, None)
    assert isinstance(assessed, PatientResult)
    assert assessed.assessments[0].status is ResponseStatus.RESPONSE


def test_track_end_to_end_reports_the_others_when_one_assessment_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tscimg track``: A is reported in all three files, B is listed, exit 3, no traceback."""
    from tscimg_cli.main import run

    manifest = _two_patients_b_failing(tmp_path, monkeypatch, "year 10000 is out of range")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        run(["track", str(manifest), "-o", str(out), "--json"])
    captured = capsys.readouterr()
    assert exited.value.code == 3, captured.err
    assert "Traceback" not in captured.err
    message = "internal error in the response assessment: ValueError: year 10000 is out of range"
    summary = json.loads(captured.out)
    assert summary["errors"] == [{"patient_id": "B", "date": None, "message": message}]
    assert [(s["patient_id"], s["status"]) for s in summary["assessments"]] == [("A", "response")]
    report = json.loads((out / "report.json").read_text())
    assert [p["patient_id"] for p in report["patients"]] == ["A"]
    assert report["errors"] == [{"patient_id": "B", "date": None, "message": message}]
    rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_text())))
    assert [(r["patient_id"], r["date"], r["status"], r["error"]) for r in rows] == [
        ("A", "2024-01-10", "no_baseline", ""),
        ("A", "2024-07-01", "response", ""),
        ("B", "", "", message),
    ]
    assert "year 10000 is out of range" in (out / "report.html").read_text()


def test_track_reports_every_patient_when_a_target_is_missing_at_a_follow_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect 1 end to end: the patient with a visit left out no longer stops the batch."""
    from tscimg_cli.main import run

    manifest = _manifest(
        tmp_path, {"A": GOOD, "P": ("2024-01-15", ("2024-01-10", "2024-07-01", "2025-01-01"))}
    )

    def process(plan: Any, *args: Any, **kwargs: Any) -> list[LesionVisitResult]:
        if plan.patient_id == "P":
            return _missing_at_follow_up()
        return [_lv("L1", d, v) for d, v in GOOD_VOLUMES]

    monkeypatch.setattr(runner, "process_patient", process)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        run(["track", str(manifest), "-o", str(out), "--json"])
    captured = capsys.readouterr()
    assert exited.value.code == 0, captured.err
    report = json.loads((out / "report.json").read_text())
    assert [p["patient_id"] for p in report["patients"]] == ["A", "P"]
    assert report["errors"] == []
    rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_text())))
    assert [(r["patient_id"], r["date"], r["lesion_id"], r["status"]) for r in rows] == [
        ("A", "2024-01-10", "L1", "no_baseline"),
        ("A", "2024-07-01", "L1", "response"),
        ("P", "2024-01-10", "L1", "no_baseline"),
        ("P", "2024-01-10", "L2", "no_baseline"),
        ("P", "2024-07-01", "L1", ""),  # the visit left out: its lesion's row, status empty
        ("P", "2025-01-01", "L1", "response"),
        ("P", "2025-01-01", "L2", "response"),
    ]
    assert rows[4]["volume_ml"] == "4.0" and rows[4]["warnings"] == LEFT_OUT
    assert (out / "report.html").is_file()


def test_a_processing_failure_keeps_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The processing's own handling is unchanged: an unexpected exception is an internal
    error naming its type, and the other patient completes."""
    manifest = _manifest(tmp_path, {"A": GOOD, "B": GOOD})

    def process(plan: Any, *args: Any, **kwargs: Any) -> list[LesionVisitResult]:
        if plan.patient_id == "B":
            raise RuntimeError("worker bug")
        return [_lv("L1", d, v) for d, v in GOOD_VOLUMES]

    monkeypatch.setattr(runner, "process_patient", process)
    result = runner.track(manifest)
    assert [p.patient_id for p in result.patients] == ["A"]
    assert result.errors == (CaseError("B", None, "internal error: RuntimeError: worker bug"),)


# -- 4. one figure that cannot be drawn costs only that figure ------------------------------


def test_a_plot_that_cannot_be_drawn_leaves_the_other_patients_page_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tscimg.report.html as page

    drawn = page.volume_plot_png

    def failing_for_p(assessment: Any, criteria: Any, title: str, course: Any) -> bytes:
        if title.startswith("P "):
            raise ValueError("Image size of 1x900000 pixels is too large")
        return drawn(assessment, criteria, title, course)

    monkeypatch.setattr(page, "volume_plot_png", failing_for_p)
    p = assess_patient("P", _missing_at_follow_up(), TSC, START)
    q = assess_patient("Q", _missing_at_follow_up(), TSC, START)
    figures = page.figures_for(CohortResult(TSC, (p, q)))
    assert set(figures["plots"]) == {"Q|aml"} and list(figures["errors"]) == ["P|aml"]
    html = render_html(CohortResult(TSC, (p, q)))
    assert html.count('<img class="plot volume"') == 1
    assert "Volume plot missing:</strong> this figure could not be drawn (ValueError: Image" in html
    # both patients' tables are on the page
    assert html.count('<tr class="left-out">') == 2


def test_reports_keep_json_and_csv_when_the_page_cannot_be_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tscimg.report.writers as writers

    (tmp_path / "report.html").write_text("an earlier run's page")
    (tmp_path / "report.pdf").write_bytes(b"%PDF an earlier run's")

    def broken(result: CohortResult) -> str:
        raise RuntimeError("template broke")

    monkeypatch.setattr(writers, "render_html", broken)
    patient = assess_patient("P", _missing_at_follow_up(), TSC, START)
    with pytest.raises(RuntimeError, match="template broke"):
        writers.write_reports(CohortResult(TSC, (patient,)), tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["patients"][0]["assessments"][0]["best_change_pct"] == -37.5
    assert len((tmp_path / "report.csv").read_text().splitlines()) == 6  # header + 5 rows
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "report.pdf").exists()


def test_a_patient_with_two_lesion_types_lists_each_warning_and_scan_once() -> None:
    """AML and SEGA of one patient, both measured on one whole-body scan per visit: the
    patient's warnings were listed under each lesion type, and each scan twice in the
    provenance table."""
    from tscimg.longitudinal import ScanFacts

    def on_scan(lv: LesionVisitResult, kind: LesionType) -> LesionVisitResult:
        scan = ScanFacts(f"wb-{lv.date}.nii.gz", "ab" * 32, "MR", None, 1.0, (1.0, 1.0, 1.0))
        return replace(lv, lesion_type=kind, scan=scan)

    visits = [on_scan(lv, LesionType.AML) for lv in _missing_at_follow_up()] + [
        on_scan(_lv("S1", d, 2.0), LesionType.SEGA) for d in ("2024-01-10", "2025-01-01")
    ]
    patient = assess_patient("P", visits, TSC, START, warnings=("a note about the patient",))
    html = render_html(CohortResult(TSC, (patient,)))
    assert html.count("<li>a note about the patient</li>") == 1
    assert html.count(f"<li>{LEFT_OUT}</li>") == 1  # under aml only
    aml = html.index(">aml: <")
    sega = html.index(">sega: <")
    assert aml < html.index(f"<li>{LEFT_OUT}</li>") < sega
    # the provenance table: the three scans once each (2024-07-01 has only the AML)
    for date in ("2024-01-10", "2024-07-01", "2025-01-01"):
        assert html.count(f'<td class="text">wb-{date}.nii.gz</td>') == 1


def test_public_writers_and_readers_take_plain_string_paths(tmp_path: Path) -> None:
    """A trial coordinator's script passes paths as text: ``write_dicom_series``,
    ``discover_series`` and ``write_reports`` took only ``pathlib.Path`` and failed inside
    with "unsupported operand type(s) for /: 'str' and 'str'" or "'str' object has no
    attribute 'rglob'". The series written from a string path reads back voxel for voxel."""
    import numpy as np

    from tscimg import Geometry, Modality, Scan, load_scan
    from tscimg.io import SeriesIdentity, discover_series, write_dicom_series
    from tscimg.report import writers

    g = Geometry((6, 5, 4), (0.8, 0.8, 2.5), (10.0, -5.0, 3.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    pixels = (np.arange(120).reshape(4, 5, 6) - 60).astype(np.float32)
    scan = Scan.from_array(pixels, g, modality=Modality.CT)
    folder = str(tmp_path / "series")
    written = write_dicom_series(scan, folder, SeriesIdentity("P1", "seed"))
    assert len(written) == 4 and all(p.parent == Path(folder) for p in written)
    assert sum(len(headers) for headers in discover_series(folder).series.values()) == 4
    back = load_scan(folder)
    assert back.geometry.differences(g, 1e-4, 1e-6) == []
    np.testing.assert_array_equal(back.to_array(), pixels)
    patient = assess_patient("P", _missing_at_follow_up(), TSC, START)
    paths = writers.write_reports(CohortResult(TSC, (patient,)), str(tmp_path / "out"), pdf=False)
    assert sorted(paths) == ["csv", "html", "json"]
    assert json.loads(paths["json"].read_text())["patients"][0]["patient_id"] == "P"


def test_a_scan_change_seen_by_one_lesion_is_warned_and_names_it() -> None:
    """L1 on CT at both visits, L2 on CT then on an MRI of the follow-up's date: the modality,
    scanner and slice-thickness changes are warned for L2 (only the first scan of each date
    was compared before, and nothing was said)."""
    from tscimg.longitudinal import ScanFacts

    def ct(d: str) -> ScanFacts:
        return ScanFacts(f"{d}/ct", "a" + d, "CT", "VendorA", 1.0, (0.7, 0.7, 1.0))

    def at(lid: str, d: str, volume_ml: float, scan: ScanFacts) -> LesionVisitResult:
        return replace(_lv(lid, d, volume_ml), image=scan.image, scan=scan)

    mr = ScanFacts("2024-07-10/mr", "b", "MR", "VendorB", 5.0, (0.9, 0.9, 5.0))
    visits = [
        at("L1", "2024-01-10", 5.0, ct("2024-01-10")),
        at("L2", "2024-01-10", 5.0, ct("2024-01-10")),
        at("L1", "2024-07-10", 4.0, ct("2024-07-10")),
        at("L2", "2024-07-10", 2.0, mr),
    ]
    (a,) = assess_patient("P", visits, TSC, START).assessments
    changes = [w for w in a.warnings if w.startswith("2024-01-10 -> 2024-07-10")]
    assert changes == [
        "2024-01-10 -> 2024-07-10: modality changed (CT -> MR) (L2)",
        "2024-01-10 -> 2024-07-10: scanner changed (VendorA -> VendorB) (L2)",
        "2024-01-10 -> 2024-07-10: slice thickness changed (1 -> 5 mm); partial-volume "
        "effects differ between the two volumes (L2)",
    ]
    alone = [v for v in visits if v.lesion_id == "L2"]
    (b,) = assess_patient("P", alone, TSC, START).assessments
    assert "2024-01-10 -> 2024-07-10: modality changed (CT -> MR)" in b.warnings


def test_a_change_of_reconstruction_kernel_or_field_strength_is_warned(tmp_path: Path) -> None:
    """A follow-up reconstructed with a sharper kernel, or scanned at 3 T after 1.5 T, moves the
    lesion's border (a helper's registration audit: a blur difference shifted both change
    estimates) and nothing said so; DESIGN.md section 5 warns of scanner and slice changes.
    The kernel and field strength are read from DICOM; where a visit's is unknown (NIfTI),
    nothing is claimed."""
    import numpy as np
    import pydicom

    from tscimg import Geometry, Modality, Scan, load_scan
    from tscimg.io import SeriesIdentity, write_dicom_series
    from tscimg.longitudinal import ScanFacts

    g = Geometry((6, 5, 4), (0.8, 0.8, 2.5), (10.0, -5.0, 3.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    scan = Scan.from_array(np.zeros((4, 5, 6), np.float32), g, modality=Modality.CT)
    for path in write_dicom_series(scan, tmp_path / "ct", SeriesIdentity("P1", "kernel")):
        ds = pydicom.dcmread(path)
        ds.ConvolutionKernel = ["B70f", "sharp"]
        ds.save_as(path)
    assert load_scan(tmp_path / "ct").reconstruction_kernel == "B70f/sharp"

    def facts(d: str, kernel: str | None, tesla: float | None) -> ScanFacts:
        return ScanFacts(
            f"{d}/s", d, "CT", "VendorA", 1.0, (0.7, 0.7, 1.0),
            reconstruction_kernel=kernel, field_strength_t=tesla,
        )  # fmt: skip

    dates = ("2024-01-10", "2024-07-10", "2025-01-10", "2025-07-10")
    scans = [
        facts(dates[0], "B30f", 1.5),
        facts(dates[1], "B70f", 3.0),
        facts(dates[2], None, None),
    ]
    scans.append(facts(dates[3], "B70f", 3.0))
    visits = [
        replace(_lv("L1", d, 5.0), image=s.image, scan=s) for d, s in zip(dates, scans, strict=True)
    ]
    (a,) = assess_patient("P", visits, TSC, START).assessments
    changes = [w for w in a.warnings if "kernel" in w or "field strength" in w]
    assert changes == [  # sorted by dates, then text
        "2024-01-10 -> 2024-07-10: MR field strength changed (1.5 -> 3 T); contrast and "
        "distortion differ between the two volumes",
        "2024-01-10 -> 2024-07-10: reconstruction kernel changed (B30f -> B70f); a sharper or "
        "smoother kernel moves the lesion's border, and the volume with it",
    ]
