"""The ``tscimg`` command. Every command takes ``--json``; exit codes are in :mod:`exit_codes`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from tscimg_cli.exit_codes import ExitCode
from tscimg_cli.output import (
    emit_components,
    emit_json,
    emit_table,
    emit_warnings,
    stderr_console,
)

import tscimg
from tscimg.core.errors import TscimgError
from tscimg.io import load_mask, load_scan
from tscimg.measure import MeasureParameters, measure_mask

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


@app.command()
def measure(
    mask: Annotated[Path, typer.Argument(help="Label map (NIfTI, NRRD, MHA) or DICOM SEG.")],
    image: Annotated[
        Path | None,
        typer.Option("--image", help="The scan the mask was drawn on (required for DICOM SEG)."),
    ] = None,
    label: Annotated[
        int | None, typer.Option("--label", min=1, help="Measure this label value only.")
    ] = None,
    min_volume_ml: Annotated[
        float,
        typer.Option("--min-volume-ml", min=0.0, help="Leave out components smaller than this."),
    ] = 0.0,
    json_output: JsonOption = False,
) -> None:
    """Measure lesions: volumes, surface, diameters, ellipsoid approximation, uncertainty."""
    scan = load_scan(image) if image is not None else None
    loaded = load_mask(mask, reference=scan)
    result = measure_mask(loaded, MeasureParameters(min_volume_ml=min_volume_ml), label=label)
    warnings = [*loaded.warnings, *result.warnings]
    record: dict[str, Any] = {"mask": str(mask), "image": None if image is None else str(image)}
    record.update(result.to_dict())
    record["warnings"] = warnings
    if json_output:
        emit_json(record)
        return
    t = result.total
    emit_table(
        f"{mask}" + ("" if label is None else f" (label {label})"),
        {
            "voxel_count": t.voxel_count,
            "volume_ml": f"{t.volume_ml:.3f} +/- {t.volume_uncertainty_ml:.3f}",
            "mesh_volume_ml": f"{t.mesh_volume_ml:.3f}",
            "surface_area_mm2": f"{t.surface_area_mm2:.1f}",
            "max_3d_diameter_mm": f"{t.max_3d_diameter_mm:.1f}",
            "axial_longest_diameter_mm": f"{t.axial_longest_diameter_mm:.1f}",
            "orthogonal_diameters_mm": " x ".join(f"{d:.1f}" for d in t.orthogonal_diameters_mm),
            "ellipsoid_volume_ml (approximation)": f"{t.ellipsoid_volume_ml:.3f}",
        },
    )
    if len(result.components) > 1:
        emit_components([c.to_dict() for c in result.components])
    emit_warnings(warnings)


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
