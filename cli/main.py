"""The ``tscimg`` command. Every command takes ``--json``; exit codes are in :mod:`exit_codes`."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

import tscimg
from tscimg.core.errors import InputError, TscimgError, environment_problem
from tscimg.core.library_warnings import captured_library_warnings
from tscimg.core.vocabularies import LesionType, VolumeMethod
from tscimg.io import load_mask, load_scan, write_volume
from tscimg.io.atomic import require_writable
from tscimg.longitudinal.percent import shown_pct, signed_pct
from tscimg.measure import (
    LesionRecord,
    MeasureParameters,
    acquisition_slices_of,
    measure_lesion,
)
from tscimg.segment import Method, Prompts, segment
from tscimg_cli.exit_codes import ExitCode
from tscimg_cli.output import (
    emit_components,
    emit_json,
    emit_table,
    emit_warnings,
    stderr_console,
    stdout_console,
)

if TYPE_CHECKING:
    from tscimg_cli.progress import BatchProgress

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
FrameOption = Annotated[
    int | None,
    typer.Option("--frame", min=0, help="Frame of an ultrasound cine (0-based; default 0)."),
]

AllowResamplingOption = Annotated[
    bool,
    typer.Option(
        "--allow-resampling", help="Interpolate across missing slices instead of failing."
    ),
]


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
    allow_resampling: AllowResamplingOption = False,
    frame: FrameOption = None,
    json_output: JsonOption = False,
) -> None:
    """Describe a scan: size, spacing, origin, direction (LPS), modality, date, warnings."""
    _refuse_segmentation(path)
    scan = load_scan(path, series_uid=series, allow_resampling=allow_resampling, frame=frame)
    record = scan.describe()
    if json_output:
        emit_json(record)
    else:
        emit_table(f"{path}", {k: v for k, v in record.items() if k != "warnings"})
        emit_warnings(scan.warnings)


def _is_dicom_segmentation(path: Path) -> bool:
    from tscimg.io.dicom_headers import read_header
    from tscimg.io.formats import FileFormat
    from tscimg.io.loading import SEGMENTATION_SOP_CLASS

    try:
        if not path.is_file() or FileFormat.of(path) is not FileFormat.DICOM_FILE:
            return False
        return read_header(path).sop_class_uid == SEGMENTATION_SOP_CLASS
    except (TscimgError, OSError):
        return False  # the reader itself names what is wrong with the file


def _refuse_segmentation(path: Path) -> None:
    """``info`` describes scans; a DICOM SEG is measured (on the scan it was drawn on)."""
    if _is_dicom_segmentation(path):
        raise InputError(
            "this is a DICOM Segmentation (SEG), not a scan",
            path=path,
            hint="Measure its lesions with: tscimg measure SEG --image SCAN (the series it was "
            "drawn on); tscimg info describes the scan itself",
        )


#: A file with more distinct values than this, non-zero in most voxels, is a scan, not a mask.
SCAN_LIKE_DISTINCT_VALUES = 64


def _refuse_scan_as_mask(mask: Path, loaded: Any | None = None) -> tuple[int, ...]:
    """``measure`` measures masks: a scan given in their place gets the way to a mask.

    Returns the positive labels of ``loaded`` (empty before it is loaded).
    """
    hint = (
        "tscimg measure takes a mask (a label map, or a DICOM SEG with --image). To measure a "
        "lesion in a scan, segment it first: tscimg segment SCAN -o lesion.nii.gz --point i,j,k, "
        "then tscimg measure lesion.nii.gz"
    )
    from tscimg.io.formats import FileFormat

    if loaded is None:
        try:
            fmt = FileFormat.of(mask) if mask.exists() else None
        except TscimgError:
            return ()
        if fmt is FileFormat.DICOM_FOLDER:  # a series of a scan, or a folder of masks
            raise InputError(
                "this is a folder, not a mask file (a DICOM series folder is a scan)",
                path=mask,
                hint="Pass one mask file: a label map (.nii.gz, .nrrd, .mha), or a DICOM SEG "
                "(.dcm) with --image SCAN. To measure a lesion in a DICOM series, segment it "
                "first: tscimg segment FOLDER -o lesion.nii.gz --point i,j,k",
            )
        if fmt is FileFormat.DICOM_FILE and not _is_dicom_segmentation(mask):
            raise InputError("this is a DICOM image (a scan), not a segmentation", path=mask,
                             hint=hint)  # fmt: skip
        return ()
    import numpy as np

    values = loaded.array_view()
    present = np.unique(values)
    distinct = present.size
    covered = float(np.count_nonzero(values)) / max(values.size, 1)
    if distinct > SCAN_LIKE_DISTINCT_VALUES and covered > 0.5:
        raise InputError(
            f"this looks like a scan, not a mask: {distinct} distinct values, "
            f"{100 * covered:.0f}% of the voxels non-zero (a mask is a label map: 0 = background, "
            "1, 2, ... = lesions)",
            path=mask,
            hint=hint + "; if it really is a label map, pick the lesion with --label N",
        )
    return tuple(int(v) for v in present if v > 0)


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
    series: Annotated[
        str | None,
        typer.Option("--series", help="Series UID of --image, when its folder holds several."),
    ] = None,
    allow_resampling: AllowResamplingOption = False,
    json_output: JsonOption = False,
) -> None:
    """Measure lesions: volumes, surface, diameters, ellipsoid approximation, uncertainty."""
    _refuse_scan_as_mask(mask)
    if series is not None and image is None:
        raise typer.BadParameter("--series picks a series of --image; give --image too",
                                 param_hint="--series")  # fmt: skip
    scan = (
        None
        if image is None
        else load_scan(image, series_uid=series, allow_resampling=allow_resampling)
    )
    # a SEG's segment is read alone and whole: its label map gives voxels two lesions share to
    # one of them (a segment measured from it came out 28% short)
    segment_number = label if label is not None and _is_dicom_segmentation(mask) else None
    loaded = load_mask(mask, reference=scan, segment=segment_number)
    labels = _refuse_scan_as_mask(mask, loaded) if label is None else ()
    parameters = MeasureParameters(
        min_volume_ml=min_volume_ml,
        slice_axis=None if scan is None else acquisition_slices_of(scan),  # DICOM: k
    )
    measured = measure_lesion(loaded, parameters, label)
    result = measured.volumetric
    reference = () if scan is None else scan.warnings  # e.g. --allow-resampling's, pixels
    if result is None:  # a single 2D frame: measured by its area
        notes = [*reference, *loaded.warnings, *measured.warnings, *_union_warning(labels)]
        _measure_planar(mask, image, notes, measured.record, json_output)
        return
    # the labels the figures describe: those left after the size filter
    described = tuple(v for v in labels if v in result.labels_measured)
    warnings = [*reference, *loaded.warnings, *measured.warnings, *_union_warning(described)]
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


def _union_warning(labels: tuple[int, ...]) -> list[str]:
    """Say so when the figures describe several labels together (docs/measurement.md)."""
    if len(labels) < 2:
        return []
    return [
        f"the mask holds labels {', '.join(str(v) for v in labels)}: the figures describe "
        "their union (one diameter may span two lesions); measure one with --label N"
    ]


def _measure_planar(
    mask: Path, image: Path | None, warnings: list[str], lesion: LesionRecord, json_output: bool
) -> None:
    """A single-slice (2D, echo frame) mask: area, diameters and labelled volume estimates."""
    from tscimg.measure import PLANAR_METHODS

    m = lesion.planar
    assert m is not None
    record: dict[str, Any] = {
        "mask": str(mask),
        "image": None if image is None else str(image),
        "planar": True,
        **lesion.to_dict(),
        "methods": PLANAR_METHODS,
        # the scan's too: an uncalibrated frame's sizes are pixels, not mm
        "warnings": warnings,
    }
    if json_output:
        emit_json(record)
        return
    emit_table(
        f"{mask} (2D)",
        {
            "pixel_count": m.pixel_count,
            "area_mm2": f"{m.area_mm2:.1f} +/- {m.area_uncertainty_mm2:.1f}",
            "longest_diameter_mm": f"{m.longest_diameter_mm:.1f}",
            "perpendicular_diameter_mm": f"{m.perpendicular_diameter_mm:.1f}",
            "area_length_volume_ml (estimate)": f"{m.area_length_volume_ml:.3f}",
            "ellipsoid_volume_ml (estimate)": f"{m.ellipsoid_volume_ml:.3f}",
        },
    )
    emit_warnings(warnings)


def _numbers(values: list[str], count: int, option: str) -> list[list[float]]:
    out = []
    for text in values:
        parts = text.replace(";", ",").split(",")
        try:
            numbers = [float(v) for v in parts]
        except ValueError:
            numbers = []
        if len(numbers) != count:
            raise typer.BadParameter(
                f"{text!r}: expected {count} comma-separated numbers", param_hint=option
            )
        out.append(numbers)
    return out


#: The mask files ``segment`` writes (besides ``.dcm``, a DICOM SEG).
MASK_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha")

PointOption = Annotated[list[str], typer.Option(help="i,j,k voxel index (repeatable).")]


@app.command(name="segment")
def segment_command(
    image: Annotated[
        Path, typer.Argument(help="The scan: DICOM folder or file, NIfTI, NRRD, MHA.")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--output", help="Mask to write (.nii.gz, .nrrd, .mha, or .dcm for DICOM SEG)."
        ),
    ],
    point: Annotated[
        list[str], typer.Option("--point", help="Positive point i,j,k (repeatable).")
    ] = [],  # noqa: B006
    negative: Annotated[list[str], typer.Option("--negative", help="Negative point i,j,k.")] = [],  # noqa: B006
    box: Annotated[
        str | None, typer.Option("--box", help="Box i0,j0,k0,i1,j1,k1 (inclusive).")
    ] = None,
    point_lps: Annotated[
        list[str], typer.Option("--point-lps", help="Positive point x,y,z in LPS mm.")
    ] = [],  # noqa: B006
    negative_lps: Annotated[
        list[str], typer.Option("--negative-lps", help="Negative point, LPS mm.")
    ] = [],  # noqa: B006
    box_lps: Annotated[
        str | None, typer.Option("--box-lps", help="Box corners x0,y0,z0,x1,y1,z1, LPS mm.")
    ] = None,
    point_ras: Annotated[
        list[str], typer.Option("--point-ras", help="Positive point x,y,z in RAS mm.")
    ] = [],  # noqa: B006
    negative_ras: Annotated[
        list[str], typer.Option("--negative-ras", help="Negative point, RAS mm.")
    ] = [],  # noqa: B006
    box_ras: Annotated[str | None, typer.Option("--box-ras", help="Box corners, RAS mm.")] = None,
    lesion_type: Annotated[
        str, typer.Option("--lesion-type", help="aml, sega, rhabdomyoma or generic.")
    ] = "generic",
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="Override the preset's algorithm: " + ", ".join(m.value for m in Method) + ".",
        ),
    ] = None,
    series: Annotated[
        str | None, typer.Option("--series", help="Series UID in a multi-series folder.")
    ] = None,
    allow_resampling: AllowResamplingOption = False,
    frame: FrameOption = None,
    json_output: JsonOption = False,
) -> None:
    """Segment one lesion from prompts; the mask is written on IMAGE's grid."""
    try:
        kind = LesionType(lesion_type)
    except ValueError:
        raise typer.BadParameter(
            f"{lesion_type!r} is not one of aml, sega, rhabdomyoma, generic",
            param_hint="--lesion-type",
        ) from None
    if method is not None and method not in {m.value for m in Method}:
        raise typer.BadParameter(f"{method!r} is not a method", param_hint="--method")
    as_seg = str(output).lower().endswith(".dcm")
    if not as_seg and not str(output).lower().endswith(MASK_SUFFIXES):
        raise InputError(
            f"cannot write a mask as {output.name!r}: unknown output format",
            path=output,
            hint="Name the mask .nii.gz, .nii, .nrrd or .mha, or .dcm for a DICOM SEG",
        )
    _require_new_output(output, image)
    scan = load_scan(image, series_uid=series, allow_resampling=allow_resampling, frame=frame)
    if as_seg and scan.series_uid is None:
        raise InputError(
            "a DICOM SEG references its source series, and this scan is not DICOM",
            path=image,
            hint="Write .nii.gz, .nrrd or .mha, or segment the DICOM series itself",
        )
    if as_seg and not scan.frame_of_reference_uid:  # checked before segmenting
        raise InputError(
            "a DICOM SEG is placed through its source's FrameOfReferenceUID, and this scan has "
            "none (an ultrasound cine has no patient coordinates)",
            path=image,
            hint="Write the mask as .nii.gz, .nrrd or .mha",
        )
    prompts = Prompts.from_physical(
        scan.geometry,
        positive_index=_numbers(point, 3, "--point"),
        negative_index=_numbers(negative, 3, "--negative"),
        box_index=_numbers([box], 6, "--box")[0] if box else None,
        positive_lps=_numbers(point_lps, 3, "--point-lps"),
        negative_lps=_numbers(negative_lps, 3, "--negative-lps"),
        box_lps=_numbers([box_lps], 6, "--box-lps")[0] if box_lps else None,
        positive_ras=_numbers(point_ras, 3, "--point-ras"),
        negative_ras=_numbers(negative_ras, 3, "--negative-ras"),
        box_ras=_numbers([box_ras], 6, "--box-ras")[0] if box_ras else None,
        source=str(image),
    )
    result = segment(scan, prompts, kind, method=method)
    if as_seg:
        _write_seg(result.mask, kind, image, scan.series_uid, output)
    else:
        write_volume(result.mask, output)
    volume_ml, unit_note = result.volume_ml, ""
    record: dict[str, Any] = {"volume_method": VolumeMethod.VOXELS_3D.value}
    if scan.is_planar:  # one frame: the volume is an estimate from the area, labelled as such
        planar = measure_lesion(result.mask).record
        assert planar.planar is not None
        volume_ml = planar.volume_ml
        unit_note = f", {planar.planar.area_mm2:.1f} mm2"
        record = {
            "volume_method": planar.volume_method.value,
            "area_mm2": planar.planar.area_mm2,
            "longest_diameter_mm": planar.planar.longest_diameter_mm,
        }
    record = {
        "volume_ml": volume_ml,
        "voxel_count": result.voxel_count,
        "mask": str(output),
        **record,
        **result.provenance(),
        "warnings": [*scan.warnings, *result.warnings],
    }
    if json_output:
        emit_json(record)
    else:
        stdout_console.print(
            f"{output}: {result.voxel_count} voxels, {volume_ml:.3f} mL{unit_note} "
            f"({record['volume_method']}; {result.preset}, {result.parameters.method.value})",
            markup=False,
        )
        emit_warnings(record["warnings"])


def _require_new_output(output: Path, image: Path) -> None:
    """Refuse, before segmenting, an output that cannot be written or would replace the input."""
    require_writable(output)
    if output.exists() and image.exists() and output.resolve() == image.resolve():
        raise InputError(
            "the output would overwrite the image being segmented",
            path=output,
            hint="Give the mask its own file name (-o)",
        )


def _find_samples(explicit: Path | None) -> Path:
    """The bundled sample scans: --samples (only that folder), else ./sample_scans, else the
    source tree's."""
    if explicit is not None:  # never replaced by another folder without a word
        if (explicit / "manifest.csv").is_file():
            return explicit
        raise InputError(
            "--samples: this folder holds no manifest.csv (the sample scans' manifest)",
            path=explicit,
            hint="Pass the sample_scans folder of the tscimg source, or leave out --samples",
        )
    candidates = [
        Path.cwd() / "sample_scans",
        Path(__file__).resolve().parents[1] / "sample_scans",
    ]
    for c in candidates:
        if (c / "manifest.csv").is_file():
            return c
    raise InputError(
        "the bundled sample scans were not found (looked in ./sample_scans and next to the "
        "installed package)",
        path=Path.cwd() / "sample_scans",
        hint="Run tscimg demo from the tscimg source folder, or pass --samples DIR",
    )


def _cluster(
    scheduler: str | None, jobs: int, patients: int
) -> contextlib.AbstractContextManager[Any]:
    """The dask client of the run: the scheduler's, a local cluster for --jobs, or none."""
    if scheduler is None and (jobs <= 1 or patients <= 1):
        return contextlib.nullcontext()
    import distributed  # noqa: F401  (only for runs that use it; sets up its log handlers)

    from tscimg.batch import cluster

    if not os.environ.get("TSCIMG_DEBUG"):
        # Lost workers and schedulers are reported in tscimg's words (a patient's error, or
        # one line and exit 1); distributed's own tracebacks on stderr would only repeat them.
        for name in ("distributed", "tornado"):
            for handler in logging.getLogger(name).handlers:
                handler.setLevel(logging.CRITICAL)

    if scheduler is not None:
        return cluster.scheduler_client(scheduler)
    return cluster.local_client(min(jobs, patients))


def _ctrl_c_deferred(client: Any) -> contextlib.AbstractContextManager[Any]:
    """With a cluster, Ctrl-C is raised where the run waits, not inside dask's client code."""
    if client is None:
        return contextlib.nullcontext()
    from tscimg.batch import cluster

    return cluster.ctrl_c_deferred()


def _announce_cluster(client: Any, scheduler: str | None, progress: BatchProgress) -> None:
    from tscimg.batch import cluster

    where = f"dask scheduler {scheduler}" if scheduler else "a local dask cluster"
    missing = "bokeh on the scheduler's machine" if scheduler else "pip install 'tscimg[dashboard]'"
    link = cluster.dashboard_link(client)
    workers = cluster.worker_count(client)
    progress.note(
        f"running on {where} with {workers} worker(s); dashboard: "
        + (link or f"none (it needs {missing})")
    )
    if workers == 0:  # dask holds the patients until a worker joins: say so, not a silent wait
        progress.note(
            "no worker is connected to the scheduler yet: the patients wait until one joins "
            "(start one with 'dask worker ADDRESS'); Ctrl-C stops the run, and the same command "
            "resumes it"
        )


def _run_track(
    manifest: Path,
    output: Path,
    criteria: str,
    jobs: int,
    resume: bool,
    json_output: bool,
    scheduler: str | None = None,
    treatment: Path | None = None,
    allow_resampling: bool = False,
) -> None:
    from tscimg.batch import TrackParameters, output_folder_lock, track
    from tscimg.io.manifest import read_manifest
    from tscimg.io.treatment import read_treatment
    from tscimg.longitudinal import criteria_named
    from tscimg.report import write_reports
    from tscimg_cli.progress import BatchProgress

    if scheduler is not None and jobs != 1:
        raise typer.BadParameter(
            "--jobs applies to this machine; with --scheduler the cluster's workers set the "
            "parallelism",
            param_hint="--jobs",
        )
    try:
        rules = criteria_named(criteria)
    except InputError as exc:  # a bad option value: a usage error, as --lesion-type's
        raise typer.BadParameter(str(exc), param_hint="--criteria") from None
    read = read_manifest(manifest.absolute())
    courses = None if treatment is None else read_treatment(treatment.absolute(), read)
    bar = not json_output and stderr_console.is_terminal
    with (
        output_folder_lock(output),
        _cluster(scheduler, jobs, len(read.patients)) as client,
        BatchProgress(len(read.patients), stderr_console, bar) as progress,
    ):
        with _ctrl_c_deferred(client):  # the note promises that Ctrl-C stops the run
            if client is not None:
                _announce_cluster(client, scheduler, progress)
            result = track(
                read, output, rules, resume=resume, progress=progress.advance, client=client,
                treatment=courses, parameters=TrackParameters(allow_resampling=allow_resampling),
            )  # fmt: skip
        paths = write_reports(result, output)
    statuses: list[dict[str, Any]] = [
        {"patient_id": p.patient_id, "lesion_type": a.lesion_type.value, "status": a.status.value,
         "best_change_pct": None if a.best_change_pct is None else shown_pct(a.best_change_pct, 2),
         "status_note": a.status_note, "review": list(a.review)}
        for p in result.patients
        for a in p.assessments
    ]  # fmt: skip
    record: dict[str, Any] = {
        "output_dir": str(output),
        "report": str(paths["html"]),
        "report_json": str(paths["json"]),
        "report_csv": str(paths["csv"]),
        "criteria": f"{rules.name} {rules.version}",
        "assessments": statuses,
        "errors": [e.to_dict() for e in result.errors],
        "resumed_patients": result.provenance.get("resumed_patients", []),
    }
    if json_output:
        emit_json(record)
    else:
        for s in statuses:
            change = "-" if s["best_change_pct"] is None else signed_pct(s["best_change_pct"])
            stdout_console.print(
                f"{s['patient_id']} {s['lesion_type']}: {s['status']} (best change {change})"
                + (f"; {s['status_note']}" if s["status_note"] else ""),
                markup=False,
            )
            for reason in s["review"]:
                stdout_console.print(f"  review: {reason}", markup=False)
        for e in result.errors:
            stderr_console.print(
                f"tscimg: error: {e.patient_id}"
                + (f" {e.date}" if e.date else "")
                + f": {e.message}",
                markup=False,
                soft_wrap=True,
            )
        stdout_console.print(f"report: {paths['html']}", markup=False)
        stdout_console.print(tscimg.RESEARCH_USE_DISCLAIMER, style="italic")
    if result.errors:
        raise typer.Exit(ExitCode.PARTIAL_SUCCESS if result.patients else ExitCode.INPUT_ERROR)


CriteriaOption = Annotated[
    str, typer.Option("--criteria", help="Response criteria: tsc (30%) or exist (50%).")
]
JobsOption = Annotated[
    int,
    typer.Option("--jobs", "-j", min=1, help="Patients processed in parallel on this machine."),
]


def _scheduler_address(address: str | None) -> str | None:
    """A malformed --scheduler is a usage error (exit 2), said before anything is read."""
    if address is not None:
        from tscimg.batch.cluster import ClusterError, check_scheduler_address

        try:
            check_scheduler_address(address)
        except ClusterError as exc:
            raise typer.BadParameter(str(exc), param_hint="--scheduler") from None
    return address


SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        callback=_scheduler_address,
        help="Address of a running dask scheduler (tcp://HOST:PORT): its workers process the "
        "patients; they must see the manifest's files and OUTDIR at the same paths "
        "(docs/batch.md).",
    ),
]
TreatmentOption = Annotated[
    Path | None,
    typer.Option(
        "--treatment",
        help="Treatment file (CSV: patient_id,date,event,value; events start, stop, pause, "
        "resume, drug, dose_mg, trough_ng_ml; docs/longitudinal.md).",
    ),
]
ResumeOption = Annotated[
    bool,
    typer.Option(
        "--resume/--no-resume",
        help="Skip patients already finished in OUTDIR whose inputs are unchanged.",
    ),
]


@app.command(name="track")
def track_command(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV (docs/longitudinal.md).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    criteria: CriteriaOption = "tsc",
    jobs: JobsOption = 1,
    scheduler: SchedulerOption = None,
    treatment: TreatmentOption = None,
    resume: ResumeOption = True,
    allow_resampling: AllowResamplingOption = False,
    json_output: JsonOption = False,
) -> None:
    """Track every patient of MANIFEST; write report.json, report.csv, report.html and masks.

    One run at a time per OUTDIR: a second concurrent run is refused (exit 1).
    """
    require_writable(output, folder=True)
    _run_track(
        manifest, output, criteria, jobs, resume, json_output, scheduler, treatment,
        allow_resampling,
    )  # fmt: skip


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")] = Path(
        "tscimg-demo"
    ),
    samples: Annotated[
        Path | None, typer.Option("--samples", help="The sample_scans folder (found by default).")
    ] = None,
    criteria: CriteriaOption = "tsc",
    jobs: JobsOption = 1,
    json_output: JsonOption = False,
) -> None:
    """Run track on the bundled synthetic sample scans and say where the report is."""
    folder = _find_samples(samples)
    require_writable(output, folder=True)
    courses = folder / "treatment.csv"  # the sample patients' drug, doses and trough levels
    _run_track(
        folder / "manifest.csv", output, criteria, jobs, True, json_output,
        treatment=courses if courses.is_file() else None,
    )  # fmt: skip


def _write_seg(
    mask: Any, kind: LesionType, image: Path, series_uid: str | None, output: Path
) -> None:
    from tscimg.io.dicom_output import SegmentSpec, derived_uid, source_datasets, write_dicom_seg

    source = source_datasets(image, series_uid)
    uid = derived_uid("tscimg-segment", str(series_uid), str(output.name))
    spec = SegmentSpec(1, "lesion", kind.value, derived_uid(uid, "tracking"))
    write_dicom_seg(mask, [spec], source, output, derived_uid(uid, "series"), tscimg.__version__)


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point: maps errors to exit codes and one-line messages."""
    args = list(sys.argv[1:] if argv is None else argv)
    notes: list[str] = []
    try:
        # libraries' own warnings are printed as tscimg's, never raw (file, line, source)
        with captured_library_warnings() as notes:
            _dispatch(args)
    finally:
        emit_warnings(notes)


def _refuse_empty_arguments(args: list[str]) -> None:
    """Exit 2 on an empty argument: Typer reads an empty path as '.', the current folder, so
    ``tscimg info "$SCAN"`` with SCAN unset would describe whatever series is there."""
    empty = [n for n, a in enumerate(args, start=1) if not a.strip()]
    if not empty:
        return
    message = (
        f"argument {empty[0]} is empty (after {args[empty[0] - 2]!r})"
        if empty[0] > 1
        else "the first argument is empty"
    ) + ": an unset variable in a script? For the current folder, pass '.'"
    stderr_console.print(f"tscimg: usage error: {message}", markup=False, soft_wrap=True)
    if _wants_json(args):
        emit_json({"error": {"type": "UsageError", "message": message, "file": None}})
    sys.exit(ExitCode.USAGE_ERROR)


def _internal_error(exc: Exception, args: list[str]) -> NoReturn:
    """A bug: say so, ask for a report, exit 4 (TSCIMG_DEBUG=1 shows the traceback)."""
    if os.environ.get("TSCIMG_DEBUG"):
        raise exc
    stderr_console.print(
        f"tscimg: internal error: {type(exc).__name__}: {exc}. Please report it with the "
        "command you ran (set TSCIMG_DEBUG=1 for the traceback).",
        markup=False,
        soft_wrap=True,
    )
    if _wants_json(args):
        emit_json({"error": {"type": "InternalError", "message": str(exc), "file": None}})
    sys.exit(ExitCode.INTERNAL_ERROR)


def _dispatch(args: list[str]) -> None:
    _refuse_empty_arguments(args)
    try:
        # Not standalone: usage errors come here, to be reported on stdout too under --json
        # (a batch script reads stdout as one JSON object whatever went wrong); --help,
        # --version and typer.Exit(code) return their exit code.
        code = app(args=args, prog_name="tscimg", standalone_mode=False)
    except typer.TyperException as exc:  # usage: a bad option, a malformed prompt (exit 2)
        show = getattr(exc, "show", None)
        if callable(show):  # the usage line, the hint and the error, as Typer prints them
            show()
        else:
            stderr_console.print(f"Error: {exc.format_message()}", markup=False)
        if _wants_json(args):
            emit_json({"error": {"type": "UsageError", "message": exc.format_message(),
                                 "file": None}})  # fmt: skip
        sys.exit(int(getattr(exc, "exit_code", ExitCode.USAGE_ERROR)))
    except KeyboardInterrupt:  # Typer turns Ctrl-C into exit code 130; in case it does not
        code = _INTERRUPTED
    except typer.Abort:
        stderr_console.print("Aborted!", markup=False)
        sys.exit(ExitCode.INPUT_ERROR)
    except TscimgError as exc:
        stderr_console.print(f"tscimg: error: {exc}", markup=False, soft_wrap=True)
        if _wants_json(args):
            emit_json(
                {"error": {"type": type(exc).__name__, "message": str(exc), "file": exc.path}}
            )
        sys.exit(ExitCode.INPUT_ERROR)
    except OSError as exc:
        problem = environment_problem(exc)
        if problem is None:
            _internal_error(exc, args)
        stderr_console.print(f"tscimg: error: {problem}", markup=False, soft_wrap=True)
        if _wants_json(args):
            emit_json({"error": {"type": "EnvironmentError", "message": problem,
                                 "file": exc.filename}})  # fmt: skip
        sys.exit(ExitCode.INPUT_ERROR)
    except Exception as exc:
        _internal_error(exc, args)
    if code == _INTERRUPTED:  # Ctrl-C: say what was kept, and exit as interrupted programs do
        message = (
            "interrupted. Files are written whole or not at all; tscimg track keeps every "
            "patient it finished: run the same command again to resume."
        )
        stderr_console.print(f"tscimg: {message}", markup=False, soft_wrap=True)
        if _wants_json(args):  # one JSON object on stdout, whatever went wrong
            emit_json({"error": {"type": "Interrupted", "message": message, "file": None}})
    sys.exit(code if isinstance(code, int) else ExitCode.SUCCESS)


#: The exit code of a program stopped by Ctrl-C (128 + SIGINT), as Typer gives it.
_INTERRUPTED = 130


if __name__ == "__main__":
    run()
