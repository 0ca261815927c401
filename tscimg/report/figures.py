"""Figures of the report, drawn with matplotlib (object API, Agg canvas) into PNG bytes.

- :func:`volume_plot_png`: the sum of target-lesion volumes over time with the baseline, the
  response lines (-30% and -50%), the progression line (+25% from the nadir so far), treatment
  start and stop, and the 12-month mark.
- :func:`view_png`: a lesion's axial view with its outline.
- :func:`waterfall_png`: the cohort's best change from baseline, one bar per assessment.

Examples
--------
>>> import numpy as np
>>> from tscimg.longitudinal.views import LesionView
>>> view = LesionView(np.zeros((8, 8), np.uint8), np.eye(8, dtype=bool), 1.0, (0, 0, 0), (0, 1))
>>> view_png(view)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from tscimg.longitudinal.criteria import EXIST, TSC, ResponseCriteria
from tscimg.longitudinal.response import ResponseAssessment, add_months
from tscimg.longitudinal.views import LesionView

_DPI = 110


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _day(d: datetime.date) -> float:
    return float(date2num(d))


def _days(ds: Sequence[datetime.date]) -> np.ndarray:
    return np.asarray([_day(d) for d in ds], dtype=float)


def volume_plot_png(
    assessment: ResponseAssessment, criteria: ResponseCriteria, title: str
) -> bytes:
    """The volume-over-time plot of one assessment (PNG bytes)."""
    fig = Figure(figsize=(6.4, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    points = [t for t in assessment.timepoints]
    dates = [t.date for t in points]
    volumes = [t.total_volume_ml for t in points]
    errors = [t.uncertainty_ml for t in points]
    ax.errorbar(_days(dates), volumes, yerr=errors, marker="o", color="#1f4e79", capsize=3,
                label="sum of target lesions (segmentation)")  # fmt: skip
    flagged = [t for t in points if t.review]
    if flagged:
        ax.scatter(_days([t.date for t in flagged]), [t.total_volume_ml for t in flagged],
                   s=120, facecolors="none", edgecolors="#c62828", linewidths=1.5, zorder=5,
                   label="flagged for review (not evaluated)")  # fmt: skip
    baseline = next((t for t in points if t.is_baseline), None)
    if baseline is not None and baseline.total_volume_ml > 0:
        estimated = [t for t in points if t.change_registration_pct is not None]
        if estimated:
            v0 = baseline.total_volume_ml
            ax.plot(_days([baseline.date] + [t.date for t in estimated]),
                    [v0] + [v0 * (1 + t.change_registration_pct / 100) for t in estimated
                            if t.change_registration_pct is not None],
                    marker="s", ms=4, ls=":", color="#8e24aa",
                    label="registration estimate (Jacobian)")  # fmt: skip
    if baseline is not None and baseline.total_volume_ml > 0:
        v0 = baseline.total_volume_ml
        ax.axhline(v0, color="#555555", lw=1, label="baseline")
        shown = {criteria.response_reduction_pct, TSC.response_reduction_pct,
                 EXIST.response_reduction_pct}  # fmt: skip
        for pct in sorted(shown):
            style = "--" if pct == criteria.response_reduction_pct else ":"
            which = "response" if style == "--" else "response, other criteria"
            ax.axhline(v0 * (1 - pct / 100), color="#2e7d32", ls=style, lw=1,
                       label=f"-{pct:g}% ({which})")  # fmt: skip
        after = [t for t in points if t.date >= baseline.date]
        # the nadir as the assessment keeps it: flagged visits never set it
        nadir = np.minimum.accumulate([np.inf if t.review else t.total_volume_ml for t in after])
        limit = nadir * (1 + criteria.progression_increase_from_nadir_pct / 100)
        if criteria.progression_requires_above_baseline:
            limit = np.maximum(limit, v0)
        ax.step(_days([t.date for t in after]), limit, where="post", color="#c62828", ls="--", lw=1,
                label=f"+{criteria.progression_increase_from_nadir_pct:g}% from nadir")  # fmt: skip
    if assessment.treatment_start is not None:
        start = assessment.treatment_start
        ax.axvline(_day(start), color="#1565c0", lw=1.2, label="treatment start")
        mark = add_months(start, 12)
        if dates and mark <= max(dates) + datetime.timedelta(days=60):
            ax.axvline(_day(mark), color="#6a1b9a", ls=":", lw=1.2, label="12 months")
    if assessment.treatment_stop is not None:
        ax.axvline(_day(assessment.treatment_stop), color="#ef6c00", lw=1.2, label="treatment stop")
    locator = AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_ylabel("volume (mL)")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return _png(fig)


def view_png(view: LesionView, caption: str = "") -> bytes:
    """A lesion's axial view with its outline (PNG bytes)."""
    size_in = 1.9
    fig = Figure(figsize=(size_in, size_in + (0.25 if caption else 0.0)))
    ax = fig.add_axes((0.0, 0.12 if caption else 0.0, 1.0, 0.88 if caption else 1.0))
    ax.imshow(view.image, cmap="gray", vmin=0, vmax=255, interpolation="bilinear")
    if view.mask.any():
        ax.contour(view.mask.astype(float), levels=[0.5], colors=["#ffb000"], linewidths=1.2)
    ax.set_axis_off()
    if caption:
        fig.text(0.5, 0.02, caption, ha="center", va="bottom", fontsize=7)
    return _png(fig)


def waterfall_png(labels: Sequence[str], best_changes_pct: Sequence[float],
                  criteria: ResponseCriteria) -> bytes:  # fmt: skip
    """The cohort's best change from baseline, sorted, one bar per assessment (PNG bytes)."""
    order = np.argsort(best_changes_pct)[::-1]
    values = np.asarray(best_changes_pct, dtype=float)[order]
    names = [labels[i] for i in order]
    fig = Figure(figsize=(6.4, 3.0))
    ax = fig.add_subplot(1, 1, 1)
    colours = ["#2e7d32" if v <= -criteria.response_reduction_pct else "#90a4ae" for v in values]
    ax.bar(range(len(values)), values, color=colours)
    ax.axhline(-criteria.response_reduction_pct, color="#2e7d32", ls="--", lw=1,
               label=f"-{criteria.response_reduction_pct:g}% response")  # fmt: skip
    ax.axhline(0, color="#555555", lw=0.8)
    ax.set_xticks(range(len(values)), names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("best change from baseline (%)")
    ax.legend(fontsize=7, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)
