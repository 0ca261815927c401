"""report.html: one self-contained page (inline CSS, images as data URIs, no network).

Rendered with Jinja2; the figures (volume plots, lesion views, the cohort waterfall) are drawn
by :mod:`tscimg.report.figures`. The same page, printed by WeasyPrint, is report.pdf: its
print style keeps each patient's summary, plot and table together, never separates a list
from its heading, puts the patient and the page number in every page's header (running
headers), and gathers the lesion views on pages of their own.

Examples
--------
>>> _fmt(-0.0004, 1), _signed(-0.04), _signed(12.345), _signed(-29.99)
('0.0', '0.0%', '+12.3%', '-29.9%')
"""

from __future__ import annotations

import base64
import datetime
import math
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tscimg.core.treatment import TreatmentHistory
from tscimg.core.vocabularies import VolumeMethod
from tscimg.longitudinal.criteria import TROUGH_TARGET_NG_ML
from tscimg.longitudinal.percent import signed_pct
from tscimg.longitudinal.response import ResponseAssessment
from tscimg.longitudinal.results import (
    CohortResult,
    LesionVisitResult,
    PatientResult,
    warning_lesion_type,
)
from tscimg.report.figures import (
    OUTLINE_COLOUR,
    REFERENCE_COLOUR,
    SCALE_BAR_MM,
    view_png,
    volume_plot_png,
    waterfall_png,
)

_ENV = Environment(
    loader=PackageLoader("tscimg.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

#: How each status reads to a person, and its colour class in the page.
STATUS_TEXT = {
    "not_evaluable": ("Not evaluable: a measurement needs a reader's check", "warn"),
    "progression": ("Progression", "bad"),
    "response": ("Response", "good"),
    "non_response_12m": ("Non-response at 12 months", "bad"),
    "too_early": ("Too early to judge (under 12 months, no response yet)", "neutral"),
    "stable": ("Response reached before, not held at the latest visit", "warn"),
    "no_baseline": ("No baseline to compare with", "neutral"),
}


def _unsigned_zero(text: str) -> str:
    """ "-0.0" reads as a loss: a value that rounds to zero is written without a sign."""
    digits = text.lstrip("+-")
    return digits if not any(c in "123456789" for c in digits) else text


def _fmt(value: Any, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float | int):
        return _unsigned_zero(f"{value:.{digits}f}") + suffix
    return str(value)


def _months(value: float | None) -> str:
    """Months on treatment to one decimal, cut towards zero rather than rounded: a scan a day
    short of the 12-month mark (11.97) reads 11.9 beside its "too early", not 12.0.

    Examples
    --------
    >>> _months(11.97), _months(12.0), _months(-0.16), _months(None)
    ('11.9', '12.0', '-0.1', '–')
    """
    if value is None:
        return "–"
    return _unsigned_zero(f"{math.trunc(value * 10 + math.copysign(1e-6, value)) / 10:.1f}")


def _signed(value: Any) -> str:
    """A change to one decimal, cut towards zero (:func:`~tscimg.longitudinal.percent.signed_pct`):
    -29.99% reads -29.9% beside its "no response", not -30.0%."""
    return "–" if value is None else signed_pct(value)


def _view_facts(lv: LesionVisitResult) -> dict[str, Any]:
    """What the caption beside a lesion view says (the picture carries the rest)."""
    view = lv.view
    assert view is not None
    planes = [p.plane.value for p in view.planes]
    return {
        "planar": view.is_planar,
        "planes": planes,
        "window": view.window_basis,
        "window_values": [round(v, 1) for v in view.window],
        "field_of_view_mm": round(view.field_of_view_mm, 1),
        "reference_date": view.reference_date,
        "outside_scan": any(not p.covered.all() for p in view.planes),
        "frame": view.frame,
    }


def treatment_at_latest(patient: PatientResult, assessment: ResponseAssessment) -> str:
    """The cohort table's "treatment at the latest visit": the drug and dose in force on the
    assessment's latest visit, whether treatment was paused or had stopped by then.

    Examples
    --------
    >>> import datetime as dt
    >>> from tscimg.core.treatment import Drug, TreatmentHistory, TreatmentPause
    >>> d = dt.date
    >>> course = TreatmentHistory(start=d(2024, 1, 15), drugs=((d(2024, 1, 15), Drug.EVEROLIMUS),),
    ...     doses_mg=((d(2024, 1, 15), 10.0), (d(2024, 7, 12), 7.5), (d(2026, 1, 5), 5.0)))
    >>> _treatment_text(course, d(2025, 7, 15))
    'everolimus 7.5 mg'
    >>> _treatment_text(TreatmentHistory(start=d(2024, 3, 1), stop=d(2024, 10, 1)), d(2025, 3, 5))
    'stopped 2024-10-01'
    >>> paused = TreatmentPause(d(2025, 2, 1))
    >>> _treatment_text(replace(course, pauses=(paused,)), d(2025, 7, 15))
    'everolimus 7.5 mg, paused since 2025-02-01'
    >>> _treatment_text(TreatmentHistory(start=d(2024, 3, 1)), d(2024, 2, 20))
    'starts 2024-03-01'
    """
    if not assessment.timepoints:
        return "–"
    # the patient's start and stop: the manifest's, else the treatment file's
    course = replace(
        patient.treatment or TreatmentHistory(),
        start=patient.treatment_start,
        stop=patient.treatment_stop,
    )
    return _treatment_text(course, assessment.timepoints[-1].date)


def _treatment_text(course: TreatmentHistory, on: datetime.date) -> str:
    """The treatment on the date ``on``, in words (see :func:`treatment_at_latest`)."""
    on_drug = on if course.stop is None else min(on, course.stop)
    drug, dose = course.drug_on(on_drug), course.dose_on(on_drug)
    regimen = " ".join(
        ([] if drug is None else [drug.value]) + ([] if dose is None else [f"{dose:g} mg"])
    )
    if course.stop is not None and course.stop <= on:
        return f"stopped {course.stop.isoformat()}" + (
            f" ({regimen} until then)" if regimen else ""
        )
    if course.start is not None and on < course.start:
        return f"starts {course.start.isoformat()}"
    pause = course.pause_on(on)
    text = regimen or ("–" if course.start is None else f"started {course.start.isoformat()}")
    return text + ("" if pause is None else f", paused since {pause.paused.isoformat()}")


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _drawn(draw: Callable[[], bytes], key: str, errors: dict[str, str]) -> str | None:
    """A figure's data URI, or ``None`` with the reason in ``errors[key]`` when drawing it
    fails: one figure that cannot be drawn must not cost the other patients their report."""
    try:
        return _uri(draw())
    except Exception as exc:  # matplotlib's failures are not one type
        errors[key] = (
            f"this figure could not be drawn ({type(exc).__name__}: {exc}); the figures in the "
            "table and in report.json/report.csv are complete"
        )
        return None


def figures_for(result: CohortResult) -> dict[str, Any]:
    """Data URIs of every figure, keyed ``plots['P|type']``, ``views['P|type|date|lesion']``
    (``view_facts`` under the same keys: what each view's caption says). A figure that cannot
    be drawn is left out of ``plots`` / ``views`` / ``waterfall`` and its reason is in
    ``errors`` under its key (``"waterfall"`` for the waterfall plot)."""
    plots: dict[str, str] = {}
    views: dict[str, str] = {}
    view_facts: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    labels: list[str] = []
    best: list[float] = []
    for patient in result.patients:
        for a in patient.assessments:
            key = f"{patient.patient_id}|{a.lesion_type.value}"
            title = f"{patient.patient_id} {a.lesion_type.value}: {a.status.value}"
            draw_plot = partial(volume_plot_png, a, result.criteria, title, patient.treatment)
            plot = _drawn(draw_plot, key, errors)
            if plot is not None:
                plots[key] = plot
            if a.best_change_pct is not None and len(a.timepoints) > 1:
                labels.append(f"{patient.patient_id} {a.lesion_type.value}")
                best.append(a.best_change_pct)
        for lv in patient.lesions:
            if lv.view is not None:
                key = f"{patient.patient_id}|{lv.lesion_type.value}|{lv.date}|{lv.lesion_id}"
                view = _drawn(partial(view_png, lv.view), key, errors)
                if view is not None:
                    views[key] = view
                view_facts[key] = _view_facts(lv)
    waterfall = (
        _drawn(partial(waterfall_png, labels, best, result.criteria), "waterfall", errors)
        if len(best) > 1
        else None
    )
    return {
        "plots": plots,
        "views": views,
        "view_facts": view_facts,
        "waterfall": waterfall,
        "errors": errors,
    }


def _visits_of(assessment: dict[str, Any]) -> list[dict[str, Any]]:
    """An assessment's visits in report.json, assessed or left out, by date."""
    return sorted(
        [*assessment["timepoints"], *assessment["left_out_visits"]], key=lambda t: t["date"]
    )


def _warnings_of(patient: dict[str, Any], kind: str) -> list[str]:
    """The patient's warnings about one lesion type (they start with its name)."""
    return [w for w in patient["warnings"] if warning_lesion_type(w, [kind]) is not None]


def _patient_wide_warnings(patient: dict[str, Any]) -> list[str]:
    """The patient's warnings about no one lesion type (shown once, not under each type)."""
    kinds = [a["lesion_type"] for a in patient["assessments"]]
    return [w for w in patient["warnings"] if warning_lesion_type(w, kinds) is None]


def render_html(result: CohortResult) -> str:
    """The report page for a tracking result."""
    template = _ENV.get_template("report.html.j2")
    return template.render(
        report=result.to_dict(),
        figures=figures_for(result),
        status_text=STATUS_TEXT,
        volume_3d=VolumeMethod.VOXELS_3D.value,
        trough_target=TROUGH_TARGET_NG_ML,
        colours={"outline": OUTLINE_COLOUR, "reference": REFERENCE_COLOUR},
        scale_bar_mm=SCALE_BAR_MM,
        # a lesion's warnings and review reasons are shown with its views, or in their place
        lesion_notes=any(lv.warnings or lv.review for p in result.patients for lv in p.lesions),
        treatment_cells={
            f"{p.patient_id}|{a.lesion_type.value}": treatment_at_latest(p, a)
            for p in result.patients
            for a in p.assessments
        },
        fmt=_fmt,
        visits_of=_visits_of,
        warnings_of=_warnings_of,
        patient_wide_warnings=_patient_wide_warnings,
        months=_months,
        signed=_signed,
    )


def render_pdf(html: str) -> bytes:
    """report.pdf: the page printed by WeasyPrint (A4, one section per patient)."""
    from weasyprint import HTML  # imported here: loading Pango takes a moment

    pdf = HTML(string=html).write_pdf()
    assert pdf is not None
    return bytes(pdf)
