"""Printing results: one JSON object on stdout with --json, readable text otherwise.

Paths, series descriptions and library messages are printed as they are: never read as rich
markup (``CT [arterial]/scan.nii.gz`` lost its bracket; ``old[/x]/scan.nii.gz`` raised
``MarkupError``, an internal error after the work was done) nor as emoji codes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

stderr_console = Console(stderr=True, highlight=False, emoji=False)
stdout_console = Console(highlight=False, emoji=False)


def emit_json(record: dict[str, Any]) -> None:
    """Print one JSON object on stdout."""
    sys.stdout.write(json.dumps(record, indent=2, allow_nan=False) + "\n")


def emit_table(title: str, rows: dict[str, Any]) -> None:
    """Print key/value rows as a table for people."""
    table = Table(title=Text(title), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in rows.items():
        if isinstance(value, list | tuple):
            value = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in value)
        table.add_row(Text(key), Text("-" if value is None or value == "" else str(value)))
    stdout_console.print(table)


def emit_components(components: list[dict[str, Any]]) -> None:
    """Print one row per connected component."""
    table = Table(title="components", title_justify="left")
    for col in ("#", "volume_ml", "max_3d_diameter_mm", "centroid_lps"):
        table.add_column(col)
    for c in components:
        table.add_row(
            str(c["component"]),
            f"{c['volume_ml']:.3f}",
            f"{c['max_3d_diameter_mm']:.1f}",
            ", ".join(f"{v:.1f}" for v in c["centroid_lps"]),
        )
    stdout_console.print(table)


def emit_warnings(warnings: list[str]) -> None:
    """Print loading warnings on stderr (JSON output carries them in its record)."""
    for w in warnings:
        stderr_console.print(f"[yellow]warning:[/yellow] {escape(w)}")
