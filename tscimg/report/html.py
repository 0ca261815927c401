"""report.html: one self-contained page (inline CSS, no network) rendered with Jinja2."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tscimg.longitudinal.results import CohortResult

_ENV = Environment(
    loader=PackageLoader("tscimg.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

#: How each status reads to a person, and its colour class in the page.
STATUS_TEXT = {
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


def render_html(result: CohortResult) -> str:
    """The report page for a tracking result."""
    data = result.to_dict()
    template = _ENV.get_template("report.html.j2")
    return template.render(
        report=data,
        status_text=STATUS_TEXT,
        fmt=_fmt,
        signed=_signed,
    )
