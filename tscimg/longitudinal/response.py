"""The response engine: volumes over time in, statuses and the dates they were reached out.

Pure and file-free: :func:`assess_response` takes the sum of target-lesion volumes per visit
for one patient and lesion type (with each sum's uncertainty and any new lesions) and applies
a :class:`~tscimg.longitudinal.criteria.ResponseCriteria` as DESIGN.md section 5 states.
With the patient's :class:`~tscimg.core.treatment.TreatmentHistory` the months on treatment
leave out pauses (the 12-month clock uses them) and a non-response names the trough levels.

Each visit carries its change from the nadir *before* it (the smallest trusted sum from the
baseline up to the previous visit; ``None`` at the baseline) and its status as of that visit.

Examples
--------
>>> import datetime as dt
>>> from tscimg.longitudinal.criteria import TSC
>>> visits = [VolumeAtVisit(dt.date(2024, 1, 10), 10.0), VolumeAtVisit(dt.date(2024, 7, 15), 7.0)]
>>> result = assess_response(visits, TSC, treatment_start=dt.date(2024, 1, 15))
>>> result.status, result.timepoints[-1].change_from_baseline_pct, result.response.date
(<ResponseStatus.RESPONSE: 'response'>, -30.0, datetime.date(2024, 7, 15))
>>> months_between(dt.date(2024, 3, 1), dt.date(2025, 3, 1))
12.0
>>> [t.status.value for t in result.timepoints]
['no_baseline', 'response']
"""

from __future__ import annotations

import calendar
import datetime
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from tscimg.core.dates import iso_date
from tscimg.core.errors import AssessmentInputError
from tscimg.core.treatment import TreatmentHistory, TreatmentPause
from tscimg.core.vocabularies import LesionType
from tscimg.longitudinal.criteria import (
    GUIDELINE_NOTES_BY_TYPE,
    NON_RESPONSE_ACTIONS,
    NON_RESPONSE_ACTIONS_BY_TYPE,
    TROUGH_TARGET_NG_ML,
    ResponseCriteria,
    criteria_named,
)
from tscimg.longitudinal.percent import THRESHOLD_TOLERANCE_PCT, shown_pct, signed_pct
from tscimg.longitudinal.trust import review_action

__all__ = ["THRESHOLD_TOLERANCE_PCT"]  # re-exported: it was defined here
#: Months within this of the non-response mark count as reaching it (floating-point rounding).
MONTHS_TOLERANCE = 1e-9


class ResponseStatus(StrEnum):
    """The status of the latest visit, in DESIGN.md section 5's order of precedence."""

    NOT_EVALUABLE = "not_evaluable"  # a target lesion's latest measurement is flagged for review
    PROGRESSION = "progression"
    RESPONSE = "response"
    NON_RESPONSE_12M = "non_response_12m"
    TOO_EARLY = "too_early"
    STABLE = "stable"
    NO_BASELINE = "no_baseline"


@dataclass(frozen=True)
class VolumeAtVisit:
    """The sum of target-lesion volumes at one visit.

    Parameters
    ----------
    date
        Visit (scan) date.
    total_volume_ml
        Sum of the target lesions' volumes, mL; ``None`` when a target lesion could not be
        measured at this visit (then ``review`` says why: the visit is not evaluable).
    uncertainty_ml
        Uncertainty of that sum, mL (0: unknown).
    new_lesion_diameters_mm
        New lesions of the tracked type (first seen after the baseline) measured at this
        visit that have not yet counted as progression: id -> axial longest diameter, mm.
    review
        Why a target lesion's measurement at this visit cannot be trusted (the trust gate;
        empty: trusted). A flagged visit is shown but never decides a status.
    registration_total_ml
        The registration-based estimate of the same sum (``None``: not available).
    reader_outlined
        Every target lesion at this visit was outlined by the reader (a mask of their own):
        the reader's word, which a disagreement of the two estimates only warns about. A
        prompted lesion is not outlined: nobody has looked at the mask its click gave.
    """

    date: datetime.date
    total_volume_ml: float | None
    uncertainty_ml: float = 0.0
    new_lesion_diameters_mm: Mapping[str, float] = field(default_factory=dict)
    review: tuple[str, ...] = ()
    registration_total_ml: float | None = None
    reader_outlined: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "date", _as_date(self.date))
        figures = {
            "total_volume_ml": self.total_volume_ml,
            "uncertainty_ml": self.uncertainty_ml,
            "registration_total_ml": self.registration_total_ml,
            **{f"new lesion {k} diameter (mm)": v for k, v in self.new_lesion_diameters_mm.items()},
        }
        for name, value in figures.items():
            if value is not None and not (
                isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0
            ):
                raise AssessmentInputError(
                    f"{self.date.isoformat()}: {name} is {value!r}; a volume or diameter is a "
                    "finite number of at least 0 (None where it was not measured)"
                )
        # numpy numbers (float32 sums of a mask) as plain floats: every figure derived from
        # them is then a float, and the report's JSON can hold it
        for name in ("total_volume_ml", "uncertainty_ml", "registration_total_ml"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))
        diameters = {k: float(v) for k, v in self.new_lesion_diameters_mm.items()}
        object.__setattr__(self, "new_lesion_diameters_mm", diameters)
        if self.total_volume_ml is None and not self.review:
            # not measured is not evaluable (the trust gate), whatever the caller said
            object.__setattr__(
                self, "review", ("the sum of target lesions was not measured at this visit",)
            )


def _as_date(value: object, what: str = "visit date") -> datetime.date:
    """A date from a :class:`datetime.date`, a :class:`datetime.datetime` (its date) or a
    ``YYYY-MM-DD`` string (:func:`tscimg.core.dates.iso_date`); ``what`` names it in the error.

    >>> _as_date("2024-01-15"), _as_date(datetime.datetime(2024, 1, 15, 9, 30))
    (datetime.date(2024, 1, 15), datetime.date(2024, 1, 15))
    """
    date = iso_date(value)
    if date is None:
        raise AssessmentInputError(
            f"{value!r} is not a {what}",
            hint="Give a datetime.date, or a date as YYYY-MM-DD (such as 2024-01-15)",
        )
    return date


@dataclass(frozen=True)
class Milestone:
    """Whether a criterion was reached, and the first visit date it was."""

    reached: bool = False
    date: datetime.date | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"reached": self.reached, "date": _iso(self.date)}


@dataclass(frozen=True)
class TimepointAssessment:
    """One visit's figures against baseline and nadir, and which rules it meets."""

    date: datetime.date
    months_on_treatment: float | None
    total_volume_ml: float | None
    uncertainty_ml: float
    is_baseline: bool
    change_from_baseline_pct: float | None
    change_from_nadir_pct: float | None
    change_within_uncertainty: bool
    response_met: bool
    progression_met: bool
    progression_reasons: tuple[str, ...]
    after_treatment_stop: bool
    regrowth_after_stop: bool
    change_registration_pct: float | None = None
    review: tuple[str, ...] = ()
    status: ResponseStatus = ResponseStatus.NO_BASELINE  # as of this visit
    paused: bool = False  # treatment interrupted on the visit's date

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "date": self.date.isoformat(),
            "months_on_treatment": _rounded(self.months_on_treatment, 2),
            "total_volume_ml": None
            if self.total_volume_ml is None
            else round(self.total_volume_ml, 6),
            # no sum, no uncertainty of it (a not-measured visit showed "0.000")
            "total_volume_uncertainty_ml": None
            if self.total_volume_ml is None
            else round(self.uncertainty_ml, 6),
            "is_baseline": self.is_baseline,
            "change_from_baseline_pct": _shown(self.change_from_baseline_pct),
            "change_from_nadir_pct": _shown(self.change_from_nadir_pct),
            "change_registration_pct": _shown(self.change_registration_pct),
            "change_within_uncertainty": self.change_within_uncertainty,
            "response_met": self.response_met,
            "progression_met": self.progression_met,
            "progression_reasons": list(self.progression_reasons),
            "after_treatment_stop": self.after_treatment_stop,
            "regrowth_after_stop": self.regrowth_after_stop,
            "review": list(self.review),
            "status": self.status.value,
            "treatment_paused": self.paused,
        }


@dataclass(frozen=True)
class ResponseAssessment:
    """The response of one patient's lesions of one type over time."""

    lesion_type: LesionType
    criteria: ResponseCriteria
    treatment_start: datetime.date | None
    treatment_stop: datetime.date | None
    timepoints: tuple[TimepointAssessment, ...]
    baseline_date: datetime.date | None
    nadir_date: datetime.date | None
    best_change_pct: float | None
    response: Milestone
    progression: Milestone
    non_response_12m: Milestone
    regrowth_after_stop: Milestone
    status: ResponseStatus
    recommendations: tuple[str, ...]
    warnings: tuple[str, ...]
    review: tuple[str, ...] = ()
    status_note: str | None = None
    guideline_notes: tuple[str, ...] = ()
    treatment_indication: Milestone = field(default_factory=Milestone)

    def to_dict(self) -> dict[str, Any]:
        """The assessment part of report.json (schema ``tscimg.report/1``)."""
        return {
            "lesion_type": self.lesion_type.value,
            "baseline_date": _iso(self.baseline_date),
            "nadir_date": _iso(self.nadir_date),
            "best_change_pct": _shown(self.best_change_pct),
            "response": self.response.to_dict(),
            "progression": self.progression.to_dict(),
            "non_response_12m": self.non_response_12m.reached,
            "non_response_12m_date": _iso(self.non_response_12m.date),
            "regrowth_after_stop": self.regrowth_after_stop.to_dict(),
            "status": self.status.value,
            "status_note": self.status_note,
            "guideline_notes": list(self.guideline_notes),
            "treatment_indication": self.treatment_indication.to_dict(),
            "review": list(self.review),
            "recommendations": list(self.recommendations),
            "warnings": list(self.warnings),
        }


def _iso(d: datetime.date | None) -> str | None:
    return None if d is None else d.isoformat()


def _rounded(value: float | None, digits: int) -> float | None:
    # + 0.0 turns a rounded -0.0 into 0.0 (a "-0.0" in a report reads as a loss)
    return None if value is None else round(value, digits) + 0.0


def _shown(value: float | None) -> float | None:
    """A change (percent) as report.json holds it: two decimals, cut towards zero so it never
    reads as reaching a threshold it did not reach (:mod:`tscimg.longitudinal.percent`)."""
    return None if value is None else shown_pct(value, 2)


def add_months(start: datetime.date, months: int) -> datetime.date:
    """The date ``months`` calendar months after ``start`` (the month's last day if shorter).

    Examples
    --------
    >>> add_months(datetime.date(2024, 1, 31), 1)
    datetime.date(2024, 2, 29)
    """
    year, month0 = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month0 + 1)[1])
    return datetime.date(year, month0 + 1, day)


def months_between(start: datetime.date, end: datetime.date) -> float:
    """Calendar months from ``start`` to ``end``: whole months, plus the fraction of the next.

    The 12-month mark of a treatment started on 2024-03-01 is 2025-03-01 exactly (a month
    anniversary on a day the month lacks falls on its last day).

    Examples
    --------
    >>> months_between(datetime.date(2024, 1, 31), datetime.date(2024, 2, 29))
    1.0
    >>> round(months_between(datetime.date(2024, 1, 15), datetime.date(2024, 7, 12)), 3)
    5.9
    >>> months_between(datetime.date(2024, 5, 1), datetime.date(2024, 4, 1))
    -1.0
    """
    if end < start:
        return -months_between(end, start)
    whole = (end.year - start.year) * 12 + (end.month - start.month)
    while whole > 0 and add_months(start, whole) > end:
        whole -= 1
    anchor = add_months(start, whole)
    following = add_months(start, whole + 1)
    return whole + (end - anchor).days / (following - anchor).days


def treatment_months(
    start: datetime.date, on: datetime.date, pauses: Sequence[TreatmentPause] = ()
) -> float:
    """Months on treatment from ``start`` to ``on``, pauses left out (negative before the start).

    A pause runs from its first day off the drug to the day it resumed (or to ``on``). The days
    paused are taken off the end: the calendar months from ``start`` to ``on`` less those days,
    so the months stand still during a pause and never go back (leaving out each pause as
    calendar months of its own moved them by up to 0.1 month where months differ in length).

    Examples
    --------
    >>> pause = TreatmentPause(datetime.date(2024, 6, 1), datetime.date(2024, 7, 1))
    >>> round(treatment_months(datetime.date(2024, 1, 1), datetime.date(2025, 1, 1), [pause]), 3)
    11.032
    >>> round(treatment_months(datetime.date(2024, 1, 15), datetime.date(2024, 1, 10)), 3)
    -0.161
    """
    if on <= start:
        return months_between(start, on)
    return months_between(start, on - datetime.timedelta(days=_days_paused(start, on, pauses)))


def _days_paused(start: datetime.date, on: datetime.date, pauses: Sequence[TreatmentPause]) -> int:
    """Days off the drug between ``start`` and ``on`` (a pause not resumed by ``on`` runs to it)."""
    days = 0
    for p in pauses:
        end = on if p.resumed is None else min(p.resumed, on)
        days += max(0, (end - max(p.paused, start)).days)
    return days


def date_at_treatment_months(
    start: datetime.date,
    months: float,
    pauses: Sequence[TreatmentPause] = (),
    stop: datetime.date | None = None,
) -> datetime.date | None:
    """The first date with ``months`` on treatment (pauses left out): the 12-month mark.

    ``None`` when it is never reached: the treatment stopped (``stop``), or paused and never
    resumed, before it.

    Examples
    --------
    >>> pause = TreatmentPause(datetime.date(2024, 6, 1), datetime.date(2024, 7, 1))
    >>> date_at_treatment_months(datetime.date(2024, 1, 1), 12, [pause])
    datetime.date(2025, 1, 31)
    >>> never_resumed = TreatmentPause(datetime.date(2024, 6, 1), None)
    >>> date_at_treatment_months(datetime.date(2024, 1, 1), 12, [never_resumed]) is None
    True
    >>> stopped = datetime.date(2024, 9, 1)
    >>> date_at_treatment_months(datetime.date(2024, 1, 1), 12, stop=stopped) is None
    True
    """
    # the calendar date with ``months`` since the start, then pushed on by every pause that
    # began before the mark so far (each pause's days; a pause never resumed: never reached)
    mark = add_months(start, int(months))
    while months_between(start, mark) < months - MONTHS_TOLERANCE:
        mark += datetime.timedelta(days=1)
    for p in sorted(pauses, key=lambda p: p.paused):
        if p.paused >= mark:
            break
        if p.resumed is None:
            return None
        try:
            mark += datetime.timedelta(days=max(0, (p.resumed - max(p.paused, start)).days))
        except OverflowError:  # resumed near the end of the calendar (9999-12-31)
            return None
    return None if stop is not None and stop < mark else mark


def trough_findings(
    treatment: TreatmentHistory | None,
    on: datetime.date,
    months: int = 12,
    stop: datetime.date | None = None,
) -> tuple[str, ...]:
    """What the treatment record says about exposure in the ``months`` before ``on``.

    Names the sub-therapeutic trough levels (below the target range) of that window, or says
    that none (or no trough at all) were recorded; the drug and dose in force; any pause.
    After a treatment stop (``stop``, else the record's) the window ends at the stop: washout
    levels after it say nothing about exposure, and the drug and dose are those at the stop.

    Examples
    --------
    >>> h = TreatmentHistory(start=datetime.date(2024, 3, 1),
    ...                      troughs_ng_ml=((datetime.date(2024, 9, 1), 3.1),))
    >>> trough_findings(h, datetime.date(2025, 3, 5))[0][:61]
    'sub-therapeutic trough levels (below 5 ng/mL) in the 12 month'
    >>> trough_findings(None, datetime.date(2025, 3, 5))[0][:40]
    'no trough level recorded in the 12 month'
    """
    low_limit, high_limit = TROUGH_TARGET_NG_ML
    stop = stop or (None if treatment is None else treatment.stop)
    window = f"in the {months} months before {on.isoformat()}"
    if stop is not None and stop < on:
        on = stop
        window = f"in the {months} months before the treatment stop on {on.isoformat()}"
    since = add_months(on, -months)
    troughs = [] if treatment is None else treatment.troughs_ng_ml
    recent = [(d, v) for d, v in troughs if since <= d <= on]
    low = [(d, v) for d, v in recent if v < low_limit]
    target = f"target {low_limit:g}-{high_limit:g} ng/mL"
    out: list[str] = []
    if low:
        listed = ", ".join(f"{v:g} ng/mL on {d.isoformat()}" for d, v in low)
        out.append(
            f"sub-therapeutic trough levels (below {low_limit:g} ng/mL) {window}: {listed}; the "
            f"drug may not have reached a therapeutic level: check adherence and the dose "
            f"({target}, never above {high_limit:g})"
        )
    elif recent:
        values = [v for _, v in recent]
        out.append(
            f"no sub-therapeutic trough level (below {low_limit:g} ng/mL) {window}: "
            f"{len(recent)} recorded, {min(values):g} to {max(values):g} ng/mL"
        )
    else:
        out.append(
            f"no trough level recorded {window}: obtain one ({target}); the guideline asks "
            "for trough levels when efficacy is lacking"
        )
    if treatment is not None:
        drug, dose = treatment.drug_on(on), treatment.dose_on(on)
        if drug is not None or dose is not None:
            parts = [] if drug is None else [drug.value]
            what = " ".join(parts + ([] if dose is None else [f"{dose:g} mg"]))
            out.append(f"treatment in force on {on.isoformat()}: {what}")
        paused = [p for p in treatment.pauses if p.paused <= on and (p.resumed or on) >= since]
        if paused:
            spans = ", ".join(
                f"{p.paused.isoformat()} to {(p.resumed or on).isoformat()}" for p in paused
            )
            out.append(f"treatment was paused {window} ({spans}): exposure was interrupted")
    return tuple(out)


def baseline_date(
    dates: Sequence[datetime.date], treatment_start: datetime.date | None
) -> datetime.date:
    """The baseline: the last date on or before ``treatment_start``; the first date when there
    is none, or no start date.

    Examples
    --------
    >>> d = [datetime.date(2024, 1, 10), datetime.date(2024, 2, 1), datetime.date(2024, 6, 1)]
    >>> baseline_date(d, datetime.date(2024, 3, 1)), baseline_date(d, None)
    (datetime.date(2024, 2, 1), datetime.date(2024, 1, 10))
    """
    ordered = sorted(dates)
    before = [d for d in ordered if treatment_start is not None and d <= treatment_start]
    return before[-1] if before else ordered[0]


def _pct(value: float, reference: float) -> float:
    return 100.0 * (value - reference) / reference


@dataclass(frozen=True)
class _Frame:
    """What every visit of one assessment is judged against."""

    criteria: ResponseCriteria
    baseline: VolumeAtVisit
    clock_start: datetime.date
    treatment_start: datetime.date | None
    treatment_stop: datetime.date | None
    pauses: tuple[TreatmentPause, ...]

    @property
    def baseline_ml(self) -> float:
        """The baseline sum (0 when it was not measured: no change can be computed)."""
        return self.baseline.total_volume_ml or 0.0

    @property
    def usable_baseline(self) -> bool:
        return self.baseline_ml > 0

    def months(self, date: datetime.date) -> float:
        """Months on treatment at ``date``: pauses left out, and none counted after
        ``treatment_stop`` (a patient off the drug accrues no exposure; a stop before the
        clock's start counts none at all)."""
        if self.treatment_stop is not None and self.treatment_stop <= date:
            date = max(self.treatment_stop, self.clock_start)
        return treatment_months(self.clock_start, date, self.pauses)


@dataclass
class _Milestones:
    """The first dates each criterion was reached, updated visit by visit."""

    response: Milestone = field(default_factory=Milestone)
    progression: Milestone = field(default_factory=Milestone)
    non_response: Milestone = field(default_factory=Milestone)
    regrowth: Milestone = field(default_factory=Milestone)

    def update(self, point: TimepointAssessment, frame: _Frame, unevaluated_before: bool) -> None:
        """Record what ``point`` reached. ``unevaluated_before``: a visit after the baseline and
        before ``point`` was flagged, so whether a response was reached there is unknown and
        a non-response cannot be recorded."""
        if point.response_met and not self.response.reached:
            self.response = Milestone(True, point.date)
        if point.progression_met and not self.progression.reached:
            self.progression = Milestone(True, point.date)
        if point.regrowth_after_stop and not self.regrowth.reached:
            self.regrowth = Milestone(True, point.date)
        if (
            point.date > frame.baseline.date
            and frame.usable_baseline
            and not unevaluated_before
            and _comparable(point.review, frame)
            and frame.months(point.date) >= frame.criteria.non_response_months - MONTHS_TOLERANCE
            and not self.response.reached
            and not self.non_response.reached
        ):
            self.non_response = Milestone(True, point.date)


def _comparable(review: tuple[str, ...], frame: _Frame) -> bool:
    """A flagged measurement (or a flagged baseline) is shown, never decides anything."""
    return not review and not frame.baseline.review


def _choose_baseline(
    ordered: Sequence[VolumeAtVisit],
    treatment_start: datetime.date | None,
    baseline: datetime.date | None,
) -> tuple[VolumeAtVisit, list[str]]:
    """The baseline visit (``baseline`` when the caller decided it) and what to say about it."""
    chosen = baseline or baseline_date([v.date for v in ordered], treatment_start)
    found = next((v for v in ordered if v.date == chosen), None)
    if found is None:
        raise AssessmentInputError(f"the baseline {chosen.isoformat()} is not among the visits")
    warnings: list[str] = []
    if treatment_start is not None and found.date > treatment_start:
        warnings.append(
            f"no scan on or before treatment start {treatment_start.isoformat()}: the first "
            f"scan ({ordered[0].date.isoformat()}) is the baseline"
        )
    if treatment_start is None:
        warnings.append(
            "no treatment_start: baseline is the first scan and months are counted from it"
        )
    if found.total_volume_ml is None:
        warnings.append("the baseline was not measured: changes from baseline cannot be computed")
    elif found.total_volume_ml <= 0:
        warnings.append("the baseline volume is zero: changes from baseline cannot be computed")
    return found, warnings


def _assess_visit(visit: VolumeAtVisit, nadir: VolumeAtVisit, frame: _Frame) -> TimepointAssessment:
    """One visit against the baseline and the nadir before it: its changes and the rules met."""
    baseline, criteria = frame.baseline, frame.criteria
    is_baseline = visit is baseline
    after_baseline = visit.date > baseline.date
    comparable = _comparable(visit.review, frame)
    stopped = frame.treatment_stop is not None and visit.date > frame.treatment_stop
    change_b = change_n = change_r = None
    within = False
    total, base_ml = visit.total_volume_ml, frame.baseline_ml
    if after_baseline and frame.usable_baseline and visit.registration_total_ml is not None:
        change_r = _pct(visit.registration_total_ml, base_ml)
    if frame.usable_baseline and total is not None:
        change_b = _pct(total, base_ml)
        if visit.date >= baseline.date and not is_baseline:
            combined = math.hypot(visit.uncertainty_ml, baseline.uncertainty_ml)
            within = combined > 0 and abs(total - base_ml) < combined
            if nadir.total_volume_ml:  # the nadir *before* this visit
                change_n = _pct(total, nadir.total_volume_ml)
    tol = THRESHOLD_TOLERANCE_PCT
    review = visit.review
    # at a visit the reader outlined, a straddle is a warning (_visit_warnings), not a flag
    if after_baseline and comparable and not visit.reader_outlined:
        straddle = _straddled_threshold(change_b, change_r, criteria)
        if straddle is not None:
            review, comparable = (*review, straddle), False
    reasons: list[str] = []
    response_met = regrowth_met = False
    if after_baseline and comparable and change_b is not None:
        response_met = change_b <= -criteria.response_reduction_pct + tol
        grew = (
            change_n is not None and change_n >= criteria.progression_increase_from_nadir_pct - tol
        )
        # above baseline by more than rounding: two lesions' volumes summed in another order
        # came out 2.0100000000000002 mL against a baseline of 2.01
        above = change_b > tol or not criteria.progression_requires_above_baseline
        if grew and above and change_n is not None:
            reasons.append(
                f"sum {signed_pct(change_n)} from nadir ({nadir.date.isoformat()}), "
                f"{signed_pct(change_b)} from baseline"
            )
        if stopped and change_n is not None:
            regrowth_met = change_n >= criteria.regrowth_after_stop_pct - tol
    if after_baseline and comparable:
        for lesion_id, diameter in sorted(visit.new_lesion_diameters_mm.items()):
            if diameter >= criteria.new_lesion_min_diameter_mm:
                reasons.append(f"new lesion {lesion_id} ({diameter:.1f} mm)")
    return TimepointAssessment(
        date=visit.date,
        months_on_treatment=None if frame.treatment_start is None else frame.months(visit.date),
        total_volume_ml=visit.total_volume_ml,
        uncertainty_ml=visit.uncertainty_ml,
        is_baseline=is_baseline,
        change_from_baseline_pct=change_b,
        change_from_nadir_pct=change_n,
        change_within_uncertainty=within,
        response_met=response_met,
        progression_met=bool(reasons),
        progression_reasons=tuple(reasons),
        after_treatment_stop=stopped,
        regrowth_after_stop=regrowth_met,
        change_registration_pct=change_r,
        review=review,
        paused=any(
            p.paused <= visit.date and (p.resumed is None or visit.date < p.resumed)
            for p in frame.pauses
        ),
    )


def _straddled_threshold(
    change_b: float | None, change_r: float | None, criteria: ResponseCriteria
) -> str | None:
    """The review reason when the two independent change estimates fall on either side of the
    response threshold: the measurements cannot decide whether the lesion responded."""
    limit = -criteria.response_reduction_pct + THRESHOLD_TOLERANCE_PCT
    if change_b is None or change_r is None or (change_b <= limit) == (change_r <= limit):
        return None
    return (
        f"the two change estimates fall on either side of the "
        f"-{criteria.response_reduction_pct:g}% response threshold ({signed_pct(change_b)} from "
        f"the segmentation, {signed_pct(change_r)} from the registration): whether the lesion "
        "responded cannot be decided from them; check the mask, or confirm at the next visit"
    )


def _visit_warnings(
    point: TimepointAssessment, frame: _Frame, regrowth: Milestone, visit: VolumeAtVisit
) -> list[str]:
    out: list[str] = []
    if visit.reader_outlined and not point.is_baseline:
        straddle = _straddled_threshold(
            point.change_from_baseline_pct, point.change_registration_pct, frame.criteria
        )
        if straddle is not None:  # the reader outlined it: their word stands, with this note
            out.append(f"{point.date.isoformat()}: {straddle}")
    if point.change_within_uncertainty and point.total_volume_ml is not None:
        difference = point.total_volume_ml - frame.baseline_ml
        out.append(
            f"{point.date.isoformat()}: the change from baseline ({difference:+.3f} mL) is "
            "smaller than the measurements' combined uncertainty"
        )
    if point.regrowth_after_stop and regrowth.date == point.date:
        regrowth_pct = signed_pct(point.change_from_nadir_pct or 0.0)
        out.append(
            f"{point.date.isoformat()}: regrowth of {regrowth_pct} from "
            f"nadir after treatment stopped on {frame.treatment_stop}"
        )
    return out


def _stopped_early_warning(
    status: ResponseStatus, latest: TimepointAssessment, frame: _Frame
) -> list[str]:
    """Why a patient who stopped treatment (or paused it and never resumed) before the
    non-response mark is ``too_early`` for good: the months on treatment stopped counting."""
    months = frame.criteria.non_response_months
    ends = [(p.paused, 1, "paused") for p in frame.pauses if p.resumed is None]
    if frame.treatment_stop is not None:
        ends.append((frame.treatment_stop, 0, "stopped"))  # a stop on a pause's day: stopped
    if status is not ResponseStatus.TOO_EARLY or not ends:
        return []
    end, _, how = min(ends)
    on_drug = max(0.0, frame.months(end))
    if latest.date <= end or on_drug >= months - MONTHS_TOLERANCE:
        return []
    return [
        f"treatment {how} on {end.isoformat()} after {on_drug:.1f} months on treatment"
        + (" and never resumed" if how == "paused" else "")
        + f": non-response at {months:g} months cannot be assessed (months off the drug are "
        "not counted)"
    ]


def _latest_status(
    timepoints: Sequence[TimepointAssessment], frame: _Frame, milestones: _Milestones
) -> tuple[ResponseStatus, tuple[str, ...], tuple[datetime.date, ...]]:
    """The status at the latest visit, the review reasons behind a ``not_evaluable`` and the
    dates of the visits they name (in date order); clears ``milestones.non_response`` where it
    cannot be said (a visit between was not evaluated). A non-response reached at the 12-month
    mark stays recorded with its date when a response comes later (DESIGN.md section 5: the
    dates each was first reached are kept); the status then says response."""
    baseline, latest = frame.baseline, timepoints[-1]
    status = _status(latest, frame, milestones.response)
    review = tuple(f"{latest.date.isoformat()}: {r}" for r in latest.review)
    behind = {latest.date} if latest.review else set()
    unknown = [t for t in timepoints if t.review and baseline.date < t.date < latest.date]
    if status is ResponseStatus.NON_RESPONSE_12M and unknown:
        # "never reached a response" cannot be said across a visit that was not evaluated
        status = ResponseStatus.NOT_EVALUABLE
        milestones.non_response = Milestone()
        review += tuple(
            f"{t.date.isoformat()}: not evaluated, so whether a response was reached there is "
            f"unknown ({'; '.join(t.review)})"
            for t in unknown
        )
        behind |= {t.date for t in unknown}
    if baseline.review and baseline.date != latest.date:
        review += tuple(f"baseline {baseline.date.isoformat()}: {r}" for r in baseline.review)
        behind.add(baseline.date)
    return status, review, tuple(sorted(behind))


def _best_change(timepoints: Sequence[TimepointAssessment], frame: _Frame) -> float | None:
    """The best trusted change from baseline at a follow-up (a flagged one would headline the
    cohort table): the largest reduction, or the smallest growth when the sum only grew;
    ``None`` without a trusted follow-up. The baseline's own 0% is no change measured (it read
    as the best change of a patient whose every follow-up grew, an empty waterfall bar)."""
    changes = [
        t.change_from_baseline_pct
        for t in timepoints
        if t.change_from_baseline_pct is not None
        and t.date > frame.baseline.date
        and _comparable(t.review, frame)
    ]
    return min(changes, default=None)


def assess_response(
    visits: Sequence[VolumeAtVisit],
    criteria: ResponseCriteria | str,
    treatment_start: datetime.date | str | None = None,
    treatment_stop: datetime.date | str | None = None,
    lesion_type: LesionType = LesionType.GENERIC,
    treatment: TreatmentHistory | None = None,
    baseline: datetime.date | str | None = None,
) -> ResponseAssessment:
    """Apply ``criteria`` to one patient's sums of target-lesion volumes over time.

    Parameters
    ----------
    visits
        One entry per visit (any order; dates must differ).
    criteria
        Thresholds (``tsc``: 30% response; ``exist``: 50%), or the name of a rule set.
    treatment_start, treatment_stop
        mTOR-inhibitor start and stop dates (``datetime.date`` or ``YYYY-MM-DD``). Baseline
        is the last visit on or before the start (the first visit when there is none, with a
        warning). Without a start date the 12-month clock runs from the baseline visit (with
        a warning).
    lesion_type
        Picks the type-specific non-response recommendations and guideline notes.
    treatment
        The patient's treatment record: its pauses are left out of the months on treatment
        (and the 12-month clock); at non-response the recommendations name the trough levels
        of the last 12 months. Its start is used when ``treatment_start`` is ``None``.
    baseline
        The baseline visit's date when the caller has decided it (:func:`assess_patient`
        decides it once, with the target lesions); it must be one of the visits. ``None``:
        chosen from ``visits`` and ``treatment_start`` as above.

    Returns
    -------
    ResponseAssessment
        Per-visit figures, the milestones with their first dates, and the latest status.

    Raises
    ------
    AssessmentInputError
        No visits, two visits on one date, or a ``baseline`` that is not among the visits
        (also a :class:`ValueError`).
    InputError
        ``criteria`` names no rule set.
    """
    # dates as the visits take them (a datetime.date, a datetime or YYYY-MM-DD)
    treatment_start, treatment_stop, baseline = (
        None if d is None else _as_date(d, what)
        for d, what in (
            (treatment_start, "treatment_start date"),
            (treatment_stop, "treatment_stop date"),
            (baseline, "baseline date"),
        )
    )
    if treatment is not None:
        treatment_start = treatment_start or treatment.start
        treatment_stop = treatment_stop or treatment.stop
    if not isinstance(criteria, ResponseCriteria):
        criteria = criteria_named(criteria)
    ordered = sorted(visits, key=lambda v: v.date)
    if not ordered:
        raise AssessmentInputError("no visits to assess")
    if len({v.date for v in ordered}) != len(ordered):
        raise AssessmentInputError("two visits share a date: combine their lesions first")
    first, warnings = _choose_baseline(ordered, treatment_start, baseline)
    frame = _Frame(
        criteria,
        first,
        treatment_start or first.date,
        treatment_start,
        treatment_stop,
        () if treatment is None else treatment.pauses,
    )
    timepoints: list[TimepointAssessment] = []
    milestones = _Milestones()
    nadir = nadir_before_latest = first
    for visit in ordered:
        nadir_before_latest = nadir
        point = _assess_visit(visit, nadir, frame)
        unevaluated = any(t.review and first.date < t.date for t in timepoints)
        milestones.update(point, frame, unevaluated)
        status_then = _status(point, frame, milestones.response)
        if status_then is ResponseStatus.NON_RESPONSE_12M and unevaluated:
            status_then = ResponseStatus.NOT_EVALUABLE
        timepoints.append(replace(point, status=status_then))
        warnings += _visit_warnings(point, frame, milestones.regrowth, visit)
        trusted = frame.usable_baseline and visit.date >= first.date
        if (
            trusted
            and _comparable(point.review, frame)
            and visit.total_volume_ml is not None
            and visit.total_volume_ml < (nadir.total_volume_ml or 0.0)
        ):
            nadir = visit
    status, review, behind = _latest_status(timepoints, frame, milestones)
    latest = timepoints[-1]
    warnings += _stopped_early_warning(status, latest, frame)
    note = _status_note(status, timepoints, frame, nadir_before_latest)
    recommendations: tuple[str, ...] = ()
    if status is ResponseStatus.NOT_EVALUABLE:
        # the visits its reasons name: the latest, an earlier one not evaluated, the baseline
        recommendations = (review_action([d.isoformat() for d in behind]),)
    elif milestones.non_response.reached and not milestones.response.reached:
        # (a response reached after the 12-month mark answers the non-response's questions)
        recommendations = (
            NON_RESPONSE_ACTIONS
            + trough_findings(treatment, latest.date, stop=frame.treatment_stop)
            + NON_RESPONSE_ACTIONS_BY_TYPE.get(lesion_type, ())
        )
    return ResponseAssessment(
        lesion_type=lesion_type,
        criteria=criteria,
        treatment_start=treatment_start,
        treatment_stop=treatment_stop,
        timepoints=tuple(timepoints),
        baseline_date=first.date,
        nadir_date=nadir.date if frame.usable_baseline else None,
        best_change_pct=_best_change(timepoints, frame),
        response=milestones.response,
        progression=milestones.progression,
        non_response_12m=milestones.non_response,
        regrowth_after_stop=milestones.regrowth,
        status=status,
        recommendations=recommendations,
        warnings=tuple(warnings),
        review=review,
        status_note=note,
        guideline_notes=GUIDELINE_NOTES_BY_TYPE.get(lesion_type, ()),
    )


def _status_note(
    status: ResponseStatus,
    timepoints: Sequence[TimepointAssessment],
    frame: _Frame,
    nadir: VolumeAtVisit,
) -> str | None:
    """The qualifier a status needs when the measurements cannot tell it from no change, or
    from the other side of its threshold (DESIGN.md section 5: a change smaller than the
    measurement's own uncertainty is reported as such). ``nadir``: the nadir before the latest
    visit, which a progression by the sum is measured from."""
    latest = timepoints[-1]
    change = latest.change_from_baseline_pct
    if change is None:
        return None
    if status is ResponseStatus.PROGRESSION:
        return _progression_note(latest, frame, nadir)
    if status not in (ResponseStatus.RESPONSE, ResponseStatus.NON_RESPONSE_12M):
        return None
    if latest.change_within_uncertainty:
        return (
            f"the change from baseline ({signed_pct(change)}) is within the measurements' own "
            "uncertainty"
        )
    threshold = -frame.criteria.response_reduction_pct
    combined_pct = _combined_pct(latest, frame)
    if abs(change - threshold) < combined_pct:
        return (
            f"the change from baseline ({signed_pct(change)}) is within the measurements' "
            f"combined uncertainty ({combined_pct:.1f} points) of the {threshold:g}% response "
            f"threshold: "
            f"{'a reduction short of it' if status is ResponseStatus.RESPONSE else 'a response'} "
            "cannot be excluded; confirm on the images or at the next visit"
        )
    if status is ResponseStatus.NON_RESPONSE_12M:
        # "never reached" also rests on every earlier follow-up's change
        for t in timepoints[:-1]:
            earlier = t.change_from_baseline_pct
            if t.date <= frame.baseline.date or t.review or earlier is None:
                continue
            earlier_pct = _combined_pct(t, frame)
            if abs(earlier - threshold) < earlier_pct:
                return (
                    f"on {t.date.isoformat()} the change from baseline ({signed_pct(earlier)}) "
                    f"was within the measurements' combined uncertainty ({earlier_pct:.1f} "
                    f"points) of the {threshold:g}% response threshold: a response then cannot "
                    "be excluded; confirm on the images"
                )
    return None


def _combined_pct(point: TimepointAssessment, frame: _Frame) -> float:
    """The combined uncertainty of ``point``'s sum and the baseline's, in points of change."""
    combined = math.hypot(point.uncertainty_ml, frame.baseline.uncertainty_ml)
    return 100.0 * combined / frame.baseline_ml


def _progression_note(
    latest: TimepointAssessment, frame: _Frame, nadir: VolumeAtVisit
) -> str | None:
    """A progression by the sum alone whose growth from the nadir is within the measurements'
    combined uncertainty, or within it of the progression threshold (a new lesion is its own
    evidence)."""
    if any(r.startswith("new lesion") for r in latest.progression_reasons):
        return None
    total, low = latest.total_volume_ml, nadir.total_volume_ml
    if total is None or not low:
        return None
    growth = total - low
    combined = math.hypot(latest.uncertainty_ml, nadir.uncertainty_ml)
    threshold = frame.criteria.progression_increase_from_nadir_pct
    from_nadir = 100.0 * growth / low
    if combined > 0 and abs(growth) < combined:
        return (
            f"the growth from the nadir ({growth:+.3f} mL, {signed_pct(from_nadir)}) is within "
            f"the measurements' combined uncertainty ({combined:.3f} mL): confirm at the next "
            "visit"
        )
    combined_pct = 100.0 * combined / low
    if abs(from_nadir - threshold) < combined_pct:
        return (
            f"the growth from the nadir ({signed_pct(from_nadir)}) is within the measurements' "
            f"combined uncertainty ({combined_pct:.1f} points) of the +{threshold:g}% "
            "progression threshold: growth short of it cannot be excluded; confirm at the next "
            "visit"
        )
    return None


def _status(point: TimepointAssessment, frame: _Frame, response: Milestone) -> ResponseStatus:
    """The status as of ``point`` (DESIGN.md section 5's order), given the response so far."""
    baseline = frame.baseline
    if point.review or (baseline.review and point.date > baseline.date):
        return ResponseStatus.NOT_EVALUABLE
    if not frame.usable_baseline or point.date <= baseline.date:
        return ResponseStatus.NO_BASELINE
    if point.progression_met:
        return ResponseStatus.PROGRESSION
    if point.response_met:
        return ResponseStatus.RESPONSE
    if not response.reached:
        if frame.months(point.date) >= frame.criteria.non_response_months - MONTHS_TOLERANCE:
            return ResponseStatus.NON_RESPONSE_12M
        return ResponseStatus.TOO_EARLY
    return ResponseStatus.STABLE
