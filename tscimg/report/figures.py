"""Figures of the report, drawn with matplotlib (object API, Agg canvas) into PNG bytes.

- :func:`volume_plot_png`: the sum of target-lesion volumes over time with the baseline, the
  response lines (-30% and -50%), the progression line (+25% from the nadir so far), treatment
  start and stop, pauses, the 12-month mark (on treatment, pauses left out), and the trough
  levels on a second axis against the 5-15 ng/mL target band.
- :func:`view_png`: a lesion at one visit in its orthogonal planes (each at least 320 pixels
  square) with orientation letters, a 10 mm scale bar, the outline and, at a follow-up, the
  reference visit's outline carried by the registration.
- :func:`waterfall_png`: the cohort's best change from baseline, one bar per assessment.

Examples
--------
>>> import numpy as np
>>> from tscimg.longitudinal.views import LesionView, PlaneView, ViewPlane
>>> plane = PlaneView(ViewPlane.AXIAL, np.zeros((8, 8), np.uint8), np.eye(8, dtype=bool),
...                   np.ones((8, 8), bool), None, ("R", "L", "A", "P"))
>>> png = view_png(LesionView((plane,), 5.0, (0, 0, 0), (0, 1)))
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n", png_size(png)
(True, (330, 330))
"""

from __future__ import annotations

import datetime
import io
import struct
from collections.abc import Sequence

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from tscimg.core.treatment import TreatmentHistory
from tscimg.longitudinal.criteria import EXIST, TROUGH_TARGET_NG_ML, TSC, ResponseCriteria
from tscimg.longitudinal.percent import THRESHOLD_TOLERANCE_PCT
from tscimg.longitudinal.response import ResponseAssessment, date_at_treatment_months
from tscimg.longitudinal.views import LesionView, PlaneView

_DPI = 110
#: Side of one plane of a lesion view, inches (330 pixels at _DPI: at least 320).
VIEW_PANEL_IN = 3.0
#: Length of the views' scale bar, mm.
SCALE_BAR_MM = 10.0
#: Colours of the outlines in the views: this visit's, and the reference carried to it.
OUTLINE_COLOUR = "#ffb000"
REFERENCE_COLOUR = "#00e5ff"
#: Where the scan does not reach (nothing was imaged there).
OUTSIDE_RGBA = (0.20, 0.24, 0.36, 1.0)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG, pixels (from its header)."""
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


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
    assessment: ResponseAssessment,
    criteria: ResponseCriteria,
    title: str,
    treatment: TreatmentHistory | None = None,
) -> bytes:
    """The volume-over-time plot of one assessment, with the treatment's troughs (PNG bytes)."""
    fig = Figure(figsize=(7.6, 2.9))
    ax = fig.add_subplot(1, 1, 1)
    points = [t for t in assessment.timepoints]
    dates = [t.date for t in points]
    measured = [(t, t.total_volume_ml) for t in points if t.total_volume_ml is not None]
    ax.errorbar(_days([t.date for t, _ in measured]), [v for _, v in measured],
                yerr=[t.uncertainty_ml for t, _ in measured], marker="o", color="#1f4e79",
                capsize=3, label="sum of target lesions (segmentation)")  # fmt: skip
    flagged = [(t, v) for t, v in measured if t.review]
    if flagged:
        ax.scatter(_days([t.date for t, _ in flagged]), [v for _, v in flagged],
                   s=120, facecolors="none", edgecolors="#c62828", linewidths=1.5, zorder=5,
                   label="flagged for review (not evaluated)")  # fmt: skip
    for n, t in enumerate(t for t in points if t.total_volume_ml is None):
        ax.axvline(_day(t.date), color="#c62828", ls=(0, (1, 3)), lw=1.5,
                   label=None if n else "not measured (flagged for review)")  # fmt: skip
    baseline = next((t for t in points if t.is_baseline), None)
    v0 = 0.0 if baseline is None else baseline.total_volume_ml or 0.0
    if baseline is not None and v0 > 0:
        estimated = [t for t in points if t.change_registration_pct is not None]
        if estimated:
            ax.plot(_days([baseline.date] + [t.date for t in estimated]),
                    [v0] + [v0 * (1 + t.change_registration_pct / 100) for t in estimated
                            if t.change_registration_pct is not None],
                    marker="s", ms=4, ls=":", color="#8e24aa",
                    label="registration estimate (Jacobian)")  # fmt: skip
    if baseline is not None and v0 > 0:
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
        nadir = np.minimum.accumulate(
            [np.inf if t.review or t.total_volume_ml is None else t.total_volume_ml for t in after]
        )
        limit = nadir * (1 + criteria.progression_increase_from_nadir_pct / 100)
        if criteria.progression_requires_above_baseline:
            limit = np.maximum(limit, v0)
        ax.step(_days([t.date for t in after]), limit, where="post", color="#c62828", ls="--", lw=1,
                label=f"+{criteria.progression_increase_from_nadir_pct:g}% from nadir")  # fmt: skip
    pauses = () if treatment is None else treatment.pauses
    if assessment.treatment_start is not None:
        start = assessment.treatment_start
        ax.axvline(_day(start), color="#1565c0", lw=1.2, label="treatment start")
        mark = date_at_treatment_months(
            start, criteria.non_response_months, pauses, assessment.treatment_stop
        )  # None: stopped, or paused for good, before it
        if mark is not None and dates and mark <= max(dates) + datetime.timedelta(days=60):
            ax.axvline(_day(mark), color="#6a1b9a", ls=":", lw=1.2,
                       label=f"{criteria.non_response_months:g} months on treatment")  # fmt: skip
    if assessment.treatment_stop is not None:
        ax.axvline(_day(assessment.treatment_stop), color="#ef6c00", lw=1.2, label="treatment stop")
    end = max(dates) if dates else None
    for n, p in enumerate(pauses):
        until = p.resumed or assessment.treatment_stop or end or p.paused
        ax.axvspan(_day(p.paused), _day(until), color="#9e9e9e", alpha=0.25, lw=0,
                   label="treatment paused" if n == 0 else None)  # fmt: skip
    handles, labels = ax.get_legend_handles_labels()
    if treatment is not None and treatment.troughs_ng_ml:
        low, high = TROUGH_TARGET_NG_ML
        twin = ax.twinx()
        twin.axhspan(low, high, color="#43a047", alpha=0.10, lw=0)
        t_dates = [d for d, _ in treatment.troughs_ng_ml]
        t_values = np.asarray([v for _, v in treatment.troughs_ng_ml], dtype=float)
        colours = ["#c62828" if v > high else "#ef6c00" if v < low else "#2e7d32" for v in t_values]
        twin.plot(_days(t_dates), t_values, ls="-", lw=0.6, color="#90a4ae", zorder=1)
        twin.scatter(_days(t_dates), t_values, marker="D", s=22, c=colours, zorder=3,
                     label=f"trough (ng/mL; band {low:g}-{high:g})")  # fmt: skip
        above = t_values > high
        if above.any():
            twin.scatter(_days([d for d, a in zip(t_dates, above, strict=True) if a]),
                         t_values[above], marker="D", s=70, facecolors="none",
                         edgecolors="#c62828", linewidths=1.3, zorder=4,
                         label=f"trough above {high:g} ng/mL")  # fmt: skip
        twin.set_ylim(0, max(float(t_values.max()) * 1.15, high * 1.3))
        twin.set_ylabel("trough (ng/mL)", fontsize=8)
        twin.tick_params(labelsize=7)
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    locator = AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_ylabel("volume (mL)")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    offset = 1.12 if treatment is not None and treatment.troughs_ng_ml else 1.01
    ax.legend(handles, labels, fontsize=6.5, loc="center left", bbox_to_anchor=(offset, 0.5),
              frameon=False)  # fmt: skip
    fig.tight_layout()
    return _png(fig)


_HALO = [patheffects.withStroke(linewidth=2.5, foreground="black")]


def _plane_panel(ax: Axes, plane: PlaneView, pixel_mm: float, label: str) -> None:
    rows, cols = plane.image.shape
    ax.imshow(plane.image, cmap="gray", vmin=0, vmax=255, interpolation="bilinear")
    if not plane.covered.all():
        outside = np.zeros((rows, cols, 4))
        outside[~plane.covered] = OUTSIDE_RGBA
        ax.imshow(outside, interpolation="nearest")
    if plane.reference is not None and plane.reference.any():
        ax.contour(plane.reference.astype(float), levels=[0.5], colors=[REFERENCE_COLOUR],
                   linewidths=1.3, linestyles="dashed")  # fmt: skip
    if plane.mask.any():
        ax.contour(plane.mask.astype(float), levels=[0.5], colors=[OUTLINE_COLOUR],
                   linewidths=1.4)  # fmt: skip
    if plane.letters is not None:
        left, right, top, bottom = plane.letters
        for x, y, letter, ha, va in (
            (0.02 * cols, rows / 2, left, "left", "center"),
            (0.98 * cols, rows / 2, right, "right", "center"),
            (cols / 2, 0.02 * rows, top, "center", "top"),
            (cols / 2, 0.98 * rows, bottom, "center", "bottom"),
        ):
            ax.text(x, y, letter, ha=ha, va=va, color="white", fontsize=11, fontweight="bold",
                    path_effects=_HALO)  # fmt: skip
    ax.text(0.03 * cols, 0.03 * rows, label, ha="left", va="top", color="white", fontsize=8,
            path_effects=_HALO)  # fmt: skip
    bar = SCALE_BAR_MM / pixel_mm  # the scale bar, bottom right, above the bottom letter
    x1, y = 0.96 * cols, 0.90 * rows
    ax.plot([x1 - bar, x1], [y, y], color="white", lw=3, solid_capstyle="butt",
            path_effects=[patheffects.withStroke(linewidth=5, foreground="black")])  # fmt: skip
    ax.text(x1 - bar / 2, y - 0.015 * rows, f"{SCALE_BAR_MM:g} mm", ha="center", va="bottom",
            color="white", fontsize=8, path_effects=_HALO)  # fmt: skip
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_axis_off()


def view_png(view: LesionView) -> bytes:
    """A lesion at one visit: each plane at least 320 pixels square, side by side (PNG bytes).

    Each plane carries its name, the patient directions at its edges (R/L, A/P, S/I; none
    for a 2D frame), a 10 mm scale bar, this visit's outline (orange) and, at a follow-up,
    the reference visit's outline carried by the registration (cyan, dashed). Where the scan
    does not reach, the field is blue-grey.
    """
    n = len(view.planes)
    gap = 0.06
    width = n * VIEW_PANEL_IN + (n - 1) * gap
    fig = Figure(figsize=(width, VIEW_PANEL_IN))
    for i, plane in enumerate(view.planes):
        x0 = i * (VIEW_PANEL_IN + gap) / width
        ax = fig.add_axes((x0, 0.0, VIEW_PANEL_IN / width, 1.0))
        if view.is_planar:
            label = "2D echo frame" if view.modality == "US" else "2D frame"
            label += "" if view.frame is None else f" {view.frame}"
        else:
            label = plane.plane.value
        _plane_panel(ax, plane, view.pixel_mm, label)
    return _png(fig)


def waterfall_png(labels: Sequence[str], best_changes_pct: Sequence[float],
                  criteria: ResponseCriteria) -> bytes:  # fmt: skip
    """The cohort's best change from baseline, sorted, one bar per assessment (PNG bytes)."""
    order = np.argsort(best_changes_pct)[::-1]
    values = np.asarray(best_changes_pct, dtype=float)[order]
    names = [labels[i] for i in order]
    fig = Figure(figsize=(6.4, 3.0))
    ax = fig.add_subplot(1, 1, 1)
    limit = -criteria.response_reduction_pct + THRESHOLD_TOLERANCE_PCT  # as the rules compare
    colours = ["#2e7d32" if v <= limit else "#90a4ae" for v in values]
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
