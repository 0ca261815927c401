"""The response engine against hand-computed cases: every status and each edge of DESIGN.md §5."""

from __future__ import annotations

import datetime as dt

import pytest

from tscimg.core.vocabularies import LesionType
from tscimg.longitudinal import (
    EXIST,
    TSC,
    ResponseAssessment,
    ResponseStatus,
    VolumeAtVisit,
    assess_response,
    months_between,
)
from tscimg.longitudinal.criteria import NON_RESPONSE_ACTIONS

D = dt.date.fromisoformat
START = D("2024-03-01")


def series(*pairs: tuple[str, float]) -> list[VolumeAtVisit]:
    return [VolumeAtVisit(D(d), v) for d, v in pairs]


# (name, visits, criteria, treatment_start, treatment_stop, status, response date,
#  progression date, non_response_12m)
# fmt: off
CASES = [
    ("exactly 30.0% is a response",
     series(("2024-02-20", 10.0), ("2024-09-01", 7.0)),
     TSC, START, None, ResponseStatus.RESPONSE, "2024-09-01", None, False),
    ("29.9% under 12 months is too early",
     series(("2024-02-20", 10.0), ("2024-09-01", 7.01)),
     TSC, START, None, ResponseStatus.TOO_EARLY, None, None, False),
    ("exactly 12 months without response is non-response",
     series(("2024-02-20", 10.0), ("2025-03-01", 8.0)),
     TSC, START, None, ResponseStatus.NON_RESPONSE_12M, None, None, True),
    ("a day short of 12 months is still too early",
     series(("2024-02-20", 10.0), ("2025-02-28", 8.0)),
     TSC, START, None, ResponseStatus.TOO_EARLY, None, None, False),
    ("exist needs 50%: 40% at 12 months is non-response",
     series(("2024-02-20", 10.0), ("2025-03-05", 6.0)),
     EXIST, START, None, ResponseStatus.NON_RESPONSE_12M, None, None, True),
    ("exist: exactly 50% is a response",
     series(("2024-02-20", 10.0), ("2025-03-05", 5.0)),
     EXIST, START, None, ResponseStatus.RESPONSE, "2025-03-05", None, False),
    ("response reached, then lost: stable",
     series(("2024-02-20", 10.0), ("2024-09-01", 6.0), ("2025-03-01", 7.2)),
     TSC, START, None, ResponseStatus.STABLE, "2024-09-01", None, False),
    ("nadir then regrowth of 25% to above baseline: progression",
     series(("2024-02-20", 10.0), ("2024-09-01", 9.0), ("2025-03-01", 11.25)),
     TSC, START, None, ResponseStatus.PROGRESSION, None, "2025-03-01", True),
    ("regrowth of 25% from nadir still below baseline is not progression",
     series(("2024-02-20", 10.0), ("2024-09-01", 6.0), ("2025-03-01", 7.5)),
     TSC, START, None, ResponseStatus.STABLE, "2024-09-01", None, False),
    ("only one scan: no baseline to compare with",
     series(("2024-02-20", 10.0)),
     TSC, START, None, ResponseStatus.NO_BASELINE, None, None, False),
    ("no treatment_start: baseline is the first scan, clock from it",
     series(("2024-02-20", 10.0), ("2024-08-20", 6.0)),
     TSC, None, None, ResponseStatus.RESPONSE, "2024-08-20", None, False),
    ("baseline after treatment_start: the first scan is the baseline",
     series(("2024-03-10", 10.0), ("2024-09-10", 9.0)),
     TSC, START, None, ResponseStatus.TOO_EARLY, None, None, False),
    ("treatment stopped, regrowth from nadir to above baseline: progression",
     series(("2024-02-20", 10.0), ("2024-09-01", 8.0), ("2025-06-01", 10.5)),
     TSC, START, D("2024-12-01"), ResponseStatus.PROGRESSION, None, "2025-06-01", False),
    ("stopped after 9 months: months off the drug never make 12 on treatment",
     series(("2024-02-20", 10.0), ("2024-09-01", 9.0), ("2025-06-01", 9.0)),
     TSC, START, D("2024-12-01"), ResponseStatus.TOO_EARLY, None, None, False),
    ("stopped after 13 months without response: non-response stands",
     series(("2024-02-20", 10.0), ("2025-03-01", 9.0), ("2025-09-01", 9.0)),
     TSC, START, D("2025-04-01"), ResponseStatus.NON_RESPONSE_12M, None, None, True),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "visits", "criteria", "start", "stop", "status", "response", "progression", "nr12"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_status_table(
    name: str,
    visits: list[VolumeAtVisit],
    criteria: object,
    start: dt.date | None,
    stop: dt.date | None,
    status: ResponseStatus,
    response: str | None,
    progression: str | None,
    nr12: bool,
) -> None:
    result = assess_response(visits, criteria, start, stop)  # type: ignore[arg-type]
    assert result.status is status
    assert result.response.date == (None if response is None else D(response))
    assert result.response.reached is (response is not None)
    assert result.progression.date == (None if progression is None else D(progression))
    assert result.non_response_12m.reached is nr12


def test_changes_baseline_and_nadir_are_computed_by_hand() -> None:
    visits = series(("2023-12-01", 12.0), ("2024-02-20", 10.0), ("2024-09-01", 8.0),
                    ("2025-03-01", 9.0))  # fmt: skip
    result = assess_response(visits, TSC, START)
    assert result.baseline_date == D("2024-02-20")  # the last scan on or before the start
    pre, base, mid, last = result.timepoints
    assert pre.change_from_baseline_pct == pytest.approx(20.0)
    assert not pre.response_met and not pre.is_baseline
    assert base.is_baseline and base.change_from_baseline_pct == 0.0
    assert mid.change_from_baseline_pct == pytest.approx(-20.0)
    assert last.change_from_nadir_pct == pytest.approx(12.5)
    assert result.nadir_date == D("2024-09-01")
    assert result.best_change_pct == pytest.approx(-20.0)
    assert last.months_on_treatment == pytest.approx(12.0)
    assert base.months_on_treatment == pytest.approx(-(10 / 29))  # 10 days of a 29-day month


def test_non_response_recommends_the_guideline_actions_and_aml_intervention() -> None:
    result = assess_response(
        series(("2024-02-20", 10.0), ("2025-04-01", 9.5)), TSC, START, lesion_type=LesionType.AML
    )
    assert result.status is ResponseStatus.NON_RESPONSE_12M
    assert result.recommendations[: len(NON_RESPONSE_ACTIONS)] == NON_RESPONSE_ACTIONS
    assert any("5-15 ng/mL" in r for r in result.recommendations)
    assert any("embolization" in r for r in result.recommendations)
    responder = assess_response(series(("2024-02-20", 10.0), ("2025-04-01", 5.0)), TSC, START)
    assert responder.recommendations == ()


def test_regrowth_after_treatment_stop_is_flagged() -> None:
    visits = series(("2024-02-20", 10.0), ("2024-09-01", 5.0), ("2025-03-01", 6.0),
                    ("2025-09-01", 6.5))  # fmt: skip
    result = assess_response(visits, TSC, START, treatment_stop=D("2024-12-01"))
    # +20% from nadir after the stop is not yet regrowth; +30% is
    assert [t.regrowth_after_stop for t in result.timepoints] == [False, False, False, True]
    assert result.regrowth_after_stop.date == D("2025-09-01")
    assert [t.after_treatment_stop for t in result.timepoints] == [False, False, True, True]
    assert result.timepoints[2].change_from_nadir_pct == pytest.approx(20.0)
    assert result.timepoints[3].change_from_nadir_pct == pytest.approx(30.0)
    # 9 months on treatment (2024-03-01 to the stop), however long after the stop the scan is
    assert [t.months_on_treatment for t in result.timepoints[2:]] == pytest.approx([9.0, 9.0])
    assert not any("cannot be assessed" in w for w in result.warnings)  # a response was reached
    unanswered = assess_response(visits[:1] + series(("2025-09-01", 9.5)), TSC, START,
                                 treatment_stop=D("2024-12-01"))  # fmt: skip
    assert unanswered.status is ResponseStatus.TOO_EARLY
    assert any("after 9.0 months on treatment" in w for w in unanswered.warnings)


def test_new_lesion_of_one_centimetre_is_progression_smaller_is_not() -> None:
    small = [VolumeAtVisit(D("2024-02-20"), 10.0),
             VolumeAtVisit(D("2024-09-01"), 6.0, new_lesion_diameters_mm={"L2": 9.9})]  # fmt: skip
    assert assess_response(small, TSC, START).status is ResponseStatus.RESPONSE
    big = [VolumeAtVisit(D("2024-02-20"), 10.0),
           VolumeAtVisit(D("2024-09-01"), 6.0, new_lesion_diameters_mm={"L2": 10.0})]  # fmt: skip
    result = assess_response(big, TSC, START)
    assert result.status is ResponseStatus.PROGRESSION
    assert result.progression.date == D("2024-09-01")
    assert "new lesion L2" in result.timepoints[1].progression_reasons[0]


def test_change_within_uncertainty_is_reported() -> None:
    visits = [VolumeAtVisit(D("2024-02-20"), 10.0, 0.3), VolumeAtVisit(D("2024-09-01"), 9.8, 0.3)]
    result = assess_response(visits, TSC, START)
    assert result.timepoints[1].change_within_uncertainty
    assert any("uncertainty" in w for w in result.warnings)
    far = [VolumeAtVisit(D("2024-02-20"), 10.0, 0.3), VolumeAtVisit(D("2024-09-01"), 9.0, 0.3)]
    assert not assess_response(far, TSC, START).timepoints[1].change_within_uncertainty


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        ("2024-03-01", "2025-03-01", 12.0),
        ("2024-01-31", "2024-02-29", 1.0),
        ("2024-01-31", "2024-03-31", 2.0),
        ("2023-02-28", "2024-02-28", 12.0),
        ("2024-03-01", "2024-03-16", 15 / 31),
    ],
)
def test_calendar_months(start: str, end: str, months: float) -> None:
    assert months_between(D(start), D(end)) == pytest.approx(months)


def _lesion(lid: str, date: str, volume_ml: float, diameter_mm: float = 20.0) -> object:
    from tscimg.longitudinal import LesionOrigin, LesionVisitResult
    from tscimg.measure import LesionRecord

    figures = LesionRecord.of_figures(volume_ml, 0.0, diameter_mm)
    return LesionVisitResult(lid, LesionType.AML, D(date), "scan", LesionOrigin.PROMPT, figures)


def test_bookkeeping_sums_target_lesions_and_a_new_lesion_is_progression() -> None:
    from tscimg.longitudinal import assess_patient

    visits = [
        _lesion("L1", "2024-02-20", 6.0),
        _lesion("L2", "2024-02-20", 4.0),
        _lesion("L1", "2024-09-01", 3.0),
        _lesion("L2", "2024-09-01", 2.0),
        _lesion("L3", "2024-09-01", 1.5, diameter_mm=12.0),  # first seen after baseline
    ]
    patient = assess_patient("P", visits, TSC, START)  # type: ignore[arg-type]
    (a,) = patient.assessments
    assert [t.total_volume_ml for t in a.timepoints] == [10.0, 5.0]  # L3 is not a target
    assert patient.new_lesions == {"L3": D("2024-09-01")}
    assert a.status is ResponseStatus.PROGRESSION  # -50% but a new 12 mm lesion
    record = patient.to_dict()["assessments"][0]["timepoints"][1]
    assert record["target_lesions"] == ["L1", "L2"] and record["new_lesions"] == ["L3"]


def test_a_flagged_new_lesion_is_no_progression() -> None:
    """A new lesion whose mask is a flagged best estimate cannot declare progression: the
    visit is not evaluable until a reader checks it."""
    from dataclasses import replace

    from tscimg.longitudinal import assess_patient

    new = replace(_lesion("L3", "2024-09-01", 1.5, diameter_mm=12.0), review=("best estimate",))
    visits = [_lesion("L1", "2024-02-20", 6.0), _lesion("L1", "2024-09-01", 3.0), new]
    (a,) = assess_patient("P", visits, TSC, START).assessments  # type: ignore[arg-type]
    assert a.status is ResponseStatus.NOT_EVALUABLE
    assert not a.progression.reached
    assert a.review == ("2024-09-01: L3: best estimate",)


def test_a_target_lesion_missing_at_a_visit_leaves_that_visit_out() -> None:
    """A visit between missing L2 is left out (warned); at the latest visit, which the status
    describes, the incomplete sum is not evaluable, never a status taken from an earlier
    visit: L1 alone at 15 mL is above the 10 mL baseline, and L2 could be anything."""
    from tscimg.longitudinal import assess_patient

    visits = [
        _lesion("L1", "2024-02-20", 6.0),
        _lesion("L2", "2024-02-20", 4.0),
        _lesion("L1", "2024-06-01", 3.0),
        _lesion("L1", "2024-09-01", 2.0),
        _lesion("L2", "2024-09-01", 2.0),
        _lesion("L1", "2025-03-01", 15.0),
    ]
    patient = assess_patient("P", visits, TSC, START)  # type: ignore[arg-type]
    (a,) = patient.assessments
    assert [str(t.date) for t in a.timepoints] == ["2024-02-20", "2024-09-01", "2025-03-01"]
    assert any("2024-06-01: target lesion(s) L2 not measured" in w for w in patient.warnings)
    latest = a.timepoints[-1]
    assert latest.total_volume_ml is None and "L2 not measured at this visit" in latest.review[0]
    assert a.status is ResponseStatus.NOT_EVALUABLE and a.response.date == D("2024-09-01")
    assert "visit of 2025-03-01" in a.recommendations[0]


def test_a_visit_before_the_baseline_missing_a_target_is_left_out() -> None:
    """L2 first measured at the baseline: a 2023 visit with L1 alone is no sum to compare
    with the baseline's (it read -50.0% from baseline)."""
    from tscimg.longitudinal import assess_patient

    visits = [
        _lesion("L1", "2023-06-10", 5.0),
        _lesion("L1", "2024-02-20", 5.0),
        _lesion("L2", "2024-02-20", 5.0),
        _lesion("L1", "2024-09-01", 4.0),
        _lesion("L2", "2024-09-01", 4.0),
    ]
    patient = assess_patient("P", visits, TSC, START)  # type: ignore[arg-type]
    (a,) = patient.assessments
    assert [str(t.date) for t in a.timepoints] == ["2024-02-20", "2024-09-01"]
    assert any("2023-06-10: target lesion(s) L2 not measured" in w for w in patient.warnings)


def test_the_baseline_is_decided_once_a_lesion_missing_at_it_is_no_target() -> None:
    """Issue 18's case: L1 measured (10 mL) only at an earlier scan, L2 (5 mL) only at the
    baseline (the last scan before treatment), both unchanged later. The sum's baseline was
    chosen twice (the incomplete baseline visit was dropped, then the earlier scan became the
    baseline): +50%, progression, where nothing changed. Now L1 is not a target (warned) and
    the change is 0%."""
    from tscimg.longitudinal import assess_patient

    visits = [
        _lesion("L1", "2024-01-01", 10.0),
        _lesion("L2", "2024-02-01", 5.0),
        _lesion("L1", "2024-09-01", 10.0),
        _lesion("L2", "2024-09-01", 5.0),
    ]
    patient = assess_patient("P", visits, TSC, D("2024-02-15"))  # type: ignore[arg-type]
    (a,) = patient.assessments
    assert a.baseline_date == D("2024-02-01")
    assert [(t.date, t.total_volume_ml) for t in a.timepoints] == [
        (D("2024-02-01"), 5.0),
        (D("2024-09-01"), 5.0),
    ]
    assert a.timepoints[-1].change_from_baseline_pct == 0.0
    assert a.status is ResponseStatus.TOO_EARLY and not a.progression.reached
    assert any(
        "L1: seen on 2024-01-01 but not measured at the baseline" in w for w in patient.warnings
    )
    assert any("2024-01-01: no target lesion was measured" in w for w in patient.warnings)
    assert patient.new_lesions == {}  # seen before the baseline: not a new lesion either


def test_every_target_at_the_baseline_and_an_earlier_partial_scan() -> None:
    """Neighbour: both lesions at the baseline, only L1 at an earlier scan. The earlier scan's
    sum holds L1 alone and decides nothing; the baseline holds both; -40% later is a response
    from the baseline's 15 mL, not from the earlier 10 mL."""
    from tscimg.longitudinal import assess_patient

    visits = [
        _lesion("L1", "2024-01-01", 10.0),
        _lesion("L1", "2024-02-01", 10.0),
        _lesion("L2", "2024-02-01", 5.0),
        _lesion("L1", "2024-09-01", 6.0),
        _lesion("L2", "2024-09-01", 3.0),
    ]
    (a,) = assess_patient("P", visits, TSC, D("2024-02-15")).assessments  # type: ignore[arg-type]
    assert a.baseline_date == D("2024-02-01")
    assert a.timepoints[-1].change_from_baseline_pct == pytest.approx(-40.0)
    assert a.status is ResponseStatus.RESPONSE


def test_a_baseline_given_to_assess_response_is_kept() -> None:
    """The caller's baseline wins over the one the dates would give; it must be a visit."""
    visits = series(("2024-01-01", 10.0), ("2024-02-01", 5.0), ("2024-09-01", 5.0))
    a = assess_response(visits, TSC, D("2024-02-15"), baseline=D("2024-02-01"))
    assert a.baseline_date == D("2024-02-01") and a.timepoints[-1].change_from_baseline_pct == 0.0
    with pytest.raises(ValueError, match="not among the visits"):
        assess_response(visits, TSC, D("2024-02-15"), baseline=D("2024-03-01"))


def flagged(date: str, volume: float, reason: str = "the carried lesion changed 7.10-fold"):
    return VolumeAtVisit(D(date), volume, review=(reason,))


def test_the_best_change_of_a_sum_that_only_grew_is_its_smallest_growth() -> None:
    """10 -> 11.5 -> 13 mL: +15.0% then +30.0% (progression). The best change read 0.0%, the
    baseline's own, so the cohort table and the waterfall showed no change for a tumour that
    grew at every visit; a baseline alone has no best change."""
    visits = series(("2024-01-10", 10.0), ("2024-07-01", 11.5), ("2025-01-01", 13.0))
    result = assess_response(visits, TSC, START)
    assert result.best_change_pct == pytest.approx(15.0)
    assert result.status is ResponseStatus.PROGRESSION
    alone = assess_response(series(("2024-01-10", 10.0)), TSC, START)
    assert alone.best_change_pct is None and alone.status is ResponseStatus.NO_BASELINE


def test_a_flagged_latest_visit_is_not_evaluable_never_a_status() -> None:
    """The issue-14 case: a carried follow-up that leaked 7-fold used to read as progression.
    Flagged, it is shown with its reason and the status is not_evaluable, with what to do."""
    visits = [VolumeAtVisit(D("2024-02-20"), 10.0), flagged("2025-03-01", 71.0)]
    result = assess_response(visits, TSC, START)
    assert result.status is ResponseStatus.NOT_EVALUABLE
    assert not result.progression.reached and not result.non_response_12m.reached
    assert result.review == ("2025-03-01: the carried lesion changed 7.10-fold",)
    assert result.timepoints[-1].change_from_baseline_pct == pytest.approx(610.0)
    assert not result.timepoints[-1].progression_met
    assert result.best_change_pct is None  # the flagged +610% is no best change
    (action,) = result.recommendations
    assert "own prompt" in action and "corrected mask" in action


def test_a_flagged_visit_between_trusted_ones_neither_sets_the_nadir_nor_a_milestone() -> None:
    """A flagged 4 mL (-60%) in the middle is no response and no nadir; the latest visit (9 mL at
    12 months, -10%) is judged against the baseline alone."""
    visits = [
        VolumeAtVisit(D("2024-02-20"), 10.0),
        flagged("2024-09-01", 4.0),
        VolumeAtVisit(D("2025-03-01"), 9.0),
    ]
    result = assess_response(visits, TSC, START)
    assert result.status is ResponseStatus.NOT_EVALUABLE  # see the next test
    assert not result.response.reached
    assert result.nadir_date == D("2025-03-01")
    # against the nadir before it: the trusted baseline (10 mL), never the flagged 4 mL (+125%)
    assert result.timepoints[2].change_from_nadir_pct == pytest.approx(-10.0)


def test_a_flagged_baseline_makes_every_later_status_not_evaluable() -> None:
    visits = [flagged("2024-02-20", 10.0, "the segmentation is a best estimate"),
              VolumeAtVisit(D("2025-03-01"), 5.0)]  # fmt: skip
    result = assess_response(visits, TSC, START)
    assert result.status is ResponseStatus.NOT_EVALUABLE
    assert not result.response.reached
    assert result.review == ("baseline 2024-02-20: the segmentation is a best estimate",)


def test_the_registration_estimate_is_reported_beside_the_segmentation_change() -> None:
    visits = [
        VolumeAtVisit(D("2024-02-20"), 10.0),
        VolumeAtVisit(D("2024-09-01"), 6.5, registration_total_ml=6.8),
    ]
    result = assess_response(visits, TSC, START)
    assert result.timepoints[0].change_registration_pct is None
    assert result.timepoints[1].change_registration_pct == pytest.approx(-32.0)
    assert result.timepoints[1].to_dict()["change_registration_pct"] == -32.0


def test_a_response_within_the_uncertainty_is_headlined_with_that_qualifier() -> None:
    visits = [VolumeAtVisit(D("2024-02-20"), 1.0, 0.3), VolumeAtVisit(D("2024-09-01"), 0.6, 0.3)]
    result = assess_response(visits, TSC, START)
    assert result.status is ResponseStatus.RESPONSE
    assert result.status_note is not None and "-40.0%" in result.status_note
    assert "uncertainty" in result.status_note
    clear = assess_response(
        [VolumeAtVisit(D("2024-02-20"), 1.0, 0.01), VolumeAtVisit(D("2024-09-01"), 0.6, 0.01)],
        TSC,
        START,
    )
    assert clear.status_note is None


def test_estimates_on_either_side_of_the_response_threshold_decide_nothing() -> None:
    """kits-case_00017-B of the change-precision benchmark (an AML 4.5 slices across, truly
    -35% at 12 months): the segmentation read -27.6%, the registration -30.4%. The two
    independent estimates disagree on the decision itself, so the visit is flagged and the
    status is not_evaluable, not non-response; both on one side decide as usual."""

    def after_baseline_of_6_16_ml(follow_up: VolumeAtVisit) -> ResponseAssessment:
        return assess_response([VolumeAtVisit(D("2024-02-20"), 6.16), follow_up], TSC, START)

    split = after_baseline_of_6_16_ml(
        VolumeAtVisit(D("2025-03-01"), 4.46, registration_total_ml=4.29)
    )
    assert split.status is ResponseStatus.NOT_EVALUABLE
    (reason,) = split.timepoints[1].review
    # -27.597% is written cut towards zero, as every change is (tscimg.longitudinal.percent)
    assert "either side of the -30% response threshold" in reason and "-27.5%" in reason
    assert not split.response.reached and not split.non_response_12m.reached
    agreed = after_baseline_of_6_16_ml(
        VolumeAtVisit(D("2025-03-01"), 4.0, registration_total_ml=4.1)
    )
    assert agreed.status is ResponseStatus.RESPONSE and not agreed.timepoints[1].review
    # a visit the reader outlined (masks of their own) is the reader's word: a warning, not a flag
    outlined = after_baseline_of_6_16_ml(
        VolumeAtVisit(D("2025-03-01"), 4.46, registration_total_ml=4.29, reader_outlined=True)
    )
    assert outlined.status is ResponseStatus.NON_RESPONSE_12M
    assert not outlined.timepoints[1].review
    assert any("either side of the -30% response threshold" in w for w in outlined.warnings)


def test_a_status_within_the_uncertainty_of_the_threshold_is_qualified() -> None:
    """An AML on 5 mm slices measured 6.16 +/- 0.47 mL, then 4.46 +/- 0.35 mL at 12 months:
    -27.6%, combined uncertainty 9.5 points, so the -30% threshold lies within it (the true
    change in the benchmark was -35%). A change of -15% with the same uncertainty is clear."""
    close = assess_response(
        [VolumeAtVisit(D("2024-02-20"), 6.16, 0.47), VolumeAtVisit(D("2025-03-01"), 4.46, 0.35)],
        TSC,
        START,
    )
    assert close.status is ResponseStatus.NON_RESPONSE_12M
    assert close.status_note is not None
    assert "-30% response threshold" in close.status_note and "9.5 points" in close.status_note
    assert "a response cannot be excluded" in close.status_note
    reached = assess_response(
        [VolumeAtVisit(D("2024-02-20"), 6.16, 0.47), VolumeAtVisit(D("2025-03-01"), 4.0, 0.35)],
        TSC,
        START,
    )
    assert reached.status is ResponseStatus.RESPONSE  # -35.1%, 5.1 points from -30
    assert reached.status_note is not None and "short of it" in reached.status_note
    clear = assess_response(
        [VolumeAtVisit(D("2024-02-20"), 6.16, 0.47), VolumeAtVisit(D("2025-03-01"), 5.24, 0.4)],
        TSC,
        START,
    )
    assert clear.status is ResponseStatus.NON_RESPONSE_12M and clear.status_note is None


def test_non_response_is_never_asserted_across_a_flagged_visit() -> None:
    """ReMIND-022 in the change-precision benchmark: -35% at 6 months (flagged), -9% at 12
    months. "Response never reached" is unknown across the flagged visit: not_evaluable, not
    non_response_12m with its recommendations."""
    visits = [
        VolumeAtVisit(D("2024-02-20"), 10.0),
        flagged("2024-09-01", 6.5, "the two change estimates disagree"),
        VolumeAtVisit(D("2025-03-01"), 9.1),
    ]
    result = assess_response(visits, TSC, START)
    assert result.status is ResponseStatus.NOT_EVALUABLE
    assert not result.non_response_12m.reached
    assert "whether a response was reached there is unknown" in result.review[0]
    assert result.recommendations and "own prompt" in result.recommendations[0]


def test_non_response_needs_a_baseline_to_compare_with() -> None:
    """A baseline of 0 mL gives no change to judge: no baseline, and no non-response recorded
    with its recommendations beside it. A baseline not measured (``None``) is not evaluable:
    the reader is asked to measure it, never told the patient did not respond."""
    for first, status in ((0.0, ResponseStatus.NO_BASELINE), (None, ResponseStatus.NOT_EVALUABLE)):
        visits = [VolumeAtVisit(D("2024-01-01"), first), VolumeAtVisit(D("2025-03-01"), 2.0)]
        result = assess_response(visits, TSC, D("2024-01-05"))
        assert result.status is status
        assert not result.non_response_12m.reached
        if first is None:
            assert "not measured" in result.review[0]
            assert "visit of 2024-01-01" in result.recommendations[0]
        else:
            assert result.recommendations == ()


def test_non_response_is_never_recorded_across_a_visit_that_was_not_evaluated() -> None:
    """-50% at 6 months was flagged (it may have been a response), then -10% at 12.5 months
    and +20% at 15 months: whether a response was ever reached is unknown, so no non-response
    milestone and none of its recommendations, whichever visit is the latest."""
    visits = [
        VolumeAtVisit(D("2024-01-10"), 10.0),
        VolumeAtVisit(D("2024-07-10"), 5.0, review=("reaches its leak guard",)),
        VolumeAtVisit(D("2025-02-01"), 9.0),
        VolumeAtVisit(D("2025-06-01"), 12.0),
    ]
    for latest in (3, 4):
        result = assess_response(visits[:latest], TSC, D("2024-01-15"))
        assert not result.non_response_12m.reached, latest
        assert not set(NON_RESPONSE_ACTIONS) & set(result.recommendations), latest
    assert result.status is ResponseStatus.PROGRESSION  # +33% from the trusted nadir (9.0)


def test_washout_troughs_after_a_stop_are_not_read_as_exposure() -> None:
    """Stopped on 2025-02-01; a washout level of 0.4 ng/mL a month later is not a
    sub-therapeutic exposure, and the drug in force is the one at the stop."""
    from tscimg.core.treatment import Drug, TreatmentHistory
    from tscimg.longitudinal.response import trough_findings

    history = TreatmentHistory(
        start=D("2024-01-15"),
        stop=D("2025-02-01"),
        troughs_ng_ml=((D("2024-09-01"), 7.5), (D("2025-03-01"), 0.4)),
        drugs=((D("2024-01-15"), Drug.EVEROLIMUS),),
    )
    found = trough_findings(history, D("2025-04-01"))
    assert found[0] == (
        "no sub-therapeutic trough level (below 5 ng/mL) in the 12 months before the treatment "
        "stop on 2025-02-01: 1 recorded, 7.5 to 7.5 ng/mL"
    )
    assert found[1] == "treatment in force on 2025-02-01: everolimus"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_a_volume_that_is_not_a_finite_non_negative_number_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="2025-01-01: total_volume_ml is"):
        VolumeAtVisit(D("2025-01-01"), bad)
    with pytest.raises(ValueError, match="new lesion N1 diameter"):
        VolumeAtVisit(D("2025-01-01"), 1.0, new_lesion_diameters_mm={"N1": bad})


def test_library_users_give_criteria_by_name_and_dates_as_text() -> None:
    """assess_response(visits, "tsc") failed with AttributeError (tscimg.track takes "tsc"),
    VolumeAtVisit("2024-01-10", ...) too; a bad date or figure is a tscimg error (and still a
    ValueError, as before)."""
    from tscimg import AssessmentInputError, InputError

    visits = [VolumeAtVisit("2024-01-10", 10.0), VolumeAtVisit(dt.datetime(2025, 1, 20, 9), 6.0)]
    assert visits[1].date == dt.date(2025, 1, 20)
    a = assess_response(visits, "TSC", dt.date(2024, 1, 15))
    assert a.status is ResponseStatus.RESPONSE and a.best_change_pct == pytest.approx(-40.0)
    with pytest.raises(InputError, match="'recist'"):
        assess_response(visits, "recist")
    for bad in ("20240110", "2024-13-01", 20240110):
        with pytest.raises(AssessmentInputError, match="is not a visit date"):
            VolumeAtVisit(bad, 1.0)  # type: ignore[arg-type]
    with pytest.raises(AssessmentInputError, match="two visits share a date"):
        assess_response([visits[0], visits[0]], TSC)
    with pytest.raises(ValueError, match="total_volume_ml is '5'"):
        VolumeAtVisit(dt.date(2024, 1, 10), "5")  # type: ignore[arg-type]
    import numpy as np

    assert VolumeAtVisit(dt.date(2024, 1, 10), np.float32(5.5)).total_volume_ml == 5.5


def test_dates_as_text_numpy_volumes_and_a_missing_rule_set_are_taken_or_named() -> None:
    """docs/longitudinal.md: dates as ``datetime.date`` or ``YYYY-MM-DD``. The visits took
    text, ``treatment_start`` / ``treatment_stop`` did not ("'<=' not supported between
    'datetime.date' and 'str'"); a volume given as numpy.float32 (a mask's sum) came back as
    float32 and the JSON export failed; ``criteria=None`` was an AttributeError."""
    import json

    import numpy as np

    from tscimg import AssessmentInputError, InputError

    visits = [VolumeAtVisit("2024-01-10", 10.0), VolumeAtVisit("2025-01-20", 6.0)]
    by_text = assess_response(
        visits, "tsc", treatment_start="2024-01-15", treatment_stop="2025-03-01"
    )
    by_date = assess_response(
        visits, "tsc", treatment_start=dt.date(2024, 1, 15), treatment_stop=dt.date(2025, 3, 1)
    )
    assert by_text.to_dict() == by_date.to_dict()
    assert by_text.status is ResponseStatus.RESPONSE
    assert by_text.timepoints[-1].change_from_baseline_pct == pytest.approx(-40.0)
    float32 = [VolumeAtVisit(v.date, np.float32(v.total_volume_ml)) for v in visits]
    assessed = assess_response(float32, "tsc", treatment_start="2024-01-15")
    assert json.loads(json.dumps(assessed.to_dict()))["status"] == "response"
    with pytest.raises(InputError, match="response criteria must be"):
        assess_response(visits, None)  # type: ignore[arg-type]
    with pytest.raises(AssessmentInputError, match="'15/01/2024' is not a treatment_start date"):
        assess_response(visits, "tsc", treatment_start="15/01/2024")


# -- the rules as a trial coordinator re-applies them (found by a helper's audit) -------------


def test_a_sum_equal_to_baseline_is_not_above_it() -> None:
    """L1 + L2 = 1.005 + 1.005 mL at baseline, 0.804 + 0.804 at the nadir (-20%), then
    0.523 + 1.487 = 2.0100000000000002 mL: +25.0% from the nadir but equal to the baseline,
    not above it, so no progression (floating-point addition made it +0.0% "above")."""
    from tscimg.longitudinal import assess_patient

    visits = [
        _lesion("L1", "2024-02-20", 1005 / 1000), _lesion("L2", "2024-02-20", 1005 / 1000),
        _lesion("L1", "2024-06-01", 804 / 1000), _lesion("L2", "2024-06-01", 804 / 1000),
        _lesion("L1", "2024-09-01", 523 / 1000), _lesion("L2", "2024-09-01", 1487 / 1000),
    ]  # fmt: skip
    (a,) = assess_patient("P", visits, TSC, START).assessments  # type: ignore[arg-type]
    assert a.timepoints[-1].total_volume_ml != 2.01  # the float sum really is off
    assert not a.timepoints[-1].progression_met and a.status is ResponseStatus.TOO_EARLY


def test_a_visit_not_measured_is_never_a_status() -> None:
    """VolumeAtVisit(date, None) means not measured: not evaluable even when the caller gave
    no reason (it read non_response_12m with the recommendations)."""
    visits = [VolumeAtVisit(D("2024-02-20"), 10.0), VolumeAtVisit(D("2025-03-05"), None)]
    result = assess_response(visits, TSC, START)
    assert result.status is ResponseStatus.NOT_EVALUABLE
    assert not result.non_response_12m.reached
    assert result.timepoints[-1].review == (
        "the sum of target lesions was not measured at this visit",
    )
    # no sum, no uncertainty of it (report.json said 0.0 and the HTML "0.000")
    assert result.timepoints[-1].to_dict()["total_volume_uncertainty_ml"] is None


def test_a_change_short_of_the_threshold_never_reads_as_reaching_it() -> None:
    """25 mL -> 17.501 mL is -29.996%: no response. report.json and report.csv wrote -30.0,
    the figure a reader re-applying the inclusive rule calls a response; every written change
    is now cut towards zero, and an exact -30% still reads -30.0."""
    from tscimg.longitudinal import CohortResult, assess_patient

    visits = [_lesion("L1", "2024-02-20", 25.0), _lesion("L1", "2024-09-01", 17.501)]
    patient = assess_patient("P", visits, TSC, START)  # type: ignore[arg-type]
    (short,) = patient.assessments
    assert not short.timepoints[1].response_met
    assert short.to_dict()["best_change_pct"] == -29.99
    record = CohortResult(TSC, (patient,)).to_records()[-1]
    assert record["change_from_baseline_pct"] == -29.99
    exact = assess_response(series(("2024-02-20", 3.0), ("2024-09-01", 2.1)), TSC, START)
    assert exact.timepoints[1].change_from_baseline_pct != -30.0  # -29.999999999999996
    assert exact.status is ResponseStatus.RESPONSE and exact.to_dict()["best_change_pct"] == -30.0


def test_a_progression_within_the_uncertainty_says_so() -> None:
    """Nadir 9.9 +- 3.0 mL, then 12.4 mL: +25% from the nadir and above baseline, but the
    growth (2.5 mL) is less than the nadir's own uncertainty: progression with that
    qualifier (DESIGN.md section 5)."""
    visits = [
        VolumeAtVisit(D("2024-02-20"), 10.0, 0.1),
        VolumeAtVisit(D("2024-06-01"), 9.9, 3.0),
        VolumeAtVisit(D("2024-09-01"), 12.4, 0.1),
    ]
    result = assess_response(visits, TSC, START)
    assert result.status is ResponseStatus.PROGRESSION
    assert result.status_note is not None
    assert "growth from the nadir (+2.500 mL" in result.status_note
    assert "within the measurements' combined uncertainty (3.002 mL)" in result.status_note
    firm = [VolumeAtVisit(v.date, v.total_volume_ml, 0.1) for v in visits[:2]]
    clear = assess_response([*firm, VolumeAtVisit(D("2024-09-01"), 14.0, 0.1)], TSC, START)
    assert clear.status is ResponseStatus.PROGRESSION and clear.status_note is None


def test_a_non_response_reached_stays_recorded_after_a_later_response() -> None:
    """Non-response at 12.0 months (-10%), response at 15 months (-35%): both dates are kept
    (DESIGN.md section 5); the status is response and no non-response actions are given."""
    visits = series(("2024-02-20", 10.0), ("2025-03-01", 9.0), ("2025-06-01", 6.5))
    result = assess_response(visits, TSC, START)
    assert result.status is ResponseStatus.RESPONSE
    assert result.non_response_12m.date == D("2025-03-01")
    assert result.to_dict()["non_response_12m"] is True
    assert result.response.date == D("2025-06-01") and result.recommendations == ()


def test_a_non_response_after_a_near_miss_says_a_response_cannot_be_excluded() -> None:
    """-29.8% +- 4.2 points at 6 months, -10% at 12: "response never reached" rests on the
    6-month visit, which is within the uncertainty of the threshold."""
    visits = [
        VolumeAtVisit(D("2024-02-20"), 10.0, 0.3),
        VolumeAtVisit(D("2024-09-01"), 7.02, 0.3),
        VolumeAtVisit(D("2025-03-05"), 9.0, 0.3),
    ]
    result = assess_response(visits, TSC, START)
    assert result.status is ResponseStatus.NON_RESPONSE_12M
    assert result.status_note is not None and result.status_note.startswith(
        "on 2024-09-01 the change from baseline (-29.8%) was within"
    )


def test_the_waterfall_colours_an_exact_response_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """3.0 -> 2.1 mL is a response (-29.999999999999996% in floating point): its bar was grey,
    the colour of no response, because the colour compared without the rules' tolerance."""
    import matplotlib.axes

    from tscimg.report.figures import waterfall_png

    exact = assess_response(series(("2024-02-20", 3.0), ("2024-09-01", 2.1)), TSC, START)
    assert exact.status is ResponseStatus.RESPONSE and exact.best_change_pct is not None
    colours: list[str] = []
    original = matplotlib.axes.Axes.bar

    def spy(self: matplotlib.axes.Axes, x: object, height: object, **kwargs: object) -> object:
        colours.extend(kwargs["color"])  # type: ignore[arg-type]
        return original(self, x, height, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(matplotlib.axes.Axes, "bar", spy)
    waterfall_png(["exact", "short"], [exact.best_change_pct, -29.99], TSC)
    assert colours == ["#90a4ae", "#2e7d32"]  # sorted: -29.99 first (grey), then the response


def test_a_carried_lesion_hardly_found_says_it_may_have_gone() -> None:
    """A carried lesion that came out 0.00-fold read "changed 0.00-fold", as if it had
    vanished, also on another patient's scan; and the action never said how to record a
    lesion that has gone (a helper's registration audit)."""
    from tscimg.longitudinal import TrustParameters, change_review

    review, _ = change_review(0.004, 6.6, 0.1, "2024-01-10", TrustParameters(), carried=True)
    assert review[0].startswith("the carried lesion was hardly found at this visit (0.004 mL")
    assert "record it with an empty mask" in review[0]


def test_a_disagreement_flags_a_prompted_visit_and_warns_on_a_reader_mask() -> None:
    """The trust gate's disagreement check (DESIGN.md section 5): a visit the reader prompted
    is flagged like a carried one (nobody has looked at the mask a click gave); a mask the
    reader drew stands, with a warning. The fold-change check is for carried visits only (a
    prompted lesion may truly have grown 2.5-fold)."""
    from tscimg.longitudinal import TrustParameters, change_review

    check = TrustParameters()
    # 2.5-fold by the segmentation, +5% by the registration
    prompted = change_review(25.0, 10.0, 1.05, "2024-01-10", check, carried=False)
    (reason,) = prompted[0]
    assert reason.startswith("the two change estimates disagree: +150.0%")
    assert "give it as the visit's mask" in reason and "correct its prompt" in reason
    drawn = change_review(25.0, 10.0, 1.05, "2024-01-10", check, carried=False, outlined=True)
    assert drawn[0] == [] and drawn[1][0].startswith("the two change estimates disagree")
    # within 10 points of the registration: no flag, whoever placed the outline
    assert change_review(25.0, 10.0, 2.45, "2024-01-10", check, carried=False) == ([], [])
