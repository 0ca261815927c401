"""report.html: one self-contained page (inline CSS, images as data URIs, no network).

Rendered with Jinja2; the figures (volume plots, lesion views, the cohort waterfall) are drawn
by :mod:`tscimg.report.figures`. The same page, printed by WeasyPrint, is report.pdf.
"""

from __future__ import annotations

import base64
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tscimg.core.vocabularies import VolumeMethod
from tscimg.longitudinal.results import CohortResult
from tscimg.report.figures import view_png, volume_plot_png, waterfall_png

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


def _fmt(value: Any, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float | int):
        return f"{value:.{digits}f}{suffix}"
    return str(value)


def _signed(value: Any) -> str:
    return "–" if value is None else f"{value:+.1f}%"


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figures_for(result: CohortResult) -> dict[str, Any]:
    """Data URIs of every figure, keyed ``plots['P|type']``, ``views['P|type|date|lesion']``."""
    plots: dict[str, str] = {}
    views: dict[str, str] = {}
    labels: list[str] = []
    best: list[float] = []
    for patient in result.patients:
        for a in patient.assessments:
            key = f"{patient.patient_id}|{a.lesion_type.value}"
            title = f"{patient.patient_id} {a.lesion_type.value}: {a.status.value}"
            plots[key] = _uri(volume_plot_png(a, result.criteria, title))
            if a.best_change_pct is not None and len(a.timepoints) > 1:
                labels.append(f"{patient.patient_id} {a.lesion_type.value}")
                best.append(a.best_change_pct)
        for lv in patient.lesions:
            if lv.view is not None:
                caption = f"{lv.lesion_id} {lv.date.isoformat()} {lv.volume_ml:.2f} mL"
                views[f"{patient.patient_id}|{lv.lesion_type.value}|{lv.date}|{lv.lesion_id}"] = (
                    _uri(view_png(lv.view, caption))
                )
    waterfall = _uri(waterfall_png(labels, best, result.criteria)) if len(best) > 1 else None
    return {"plots": plots, "views": views, "waterfall": waterfall}


def render_html(result: CohortResult) -> str:
    """The report page for a tracking result."""
    template = _ENV.get_template("report.html.j2")
    return template.render(
        report=result.to_dict(),
        figures=figures_for(result),
        status_text=STATUS_TEXT,
        volume_3d=VolumeMethod.VOXELS_3D.value,
        fmt=_fmt,
        signed=_signed,
    )


def render_pdf(html: str) -> bytes:
    """report.pdf: the page printed by WeasyPrint (A4, one section per patient)."""
    from weasyprint import HTML  # imported here: loading Pango takes a moment

    pdf = HTML(string=html).write_pdf()
    assert pdf is not None
    return bytes(pdf)
