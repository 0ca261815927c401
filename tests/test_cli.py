"""The `tscimg` command: JSON contract of `info`, exit codes, one-line errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from builders import SAMPLE_SCANS, centred_geometry, run_tscimg
from conftest import SeriesWriter

INFO_KEYS = {
    "size",
    "spacing_mm",
    "origin_lps",
    "direction",
    "modality",
    "acquisition_date",
    "series_uid",
    "warnings",
}


def test_info_json_matches_the_contract_and_simpleitk(write_series: SeriesWriter) -> None:
    grid = centred_geometry((40, 36, 12), (0.7, 0.7, 5.0))
    _, folder = write_series(grid)
    result = run_tscimg("info", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert INFO_KEYS <= record.keys()
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    ref = reader.Execute()
    assert record["size"] == list(ref.GetSize())
    assert np.allclose(record["spacing_mm"], ref.GetSpacing(), atol=1e-4)
    assert np.allclose(record["origin_lps"], ref.GetOrigin(), atol=1e-4)
    assert np.allclose(record["direction"], ref.GetDirection(), atol=1e-4)
    assert len(record["direction"]) == 9
    assert record["modality"] == "CT"
    assert record["acquisition_date"] == "2000-01-01"
    assert record["warnings"] == []


def test_info_on_sample_nifti_and_human_output() -> None:
    path = SAMPLE_SCANS / "TSC-003" / "2024-04-28" / "echo3d.nii.gz"
    result = run_tscimg("info", str(path))
    assert result.returncode == 0
    assert "spacing_mm" in result.stdout and "0.6" in result.stdout


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "absent.nii.gz", "no such file or folder"),
        (
            lambda d: (d / "bad.nii.gz").write_bytes(b"\x00" * 400) and d / "bad.nii.gz",
            "not a readable NIfTI file",
        ),
        (lambda d: (d / "x.txt").write_text("?") and d / "x.txt", "unrecognised image format"),
        (lambda d: d, "no DICOM image files found"),
    ],
    ids=["missing", "corrupt-nifti", "unknown-format", "empty-folder"],
)
def test_bad_input_is_one_line_naming_the_file_with_exit_1(tmp_path: Path, make, expected) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    result = run_tscimg("info", str(path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_slice_via_cli_is_exit_1_and_json_error(write_series: SeriesWriter) -> None:
    _, folder = write_series(centred_geometry((20, 20, 10), (1.0, 1.0, 3.0)))
    (folder / "IM0004.dcm").unlink()
    result = run_tscimg("info", str(folder), "--json")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "DicomSeriesError" and error["file"] == str(folder)
    assert "1 slice missing" in error["message"]
    fixed = run_tscimg("info", str(folder), "--json", "--allow-resampling")
    assert fixed.returncode == 0
    assert json.loads(fixed.stdout)["size"] == [20, 20, 10]


def test_usage_errors_exit_2() -> None:
    assert run_tscimg("info").returncode == 2
    assert run_tscimg("info", "x", "--no-such-flag").returncode == 2
    assert run_tscimg("no-such-command").returncode == 2


def test_usage_errors_under_json_still_print_one_json_object() -> None:
    # Before: stdout was empty (Typer printed the usage error on stderr only), so a batch
    # script's json.loads(stdout) failed on a malformed prompt.
    ct = SAMPLE_SCANS / "TSC-001" / "2024-01-10" / "ct.nii.gz"
    result = run_tscimg("segment", str(ct), "-o", "never.nii.gz", "--point", "1,2", "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "UsageError" and error["file"] is None
    assert error["message"] == (
        "Invalid value for --point: '1,2': expected 3 comma-separated numbers"
    )
    assert "Try 'tscimg segment --help' for help." in result.stderr


def test_paths_and_warnings_with_brackets_are_printed_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "CT [arterial]" printed as "CT " (read as rich markup) and "[/old]" made every
    # human-readable command fail with an internal error (MarkupError), exit 4.
    import subprocess
    import sys

    from tscimg import Geometry, Mask, write_volume
    from tscimg_cli.output import emit_warnings

    folder = tmp_path / "CT [arterial] [/old]"
    grid = Geometry((8, 8, 4), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    write_volume(Mask.from_array(np.ones((4, 8, 8), np.uint8), grid), folder / "ct.nii.gz")
    result = subprocess.run(
        [sys.executable, "-m", "tscimg_cli.main", "info", "CT [arterial] [/old]/ct.nii.gz"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].strip() == "CT [arterial] [/old]/ct.nii.gz"
    emit_warnings(["IM0003.dcm in CT [arterial] [/old] :cat: left out"])
    assert capsys.readouterr().err == "warning: IM0003.dcm in CT [arterial] [/old] :cat: left out\n"


def test_an_empty_argument_is_a_usage_error_not_the_current_folder() -> None:
    # Before: tscimg info "" described the series in the current folder (Typer reads "" as .).
    result = run_tscimg("info", "", "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "UsageError"
    assert error["message"].startswith("argument 2 is empty (after 'info')")


def test_version_and_help_mention_research_use() -> None:
    assert run_tscimg("--version").stdout.startswith("tscimg ")
    assert "not a medical device" in run_tscimg("--help").stdout


def test_command_line_start_up_leaves_heavy_libraries_to_the_commands_that_use_them() -> None:
    """Every call of a batch script pays the import of the command line (issue 18): libraries
    that only segmentation, reports, DICOM SEG or clusters need load where they are used
    (``benchmarks/cli_startup.py`` measures the time)."""
    import subprocess
    import sys

    heavy = (
        "sklearn",
        "matplotlib",
        "weasyprint",
        "highdicom",
        "distributed",
        "jinja2",
        "skimage.segmentation",
        "scipy.spatial",
        "scipy.sparse.linalg",
    )
    code = f"import sys, tscimg_cli.main\nprint(','.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_segment_and_measure_take_allow_resampling_as_the_gap_error_says(
    write_series: SeriesWriter, tmp_path: Path
) -> None:
    # Before: the gap error said "allow resampling (--allow-resampling ...)", and segment and
    # measure answered "No such option: --allow-resampling" (exit 2).
    from typer.testing import CliRunner

    from tscimg import Mask, load_scan, write_volume
    from tscimg_cli.main import app

    _, folder = write_series(centred_geometry((24, 24, 9), (1.0, 1.0, 3.0)))
    sorted(folder.iterdir())[6].unlink()
    out = tmp_path / "lesion.nii.gz"
    runner = CliRunner()
    made = runner.invoke(app, ["segment", str(folder), "-o", str(out), "--point-lps", "4,-3,6",
                               "--allow-resampling", "--json"])  # fmt: skip
    assert made.exit_code == 0, made.output
    assert any("1 slice missing" in w for w in json.loads(made.stdout)["warnings"])
    grid = load_scan(folder, allow_resampling=True).geometry
    assert grid.size == (24, 24, 9)
    box = np.zeros((9, 24, 24), np.uint8)
    box[2:7, 5:15, 5:15] = 1  # 500 voxels of 3 mm3: 1.5 mL
    write_volume(Mask.from_array(box, grid), out)
    measured = runner.invoke(app, ["measure", str(out), "--image", str(folder),
                                   "--allow-resampling", "--json"])  # fmt: skip
    assert measured.exit_code == 0, measured.output
    record = json.loads(measured.stdout)
    assert record["voxel_count"] == 500 and record["volume_ml"] == pytest.approx(1.5)
    assert any("1 slice missing" in w for w in record["warnings"])


def test_track_takes_allow_resampling_as_the_gap_error_says(tmp_path: Path) -> None:
    """A follow-up series with a slice missing failed its patient with "allow resampling
    (--allow-resampling ...)", an option `tscimg track` did not have."""
    import shutil

    from typer.testing import CliRunner

    from tscimg.batch import track
    from tscimg_cli.main import app

    for date in ("2024-02-20", "2024-09-02"):
        shutil.copytree(SAMPLE_SCANS / "TSC-002" / date, tmp_path / date)
    (tmp_path / "2024-09-02" / "dicom" / "IM0010.dcm").unlink()  # the 10th of 50 slices
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "patient_id,date,image,lesion_id,lesion_type,point_lps,treatment_start\n"
        "P,2024-02-20,2024-02-20/dicom,L1,sega,-6;-14;0,2024-03-01\n"
        "P,2024-09-02,2024-09-02/dicom,L1,sega,,\n"
    )
    (failed,) = track(manifest).errors
    assert "1 slice missing" in failed.message and "--allow-resampling" in failed.message
    ran = CliRunner().invoke(
        app, ["track", str(manifest), "-o", str(tmp_path / "out"), "--allow-resampling", "--json"]
    )
    assert ran.exit_code == 0, ran.output
    (assessment,) = json.loads(ran.stdout)["assessments"]
    assert assessment["status"] == "too_early"  # 6 months on treatment
    rows = (tmp_path / "out" / "report.csv").read_text()
    assert "1 slice missing" in rows


def test_ctrl_c_says_what_was_kept_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during tscimg track ended silently (or with Typer's bare "Aborted!", exit 1, an
    input error's code)."""
    import tscimg_cli.main as cli_main

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    import io

    from rich.console import Console

    printed = io.StringIO()
    monkeypatch.setattr(cli_main, "stderr_console", Console(file=printed, width=200))
    monkeypatch.setattr(cli_main, "_run_track", interrupted)
    with pytest.raises(SystemExit) as info:
        cli_main._dispatch(
            ["track", str(SAMPLE_SCANS / "manifest.csv"), "-o", str(tmp_path / "out")]
        )
    assert info.value.code == 130
    err = printed.getvalue()
    assert "tscimg: interrupted" in err and "run the same command again to resume" in err


def test_ctrl_c_under_json_still_prints_one_json_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """DESIGN.md section 4: every command with --json prints one JSON object on stdout;
    Ctrl-C printed nothing there (a script reading stdout failed to parse it)."""
    import tscimg_cli.main as cli_main

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "_run_track", interrupted)
    with pytest.raises(SystemExit) as info:
        cli_main._dispatch(
            ["track", str(SAMPLE_SCANS / "manifest.csv"), "-o", str(tmp_path / "out"), "--json"]
        )
    assert info.value.code == 130
    printed = json.loads(capsys.readouterr().out)
    assert printed["error"]["type"] == "Interrupted"
    assert "run the same command again to resume" in printed["error"]["message"]


def test_an_unknown_criteria_is_a_usage_error_before_any_work(tmp_path: Path) -> None:
    """DESIGN.md section 4: exit 2 for a usage error, as --lesion-type foo and --jobs 0 are;
    --criteria foo exited 1 (an input error). Nothing is created."""
    out = tmp_path / "out"
    manifest = str(SAMPLE_SCANS / "manifest.csv")
    for args in (["track", manifest, "-o", str(out)], ["demo", "-o", str(out)]):
        result = run_tscimg(*args, "--criteria", "foo")
        assert result.returncode == 2, result.stderr
        assert "unknown response criteria 'foo'" in result.stderr
        assert "exist, tsc" in result.stderr
    assert not out.exists()


def test_measure_takes_series_for_an_image_folder_of_several(tmp_path: Path) -> None:
    """A SEG of one series of a two-series folder: measure --image FOLDER said "Choose one
    with --series UID", and measure had no --series (exit 2). It has now."""
    import shutil

    import pydicom

    both = tmp_path / "both"
    both.mkdir()
    for n, folder in enumerate(("TSC-001/2024-01-10/dicom", "TSC-002/2024-02-20/dicom")):
        for f in sorted((SAMPLE_SCANS / folder).iterdir()):
            shutil.copy(f, both / f"s{n}_{f.name}")
    uid = str(pydicom.dcmread(next((SAMPLE_SCANS / "TSC-002/2024-02-20/dicom").iterdir()))
              .SeriesInstanceUID)  # fmt: skip
    seg = tmp_path / "lesion.dcm"
    made = run_tscimg("segment", str(both), "--series", uid, "-o", str(seg),
                      "--point-lps=-6,-14,0", "--lesion-type", "sega")  # fmt: skip
    assert made.returncode == 0, made.stderr
    refused = run_tscimg("measure", str(seg), "--image", str(both), "--json")
    assert refused.returncode == 1 and "--series" in refused.stderr
    measured = run_tscimg("measure", str(seg), "--image", str(both), "--series", uid, "--json")
    assert measured.returncode == 0, measured.stderr
    assert json.loads(measured.stdout)["volume_ml"] > 0
