"""Tables that say what they mean: change from the nadir before each visit, the status as of each
visit, failed patients as rows, no "-0.0", and the input checks (one file at two visits, a
manifest date far from the scan's own). Expected values are computed by hand."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math

import pytest

from tscimg.core.vocabularies import LesionType
from tscimg.longitudinal import (
    TSC,
    CaseError,
    CohortResult,
    LesionOrigin,
    LesionVisitResult,
    ResponseStatus,
    ScanFacts,
    VolumeAtVisit,
    assess_patient,
    assess_response,
)
from tscimg.measure import LesionRecord
from tscimg.report import CSV_COLUMNS, render_csv
from tscimg.report.html import render_html

D = dt.date.fromisoformat
START = D("2024-03-01")


def test_change_from_nadir_is_against_the_nadir_before_the_visit() -> None:
    series = (("2024-02-20", 10.0), ("2024-09-01", 8.0), ("2025-03-01", 6.0), ("2025-09-01", 7.5))
    visits = [VolumeAtVisit(D(d), v) for d, v in series]
    changes = [t.change_from_nadir_pct for t in assess_response(visits, TSC, START).timepoints]
    # baseline: no nadir before it; then 8 vs 10, 6 vs 8, 7.5 vs 6
    assert changes[0] is None
    assert changes[1:] == pytest.approx([-20.0, -25.0, 25.0])


def test_each_visit_carries_its_own_status() -> None:
    visits = [VolumeAtVisit(D(d), v) for d, v in
              (("2024-01-10", 11.0), ("2024-02-20", 10.0), ("2024-09-01", 8.0),
               ("2025-01-10", 6.0), ("2025-09-01", 7.2), ("2026-03-01", 9.1))]  # fmt: skip
    result = assess_response(visits, TSC, START)
    assert [t.status for t in result.timepoints] == [
        ResponseStatus.NO_BASELINE,  # before the baseline: nothing to compare with yet
        ResponseStatus.NO_BASELINE,  # the baseline itself
        ResponseStatus.TOO_EARLY,  # -20% at 6 months
        ResponseStatus.RESPONSE,  # -40%
        ResponseStatus.STABLE,  # -28%: reached before, not held
        ResponseStatus.STABLE,  # +51.7% from the 6 mL nadir, but -9% from baseline
    ]
    assert result.timepoints[-1].status is result.status
    assert result.timepoints[3].to_dict()["status"] == "response"


def test_no_negative_zero_in_json_or_csv() -> None:
    visits = [VolumeAtVisit(D("2024-02-29"), 10.0), VolumeAtVisit(D("2024-09-01"), 6.0)]
    start = D("2024-02-29") + dt.timedelta(days=0)
    tp = assess_response(visits, TSC, start).timepoints[0].to_dict()
    assert tp["months_on_treatment"] == 0.0 and math.copysign(1, tp["months_on_treatment"]) == 1
    almost = assess_response(
        [VolumeAtVisit(D("2024-02-20"), 10.0), VolumeAtVisit(D("2024-09-01"), 9.9999999)],
        TSC,
        START,
    ).timepoints[1]
    assert almost.change_from_baseline_pct is not None and almost.change_from_baseline_pct < 0
    assert math.copysign(1, almost.to_dict()["change_from_baseline_pct"]) == 1  # 0.0, not -0.0


def _lesion(
    date: str, volume: float, sha: str, acquired: str | None, image: str
) -> LesionVisitResult:
    scan = ScanFacts(image, sha, "CT", "x", 1.0, (1.0, 1.0, 1.0), acquisition_date=acquired)
    figures = LesionRecord.of_figures(volume, 0.1, 20.0)
    return LesionVisitResult("L1", LesionType.AML, D(date), image, LesionOrigin.PROMPT, figures,
                             scan=scan)  # fmt: skip


def test_the_same_file_at_two_visits_and_a_far_manifest_date_are_warnings() -> None:
    visits = [
        _lesion("2024-02-20", 10.0, "a" * 64, "2024-02-20", "v1"),
        _lesion("2024-09-01", 8.0, "a" * 64, "2024-08-26", "v2"),  # same bytes; 6 days: fine
        _lesion("2025-03-01", 7.0, "b" * 64, "2024-03-01", "v3"),  # a year off
    ]
    warnings = assess_patient("P", visits, TSC, START).warnings
    (same,) = [w for w in warnings if "same image file" in w]
    assert "SHA-256 aaaaaaaaaaaa" in same and "2024-02-20 (v1), 2024-09-01 (v2)" in same
    (far,) = [w for w in warnings if "acquisition date" in w]
    assert far.startswith("2025-03-01: the manifest's visit date is 365 days from the scan's own")


def test_csv_rows_have_their_own_status_the_latest_and_failed_patients() -> None:
    visits = [_lesion(d, v, d * 6, d, d) for d, v in
              (("2024-02-20", 10.0), ("2024-09-01", 6.0), ("2025-03-01", 7.5))]  # fmt: skip
    patient = assess_patient("P1", visits, TSC, START)
    result = CohortResult(TSC, (patient,), (CaseError("P2", "2024-05-01", "unreadable scan"),))
    rows = list(csv.DictReader(io.StringIO(render_csv(result))))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [(r["patient_id"], r["status"], r["latest_status"]) for r in rows] == [
        ("P1", "no_baseline", "stable"),
        ("P1", "response", "stable"),
        ("P1", "stable", "stable"),
        ("P2", "", ""),
    ]
    assert [r["change_from_nadir_pct"] for r in rows[:3]] == ["", "-40.0", "25.0"]
    assert rows[3]["date"] == "2024-05-01" and rows[3]["error"] == "unreadable scan"
    assert all(r["error"] == "" for r in rows[:3])
    html = render_html(result)
    assert "-0.0" not in html and "+-0.0" not in html
    assert html.count("from nadir before") == 1
