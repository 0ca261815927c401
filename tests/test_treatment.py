"""The treatment file: validation as strict as the manifest's, and what the assessment does with it.

Expected values are computed by hand from the dates and thresholds of the guideline (trough
target 5-15 ng/mL, 12 months on treatment before judging, AML over 3 cm that grows).
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from builders import SAMPLE_SCANS, run_tscimg

from tscimg.core.treatment import Drug, TreatmentHistory, TreatmentPause
from tscimg.core.vocabularies import LesionType
from tscimg.io.manifest import read_manifest
from tscimg.io.treatment import TreatmentFileError, read_treatment, treatment_rows
from tscimg.longitudinal import TSC, ResponseStatus, VolumeAtVisit, assess_response

D = dt.date.fromisoformat
HEADER = "patient_id,date,event,value\n"


def _manifest(folder: Path, start: str = "2024-01-15") -> Path:
    for name in ("v1.nii.gz", "v2.nii.gz"):
        (folder / name).write_bytes(b"x")
    path = folder / "manifest.csv"
    path.write_text(
        "patient_id,date,image,lesion_id,lesion_type,point_lps,treatment_start\n"
        f"P1,2024-01-10,v1.nii.gz,L1,aml,1;2;3,{start}\n"
        "P1,2024-07-12,v2.nii.gz,L1,aml,,\n"
    )
    return path


def test_the_sample_file_reads_back_as_the_generator_wrote_it() -> None:
    from tscimg.synthetic import studies

    read = read_treatment(
        SAMPLE_SCANS / "treatment.csv", read_manifest(SAMPLE_SCANS / "manifest.csv")
    )
    written = {  # the records the sample studies carry (rendering them is not needed here)
        "TSC-001": studies.AML_TREATMENT,
        "TSC-002": studies.SEGA_TREATMENT,
        "TSC-003": studies.ECHO3D_TREATMENT,
        "TSC-004": studies.ECHO2D_TREATMENT,
    }
    assert written == dict(read.patients)
    aml = read.patients["TSC-001"]
    assert aml.start == D("2024-01-15") and aml.drug_on(D("2025-01-01")) is Drug.EVEROLIMUS
    assert aml.dose_on(D("2024-07-11")) == 10.0 and aml.dose_on(D("2024-07-12")) == 7.5
    assert aml.pauses == (TreatmentPause(D("2024-10-07"), D("2024-10-28")),)
    rows = [r for pid, h in written.items() for r in treatment_rows(pid, h)]
    assert len(rows) == len((SAMPLE_SCANS / "treatment.csv").read_text().splitlines()) - 1


def test_every_problem_is_named_with_its_row_and_column(tmp_path: Path) -> None:
    manifest = read_manifest(_manifest(tmp_path))
    path = tmp_path / "treatment.csv"
    path.write_text(
        HEADER
        + "P1,2024-01-16,start,\n"  # 2: disagrees with the manifest's 2024-01-15
        + "P1,2024-02-30,trough_ng_ml,6\n"  # 3: no such date
        + "P1,2024-03-01,dose,5\n"  # 4: unknown event
        + "P1,2024-03-02,trough_ng_ml,-1\n"  # 5: negative
        + "P1,2024-03-03,drug,rapamune\n"  # 6: unknown drug
        + "P1,2024-03-04,pause,yes\n"  # 7: a pause takes no value
        + "P1,2024-03-05,resume,\n"  # 8: no pause before it
        + "P1,2024-03-06,dose_mg,4.5 mg\n"  # 9: not a number
        + "P9,2024-03-07,start,\n"  # 10: not in the manifest
    )
    with pytest.raises(TreatmentFileError) as caught:
        read_treatment(path, manifest)
    message = str(caught.value)
    for expected in (
        "row 2, column date: patient P1's treatment start is 2024-01-16 here but 2024-01-15",
        "row 3, column date: '2024-02-30' is not a date",
        "row 4, column event: 'dose' is not one of start, stop, pause",
        "row 5, column value: trough_ng_ml must be a number 0 or more",
        "row 6, column value: 'rapamune' is not one of everolimus, sirolimus",
        "row 7, column value: a pause event takes no value",
        "row 8, column event: patient P1: a resume without a pause before it",
        "row 9, column value: '4.5 mg' is not a number",
        "row 10, column patient_id: patient P9 is not in the manifest",
    ):
        assert expected in message, expected
    assert message.startswith(f"{path}: 9 problem(s) in the treatment file")


def test_sequence_rules(tmp_path: Path) -> None:
    path = tmp_path / "treatment.csv"
    path.write_text(
        HEADER
        + "P1,2024-01-15,start,\n"
        + "P1,2024-01-10,dose_mg,5\n"  # 3: before the start
        + "P1,2024-02-01,pause,\n"
        + "P1,2024-02-10,pause,\n"  # 5: already paused
        + "P1,2024-03-01,trough_ng_ml,6\n"
        + "P1,2024-03-01,trough_ng_ml,7\n"  # 7: two on one date
        + "P1,2024-06-01,stop,\n"
        + "P1,2024-07-01,start,\n"  # 9: a second start
        + "P1,2024-08-01,dose_mg,5\n"  # 10: after the stop
        + "P1,2024-08-02,trough_ng_ml,2\n"  # a trough after the stop is allowed (washout)
        + "P2,2024-03-01,trough_ng_ml,2\n"  # 12: no start at all
    )
    with pytest.raises(TreatmentFileError) as caught:
        read_treatment(path)
    message = str(caught.value)
    assert "6 problem(s)" in message
    for expected in (
        "row 3, column date: patient P1: dose_mg on 2024-01-10 is before the treatment start",
        "row 5, column event: patient P1: a pause while already paused (since 2024-02-01)",
        "row 7, column event: patient P1 has two trough_ng_ml events on 2024-03-01 (row 6)",
        "row 9, column event: patient P1 has a second start (the first is on 2024-01-15)",
        "row 10, column date: patient P1: dose_mg on 2024-08-01 is after the treatment stop",
        "row 12, column event: patient P2 has treatment events but no start",
    ):
        assert expected in message, expected


def test_the_manifest_start_stands_in_for_a_missing_start_event(tmp_path: Path) -> None:
    manifest = read_manifest(_manifest(tmp_path))
    path = tmp_path / "treatment.csv"
    path.write_text(HEADER + "P1,2024-03-01,trough_ng_ml,3.5\nP1,2024-03-02,pause,\n")
    history = read_treatment(path, manifest).patients["P1"]
    assert history.start == D("2024-01-15")
    assert history.pauses == (TreatmentPause(D("2024-03-02"), None),)
    unknown = tmp_path / "bad.csv"
    unknown.write_text("patient_id,date,event,value,unit\n")
    with pytest.raises(TreatmentFileError, match="row 1: unknown column"):
        read_treatment(unknown)


def test_track_refuses_a_bad_treatment_file_before_processing_anything(tmp_path: Path) -> None:
    bad = tmp_path / "treatment.csv"
    bad.write_text(HEADER + "TSC-001,2024-01-20,start,\nTSC-001,2024-02-01,resume,\n")
    out = tmp_path / "out"
    result = run_tscimg(
        "track", str(SAMPLE_SCANS / "manifest.csv"), "-o", str(out), "--treatment", str(bad)
    )
    assert result.returncode == 1, result.stderr
    assert "row 2, column date: patient TSC-001's treatment start is 2024-01-20" in result.stderr
    assert "row 3, column event: patient TSC-001: a resume without a pause" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (out / "report.json").exists() and not (out / "masks").exists()


# -- what the assessment does with the treatment ---------------------------------------------

START = D("2024-03-01")


def test_pauses_are_left_out_of_the_months_and_the_12_month_clock() -> None:
    """2024-03-01 to 2025-03-05 is 12.13 calendar months; a pause of 30 days (2024-06-01 to
    2024-07-01) takes the end back to 2025-02-03: 11 + 2/28 months on treatment, too early,
    not non-response."""
    visits = [VolumeAtVisit(D("2024-02-20"), 10.0), VolumeAtVisit(D("2025-03-05"), 9.0)]
    plain = assess_response(visits, TSC, START)
    assert plain.status is ResponseStatus.NON_RESPONSE_12M
    paused = TreatmentHistory(
        start=START, pauses=(TreatmentPause(D("2024-06-01"), D("2024-07-01")),)
    )
    result = assess_response(visits, TSC, START, treatment=paused)
    assert result.timepoints[-1].months_on_treatment == pytest.approx(11 + 2 / 28)
    assert result.status is ResponseStatus.TOO_EARLY
    later = [*visits, VolumeAtVisit(D("2025-04-02"), 9.0)]  # back to 2025-03-03: 12 + 2/31
    assert assess_response(later, TSC, START, treatment=paused).status is (
        ResponseStatus.NON_RESPONSE_12M
    )


def test_months_on_treatment_stand_still_during_a_pause_and_never_go_back() -> None:
    """Started on the 31st (month ends clamp the anniversaries), paused on 2025-01-28 at 11.90
    months and never resumed: a scan on 2025-02-28 was read as 12.0 months and non-response.
    Months now stand still through every pause and never decrease, and the 12-month mark is
    the first day they reach 12, for starts on every day of a year and pauses of 1-90 days."""
    from tscimg.longitudinal.response import date_at_treatment_months, treatment_months

    start = D("2024-01-31")
    stuck = TreatmentHistory(start=start, pauses=(TreatmentPause(D("2025-01-28"), None),))
    visits = [VolumeAtVisit(D("2024-01-20"), 10.0), VolumeAtVisit(D("2025-02-28"), 9.0)]
    result = assess_response(visits, TSC, treatment=stuck)
    assert result.status is ResponseStatus.TOO_EARLY
    assert result.timepoints[-1].months_on_treatment == pytest.approx(11 + 28 / 31)
    day = dt.timedelta(days=1)
    for n in range(0, 366, 7):
        first = D("2023-01-01") + n * day
        paused_on = first + (200 + n % 60) * day
        pause = TreatmentPause(paused_on, paused_on + (1 + n % 90) * day)
        months = [treatment_months(first, first + k * day, [pause]) for k in range(500)]
        assert all(b >= a for a, b in itertools.pairwise(months)), first
        paused = [treatment_months(first, d, [pause]) for d in (pause.paused, pause.resumed)]
        assert paused[0] == pytest.approx(paused[1]), first
        mark = date_at_treatment_months(first, 12, [pause])
        assert mark is not None
        assert treatment_months(first, mark, [pause]) == pytest.approx(12.0)
        assert treatment_months(first, mark - day, [pause]) < 12.0


def test_a_pause_never_resumed_before_12_months_is_too_early_and_still_plotted() -> None:
    """Paused on 2024-09-01 (6 months on treatment) with no resume: 6 months on treatment at
    every later scan, so too early however late the scan. The plot's 12-month mark used to be
    searched for day by day for ever (``tscimg track`` hung drawing this patient); there is
    none to draw."""
    from tscimg.longitudinal.response import date_at_treatment_months
    from tscimg.report.figures import png_size, volume_plot_png

    visits = [VolumeAtVisit(D("2024-02-20"), 10.0), VolumeAtVisit(D("2025-06-01"), 9.0)]
    paused = TreatmentHistory(start=START, pauses=(TreatmentPause(D("2024-09-01"), None),))
    result = assess_response(visits, TSC, START, treatment=paused)
    assert result.status is ResponseStatus.TOO_EARLY
    assert result.timepoints[-1].months_on_treatment == pytest.approx(6.0)
    assert any("paused on 2024-09-01 after 6.0 months on treatment and never resumed" in w
               for w in result.warnings)  # fmt: skip
    assert date_at_treatment_months(START, 12, paused.pauses) is None
    assert png_size(volume_plot_png(result, TSC, "P1", paused))[0] > 0


def _non_response(treatment: TreatmentHistory | None) -> tuple[str, ...]:
    visits = [VolumeAtVisit(D("2024-02-20"), 10.0), VolumeAtVisit(D("2025-03-05"), 9.0)]
    result = assess_response(visits, TSC, START, lesion_type=LesionType.SEGA, treatment=treatment)
    assert result.status is ResponseStatus.NON_RESPONSE_12M
    return result.recommendations


def test_non_response_names_the_sub_therapeutic_troughs_of_the_last_12_months() -> None:
    troughs = ((D("2024-03-01"), 2.0), (D("2024-04-10"), 4.2), (D("2024-09-01"), 7.5),
               (D("2025-01-20"), 4.9))  # fmt: skip
    history = TreatmentHistory(
        start=START,
        drugs=((START, Drug.EVEROLIMUS),),
        doses_mg=((START, 4.5),),
        troughs_ng_ml=troughs,
    )
    text = " | ".join(_non_response(history))
    # 2024-03-01 is more than 12 months before 2025-03-05: not named; 7.5 is in range
    assert "4.2 ng/mL on 2024-04-10, 4.9 ng/mL on 2025-01-20;" in text
    assert "2024-03-01" not in text and "7.5" not in text
    assert "treatment in force on 2025-03-05: everolimus 4.5 mg" in text
    in_range = TreatmentHistory(start=START, troughs_ng_ml=((D("2024-09-01"), 7.5),))
    assert any(
        "no sub-therapeutic trough level (below 5 ng/mL) in the 12 months before 2025-03-05: "
        "1 recorded, 7.5 to 7.5 ng/mL" in r
        for r in _non_response(in_range)
    )
    for none in (None, TreatmentHistory(start=START)):
        assert any(
            "no trough level recorded in the 12 months before 2025-03-05" in r
            for r in _non_response(none)
        )


def _aml(date: str, volume: float, length_mm: float, review: tuple[str, ...] = ()) -> object:
    from tscimg.longitudinal import LesionOrigin, LesionVisitResult
    from tscimg.measure import LesionRecord

    figures = LesionRecord.of_figures(volume, 0.5, length_mm, length_mm)
    return LesionVisitResult(
        "L1", LesionType.AML, D(date), "scan", LesionOrigin.PROMPT, figures, review=review
    )


@pytest.mark.parametrize(
    ("visits", "start", "met"),
    [
        ([("2023-01-10", 10.0, 31.0), ("2024-01-10", 12.0, 33.0)], "2024-02-01", "2024-01-10"),
        ([("2023-01-10", 10.0, 31.0), ("2024-01-10", 12.0, 33.0)], None, "2024-01-10"),
        ([("2023-01-10", 10.0, 27.0), ("2024-01-10", 12.0, 29.5)], None, None),  # under 3 cm
        ([("2023-01-10", 10.0, 31.0), ("2024-01-10", 10.5, 31.2)], None, None),  # within ±0.71 mL
        ([("2023-01-10", 12.0, 33.0), ("2024-01-10", 10.0, 31.0)], None, None),  # shrank
        ([("2024-01-10", 10.0, 31.0), ("2024-09-10", 12.0, 33.0)], "2024-02-01", None),  # on drug
    ],
    ids=["before-start", "untreated", "short", "within-uncertainty", "shrinking", "on-treatment"],
)
def test_a_growing_aml_over_3_cm_before_treatment_meets_the_indication(
    visits: list[tuple[str, float, float]], start: str | None, met: str | None
) -> None:
    from tscimg.longitudinal import assess_patient

    lesions = [_aml(*v) for v in visits]
    (a,) = assess_patient("P", lesions, TSC, None if start is None else D(start)).assessments  # type: ignore[arg-type]
    assert a.treatment_indication.date == (None if met is None else D(met))
    notes = [n for n in a.guideline_notes if "treatment indication" in n]
    assert len(notes) == (met is not None)
    if met is not None:
        assert "grew from 10.00 to 12.00 mL (+20.0%" in notes[0] and "33.0 mm long" in notes[0]


def test_rhabdomyoma_assessments_say_regression_is_expected_and_troughs_above_15_are_flagged() -> (
    None
):
    from dataclasses import replace

    from tscimg.longitudinal import assess_patient

    visits = [replace(_aml(d, v, 10.0), lesion_type=LesionType.RHABDOMYOMA)
              for d, v in (("2024-02-20", 1.0), ("2024-09-01", 0.6))]  # fmt: skip
    history = TreatmentHistory(
        start=START, troughs_ng_ml=((D("2024-04-01"), 15.0), (D("2024-05-01"), 15.1))
    )
    patient = assess_patient("P", visits, TSC, treatment=history)  # type: ignore[arg-type]
    (a,) = patient.assessments
    assert a.treatment_start == START  # from the treatment record
    assert any("regress spontaneously" in n for n in a.guideline_notes)
    flagged = [w for w in patient.warnings if "above 15 ng/mL" in w]
    assert flagged == [
        "trough level 15.1 ng/mL on 2024-05-01 is above 15 ng/mL, the top of the target range "
        "(5-15 ng/mL)"
    ]  # 15.0 is in range: the limit is inclusive
    record = patient.to_dict()["treatment"]
    assert [t["flag"] for t in record["troughs_ng_ml"]] == ["in range", "above"]
    aml = assess_patient("Q", [_aml("2024-02-20", 1.0, 10.0)], TSC, START)  # type: ignore[list-item]
    assert not any("regress" in n for n in aml.assessments[0].guideline_notes)
