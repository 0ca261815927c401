"""Reports: report.json (``tscimg.report/1``), report.csv and a self-contained report.html."""

from tscimg.report.html import render_html
from tscimg.report.writers import CSV_COLUMNS, render_csv, write_reports

__all__ = ["CSV_COLUMNS", "render_csv", "render_html", "write_reports"]
