"""report.json, report.csv and report.html say the same thing about the trust gate and the
uncertainty qualifier, and the report files in an output folder always describe one result,
however the writing stopped.

Expected values are worked out by hand from the volumes given: 5.0 -> 3.0 mL is -40.0% from
the segmentation, 5.0 -> 4.0 mL (the registration's estimate) -20.0%, on either side of the
-30% threshold; 10.0 -> 6.8 mL is -32.0%, within 100 x hypot(1.0, 1.0) / 10.0 = 14.1 points
of -30%.
"""

from __future__ import annotations

import csv
import datetime as dt
import html as html_text
import io
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

import tscimg.report.writers as writers
from tscimg import RESEARCH_USE_DISCLAIMER
from tscimg.core.treatment import Drug, TreatmentHistory, TreatmentPause
from tscimg.core.vocabularies import LesionType
from tscimg.longitudinal import (
    TSC,
    CaseError,
    CohortResult,
    LesionOrigin,
    LesionVisitResult,
    ResponseStatus,
    assess_patient,
)
from tscimg.measure import LesionRecord
from tscimg.report import CSV_COLUMNS, render_csv
from tscimg.report.html import render_html

D = dt.date.fromisoformat
START = D("2024-01-15")
STRADDLE = (
    "the two change estimates fall on either side of the -30% response threshold (-40.0% from "
    "the segmentation, -20.0% from the registration): whether the lesion responded cannot be "
    "decided from them; check the mask, or confirm at the next visit"
)
NEAR_THRESHOLD = (
    "the change from baseline (-32.0%) is within the measurements' combined uncertainty (14.1 "
    "points) of the -30% response threshold: a reduction short of it cannot be excluded; "
    "confirm on the images or at the next visit"
)


def _lv(
    date: str,
    volume_ml: float,
    uncertainty_ml: float = 0.1,
    origin: LesionOrigin = LesionOrigin.PROMPT,
    registration_volume_ml: float | None = None,
) -> LesionVisitResult:
    return LesionVisitResult(
        "L1",
        LesionType.AML,
        D(date),
        f"{date}.nii.gz",
        origin,
        LesionRecord.of_figures(volume_ml, uncertainty_ml, 20.0),
        registration_volume_ml=registration_volume_ml,
    )


def _straddling() -> CohortResult:
    """P: carried to 3.0 mL (-40%) where the registration says 4.0 mL (-20%)."""
    visits = [
        _lv("2024-01-10", 5.0),
        _lv("2024-07-01", 3.0, origin=LesionOrigin.CARRIED, registration_volume_ml=4.0),
    ]
    return CohortResult(TSC, (assess_patient("P", visits, TSC, START),))


def _csv_rows(result: CohortResult) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(render_csv(result))))


def test_a_straddle_reason_is_in_report_csv_as_in_report_json_and_the_page() -> None:
    """The visit is not_evaluable for a reason of the visit, not of its lesion: report.csv gave
    the status with an empty review column and the reason nowhere."""
    result = _straddling()
    (a,) = result.patients[0].assessments
    assert a.status is ResponseStatus.NOT_EVALUABLE
    timepoints = json.loads(result.to_json())["patients"][0]["assessments"][0]["timepoints"]
    assert timepoints[1]["review"] == [STRADDLE] and timepoints[1]["status"] == "not_evaluable"
    baseline, follow_up = _csv_rows(result)
    assert follow_up["status"] == "not_evaluable" and follow_up["latest_status"] == "not_evaluable"
    assert follow_up["review"] == ""  # the lesion's own outline is not in question
    assert follow_up["visit_review"] == STRADDLE
    assert follow_up["latest_review"] == f"2024-07-01: {STRADDLE}"
    assert follow_up["change_from_baseline_pct"] == "-40.0"
    assert follow_up["change_registration_pct"] == "-20.0"
    assert baseline["visit_review"] == ""
    assert baseline["latest_review"] == follow_up["latest_review"]
    page = html_text.unescape(render_html(result))
    assert f"2024-07-01: {STRADDLE}" in page  # the assessment's reasons
    assert f"review: {STRADDLE}" in page.replace("<strong>review:</strong>", "review:")


def test_the_uncertainty_qualifier_is_in_report_csv_as_in_report_json_and_the_page() -> None:
    visits = [_lv("2024-01-10", 10.0, 1.0), _lv("2024-07-01", 6.8, 1.0)]
    result = CohortResult(TSC, (assess_patient("P", visits, TSC, START),))
    (a,) = result.patients[0].assessments
    assert a.status is ResponseStatus.RESPONSE
    report = json.loads(result.to_json())
    assert report["patients"][0]["assessments"][0]["status_note"] == NEAR_THRESHOLD
    rows = _csv_rows(result)
    assert [r["latest_status_note"] for r in rows] == [NEAR_THRESHOLD, NEAR_THRESHOLD]
    assert [r["change_from_baseline_pct"] for r in rows] == ["0.0", "-32.0"]
    assert [r["latest_review"] for r in rows] == ["", ""]
    assert NEAR_THRESHOLD in html_text.unescape(render_html(result))


def test_recommendations_and_assessment_warnings_are_in_report_csv() -> None:
    """The recommendations and the assessment's and patient's warnings were in report.json and
    on the page only: a coordinator reading report.csv had a non-response without the
    recommended checks, and a visit left out without the warning at the other visits."""
    visits = [_lv("2024-01-10", 10.0), _lv("2025-01-20", 10.5)]
    result = CohortResult(TSC, (assess_patient("P", visits, TSC, START),))
    (a,) = result.patients[0].assessments
    assert a.status is ResponseStatus.NON_RESPONSE_12M
    rows = _csv_rows(result)
    assert "check adherence to the mTOR inhibitor" in a.recommendations
    assert [r["latest_recommendations"] for r in rows] == [" | ".join(a.recommendations)] * 2
    left_out = CohortResult(TSC, (assess_patient("P", _left_out(), TSC, START),))
    (reason,) = left_out.patients[0].left_out_reasons(LesionType.AML, D("2024-07-01"))
    assert all(reason in r["assessment_warnings"] for r in _csv_rows(left_out))
    # another lesion type's rows do not carry it (a second reader found them saying so)
    sega = [
        LesionVisitResult(
            "S1", LesionType.SEGA, D(d), "c.nii.gz", LesionOrigin.PROMPT,
            LesionRecord.of_figures(2.0, 0.1, 20.0),
        )
        for d in ("2024-01-10", "2025-01-01")
    ]  # fmt: skip
    both = _csv_rows(CohortResult(TSC, (assess_patient("P", _left_out() + sega, TSC, START),)))
    assert {r["lesion_type"] for r in both} == {"aml", "sega"}
    for row in both:
        assert (reason in row["assessment_warnings"]) is (row["lesion_type"] == "aml")


def _left_out() -> list[LesionVisitResult]:
    """L2 is missing at 2024-07-01: that visit is left out of the assessment."""
    return [
        _lv("2024-01-10", 5.0),
        LesionVisitResult(
            "L2", LesionType.AML, D("2024-01-10"), "b.nii.gz", LesionOrigin.PROMPT,
            LesionRecord.of_figures(3.0, 0.1, 20.0),
        ),
        _lv("2024-07-01", 3.0),
        _lv("2025-01-01", 3.0),
        LesionVisitResult(
            "L2", LesionType.AML, D("2025-01-01"), "b.nii.gz", LesionOrigin.PROMPT,
            LesionRecord.of_figures(2.0, 0.1, 20.0),
        ),
    ]  # fmt: skip


def test_a_visit_left_out_and_a_failed_patient_have_no_visit_review() -> None:
    result = CohortResult(TSC, (assess_patient("P", _left_out(), TSC, START),))
    records = result.to_records()
    dates = ["2024-01-10", "2024-01-10", "2024-07-01", "2025-01-01", "2025-01-01"]
    assert [r["date"] for r in records] == dates
    assert [r["visit_review"] for r in records] == ["", "", None, "", ""]
    assert list(_csv_rows(result)[0]) == list(CSV_COLUMNS)


# -- the report files always describe one result ---------------------------------------------


def _earlier_reports(folder: Path) -> None:
    for kind in ("json", "csv", "html", "pdf"):
        (folder / f"report.{kind}").write_text(f"an earlier run's report.{kind}")


def _interrupt(*args: object) -> bytes:
    raise KeyboardInterrupt


def test_ctrl_c_while_the_pdf_is_printed_leaves_no_earlier_page_beside_the_new_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or SIGKILL) after report.json was written left the earlier run's report.html
    and report.pdf in place: the folder's reports disagreed (its clean-up caught Exception
    only, and nothing can catch SIGKILL)."""
    _earlier_reports(tmp_path)
    monkeypatch.setattr(writers, "render_pdf", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        writers.write_reports(_straddling(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"report.{k}" for k in ("csv", "html", "json")
    ]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["patients"][0]["assessments"][0]["status"] == "not_evaluable"
    assert _csv_rows(_straddling()) == list(csv.DictReader((tmp_path / "report.csv").open()))
    assert STRADDLE in html_text.unescape((tmp_path / "report.html").read_text())


def test_an_interruption_before_the_page_leaves_json_and_csv_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _earlier_reports(tmp_path)
    monkeypatch.setattr(writers, "render_html", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        writers.write_reports(_straddling(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv", "report.json"]
    monkeypatch.setattr(writers, "render_csv", _interrupt)
    _earlier_reports(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        writers.write_reports(_straddling(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_reports_without_the_pdf_remove_an_earlier_pdf(tmp_path: Path) -> None:
    _earlier_reports(tmp_path)
    paths = writers.write_reports(_straddling(), tmp_path, pdf=False)
    assert sorted(paths) == ["csv", "html", "json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"report.{k}" for k in ("csv", "html", "json")
    ]


def test_every_report_carries_the_research_use_statement(tmp_path: Path) -> None:
    """report.csv had no disclaimer at all, and a CohortResult built by a library user (not
    by track) had an empty one: its report.json and page carried none."""
    failed = CaseError("Q", "2024-01-10", "unreadable")
    result = CohortResult(TSC, _straddling().patients, (failed,))
    writers.write_reports(result, tmp_path, pdf=False)
    assert json.loads((tmp_path / "report.json").read_text())["disclaimer"] == (
        RESEARCH_USE_DISCLAIMER
    )
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert [(r["patient_id"], r["disclaimer"]) for r in rows] == [
        ("P", RESEARCH_USE_DISCLAIMER),
        ("P", RESEARCH_USE_DISCLAIMER),
        ("Q", RESEARCH_USE_DISCLAIMER),
    ]
    assert list(rows[0])[-1] == "disclaimer"
    page = html_text.unescape((tmp_path / "report.html").read_text())
    assert page.count(RESEARCH_USE_DISCLAIMER) == 2  # at the top and at the bottom


def test_the_cohort_table_gives_the_treatment_in_force_at_the_latest_visit() -> None:
    """It gave the file's last dose even when it began after the latest visit (5 mg from
    2026-01-05 beside a 2025-07-15 scan taken on 7.5 mg), ", stopped 2024-10-01" for a course
    without drug or dose rows, and "started 2024-03-01" for a manifest's treatment_stop."""
    d = D
    course = TreatmentHistory(
        start=d("2024-01-15"),
        drugs=((d("2024-01-15"), Drug.EVEROLIMUS),),
        doses_mg=((d("2024-01-15"), 10.0), (d("2024-07-12"), 7.5), (d("2026-01-05"), 5.0)),
    )
    visits = [_lv("2024-01-10", 5.0), _lv("2025-07-15", 3.0)]
    dosed = assess_patient("A", visits, TSC, treatment=course)
    stopped = assess_patient(
        "B", visits, TSC, treatment=TreatmentHistory(start=START, stop=d("2024-10-01"))
    )
    manifest_stop = assess_patient("C", visits, TSC, START, d("2024-10-01"))
    paused = assess_patient(
        "D",
        visits,
        TSC,
        treatment=replace(course, pauses=(TreatmentPause(d("2025-02-01")),)),
    )
    page = render_html(CohortResult(TSC, (dosed, stopped, manifest_stop, paused)))
    cells = re.findall(r'<td class="text">([^<]*)</td></tr>', page)
    assert cells[:4] == [
        "everolimus 7.5 mg",
        "stopped 2024-10-01",
        "stopped 2024-10-01",
        "everolimus 7.5 mg, paused since 2025-02-01",
    ]


def test_report_csv_says_paused_after_stop_and_why_progression_as_the_page_does() -> None:
    """Start 2024-01-15, paused 2024-03-01 to 2024-04-15 (45 days), stopped 2024-10-01.
    2024-03-20, paused (19 days off): 2024-03-01 is 1 month and 15 of 29 days, 1.52;
    2025-01-01, after the stop: held at 2024-10-01 less 45 days, 2024-08-17, 7 months and 2
    of 31 days, 7.06; 13.0 mL is +36.8% from the 9.5 mL nadir and +30.0% from baseline.
    report.csv's months alone could not tell a paused or stopped visit (the page and
    report.json did), nor what made the progression."""
    course = TreatmentHistory(
        start=START,
        stop=D("2024-10-01"),
        pauses=(TreatmentPause(D("2024-03-01"), D("2024-04-15")),),
    )
    visits = [_lv("2024-01-10", 10.0), _lv("2024-03-20", 9.5), _lv("2025-01-01", 13.0)]
    result = CohortResult(TSC, (assess_patient("P", visits, TSC, treatment=course),))
    rows = _csv_rows(result)
    columns = (
        "months_on_treatment", "treatment_paused", "after_treatment_stop", "progression_met",
        "progression_reasons", "regrowth_after_stop", "status",
    )  # fmt: skip
    reason = "sum +36.8% from nadir (2024-03-20), +30.0% from baseline"
    assert [tuple(r[c] for c in columns) for r in rows] == [
        ("-0.16", "False", "False", "False", "", "False", "no_baseline"),
        ("1.52", "True", "False", "False", "", "False", "too_early"),
        ("7.06", "False", "True", "True", reason, "True", "progression"),
    ]
    timepoints = json.loads(result.to_json())["patients"][0]["assessments"][0]["timepoints"]
    assert [(t["treatment_paused"], t["after_treatment_stop"]) for t in timepoints] == [
        (False, False), (True, False), (False, True),
    ]  # fmt: skip
    assert timepoints[2]["progression_reasons"] == [reason]
    page = render_html(result)
    assert "1.5<br>(paused)" in page and "7.0<br>(after stop)" in page
    assert f"progression: {reason}" in page


def test_every_lesion_warning_of_report_json_is_on_the_page() -> None:
    """A lesion's own warnings (the registration's, the scan's, the libraries') were in
    report.json and report.csv only: the page showed the assessment's and the patient's."""
    note = "registration estimate imprecise: the lesion spans 3 voxels"
    visits = [_lv("2024-01-10", 10.0), replace(_lv("2024-07-01", 6.0), warnings=(note,))]
    result = CohortResult(TSC, (assess_patient("P", visits, TSC, START),))
    assert _csv_rows(result)[1]["warnings"] == note
    page = html_text.unescape(render_html(result))
    assert f"<li>{note}</li>" in page
    assert "aml L1, 2024-07-01</strong> (no view):" in page
    assert "aml L1, 2024-01-10</strong>" not in page  # nothing to say about the baseline
