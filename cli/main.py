"""The ``tscimg`` command. Every command takes ``--json``; exit codes are in :mod:`exit_codes`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from tscimg_cli.exit_codes import ExitCode
from tscimg_cli.output import emit_json, emit_table, emit_warnings, stderr_console

import tscimg
from tscimg.core.errors import TscimgError
from tscimg.io import load_scan

app = typer.Typer(
    name="tscimg",
    help="Longitudinal tumour volumetry for tuberous sclerosis complex. "
    + tscimg.RESEARCH_USE_DISCLAIMER,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def _version(value: bool) -> None:
    if value:
        print(f"tscimg {tscimg.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Longitudinal tumour volumetry for TSC (research software, not a medical device)."""


@app.command()
def info(
    path: Annotated[Path, typer.Argument(help="DICOM folder or file, NIfTI, NRRD or MHA.")],
    series: Annotated[
        str | None,
        typer.Option("--series", help="Series Instance UID, when a folder holds several."),
    ] = None,
    allow_resampling: Annotated[
        bool,
        typer.Option(
            "--allow-resampling", help="Interpolate across missing slices instead of failing."
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Describe a scan: size, spacing, origin, direction (LPS), modality, date, warnings."""
    scan = load_scan(path, series_uid=series, allow_resampling=allow_resampling)
    record = scan.describe()
    if json_output:
        emit_json(record)
    else:
        emit_table(f"{path}", {k: v for k, v in record.items() if k != "warnings"})
        emit_warnings(scan.warnings)


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point: maps errors to exit codes and one-line messages."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # Standalone mode: Typer itself reports usage errors (exit 2) and --help/--version.
        app(args=args, prog_name="tscimg", standalone_mode=True)
    except TscimgError as exc:
        stderr_console.print(f"tscimg: error: {exc}", markup=False, soft_wrap=True)
        if _wants_json(args):
            emit_json(
                {"error": {"type": type(exc).__name__, "message": str(exc), "file": exc.path}}
            )
        sys.exit(ExitCode.INPUT_ERROR)
    except Exception as exc:
        if os.environ.get("TSCIMG_DEBUG"):
            raise
        stderr_console.print(
            f"tscimg: internal error: {type(exc).__name__}: {exc}. Please report it with the "
            "command you ran (set TSCIMG_DEBUG=1 for the traceback).",
            markup=False,
            soft_wrap=True,
        )
        if _wants_json(args):
            emit_json({"error": {"type": "InternalError", "message": str(exc), "file": None}})
        sys.exit(ExitCode.INTERNAL_ERROR)
    sys.exit(ExitCode.SUCCESS)


if __name__ == "__main__":
    run()
