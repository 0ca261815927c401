"""Printing results: one JSON object on stdout with --json, readable text otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

stderr_console = Console(stderr=True, highlight=False)
stdout_console = Console(highlight=False)


def emit_json(record: dict[str, Any]) -> None:
    """Print one JSON object on stdout."""
    sys.stdout.write(json.dumps(record, indent=2, allow_nan=False) + "\n")


def emit_table(title: str, rows: dict[str, Any]) -> None:
    """Print key/value rows as a table for people."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in rows.items():
        if isinstance(value, list | tuple):
            value = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in value)
        table.add_row(key, "-" if value is None or value == "" else str(value))
    stdout_console.print(table)


def emit_warnings(warnings: list[str]) -> None:
    """Print loading warnings on stderr (JSON output carries them in its record)."""
    for w in warnings:
        stderr_console.print(f"[yellow]warning:[/yellow] {w}")
