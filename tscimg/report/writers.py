"""Writing a tracking result as report.json, report.csv and report.html (atomically).

Examples
--------
>>> import tempfile, pathlib
>>> from tscimg.longitudinal import TSC, CohortResult
>>> paths = write_reports(CohortResult(TSC, ()), pathlib.Path(tempfile.mkdtemp()))
>>> sorted(p.name for p in paths.values())
['report.csv', 'report.html', 'report.json', 'report.pdf']
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from tscimg.io.atomic import atomic_file, require_writable
from tscimg.longitudinal.results import REPORT_KINDS, CohortResult
from tscimg.report.html import render_html, render_pdf
from tscimg.report.spreadsheet_cells import neutral_cell

#: report.csv's columns, in order (one row per patient x visit x lesion; ``status`` as of the
#: row's visit, ``latest_status`` the assessment's; a patient that failed is one row with its
#: ``error``).
CSV_COLUMNS = (
    "patient_id",
    "lesion_type",
    "date",
    "months_on_treatment",
    "lesion_id",
    "target",
    "origin",
    "volume_ml",
    "volume_method",
    "area_mm2",
    "volume_uncertainty_ml",
    "mesh_volume_ml",
    "max_3d_diameter_mm",
    "axial_longest_diameter_mm",
    "total_volume_ml",
    "is_baseline",
    "change_from_baseline_pct",
    "change_from_nadir_pct",
    "change_registration_pct",
    "change_within_uncertainty",
    "response_met",
    "progression_met",
    "progression_reasons",
    "regrowth_after_stop",
    "after_treatment_stop",
    "treatment_paused",
    "status",
    "latest_status",
    "latest_status_note",
    "latest_review",
    "latest_recommendations",
    "assessment_warnings",
    "criteria",
    "registration_ncc",
    "mask",
    "review",
    "visit_review",
    "warnings",
    "error",
    "disclaimer",
)


def render_csv(result: CohortResult) -> str:
    """report.csv as text."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in result.to_records():
        writer.writerow(
            {k: "" if record.get(k) is None else neutral_cell(record[k]) for k in CSV_COLUMNS}
        )
    return buffer.getvalue()


def write_reports(
    result: CohortResult, output_dir: str | os.PathLike[str], pdf: bool = True
) -> dict[str, Path]:
    """Write report.json, report.csv, report.html (and report.pdf) into ``output_dir``.

    An earlier run's reports are removed first, all four, and each new one is written
    atomically: whenever the writing stops (an error, Ctrl-C, the process killed), the
    reports in the folder all describe this result, never a mix of this run's and an earlier
    run's (an earlier report.pdf is removed with ``pdf=False`` too). report.json and
    report.csv are written first: they hold every figure, and a failure to render the page (a
    figure that cannot be drawn only loses that figure; see
    :func:`tscimg.report.html.figures_for`) must not lose them; the error is then raised
    (report.html stands when only the PDF fails).

    Returns the paths by kind (``"json"``, ``"csv"``, ``"html"``, ``"pdf"``).
    """
    output_dir = require_writable(output_dir, folder=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    for kind in REPORT_KINDS:  # an earlier run's: stale beside this run's first new file
        (output_dir / f"report.{kind}").unlink(missing_ok=True)
    paths: dict[str, Path] = {}

    def write(kind: str, data: bytes) -> None:
        target = output_dir / f"report.{kind}"
        with atomic_file(target) as tmp:
            tmp.write_bytes(data)
        paths[kind] = target

    write("json", (result.to_json() + "\n").encode("utf-8"))
    write("csv", render_csv(result).encode("utf-8"))
    html = render_html(result)
    write("html", html.encode("utf-8"))
    if pdf:
        write("pdf", render_pdf(html))
    return paths
