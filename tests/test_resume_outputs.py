"""A resumed patient's saved results are used only while the output files they name are the
ones they were saved with.

The processing is replaced by a fake that writes each visit's "mask" (a text file holding the
manifest's prompt) and measures 10 mL at the first visit and 6 mL at the second (-40%).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tscimg.batch.runner as runner
from tscimg.batch.patient import VisitFailure
from tscimg.core.vocabularies import LesionType
from tscimg.longitudinal import LesionOrigin, LesionVisitResult
from tscimg.measure import LesionRecord

HEADER = "patient_id,date,image,lesion_id,lesion_type,point_index,treatment_start\n"
VOLUMES = {"2024-01-10": 10.0, "2024-07-01": 6.0}


def _manifest(folder: Path, prompt: str) -> Path:
    for date in VOLUMES:
        (folder / f"{date}.nii.gz").write_bytes(date.encode())
    manifest = folder / "manifest.csv"
    manifest.write_text(
        HEADER
        + f"P,2024-01-10,2024-01-10.nii.gz,L1,aml,{prompt},2024-01-15\n"
        + "P,2024-07-01,2024-07-01.nii.gz,L1,aml,,\n"
    )
    return manifest


def _fake_processing(monkeypatch: pytest.MonkeyPatch, stop_after_first: bool = False) -> None:
    """Each visit's mask holds the prompt of the patient's first row; ``stop_after_first``:
    the run stops after writing the first visit's mask (as a run killed there would)."""

    def process(plan: Any, base: Path, masks: Path, *args: Any) -> list[LesionVisitResult]:
        prompt = str(plan.lesions["L1"].visits[0].prompts.positive_index)
        out = []
        for i, date in enumerate(VOLUMES):
            target = masks / "P" / f"{date}_L1.nii.gz"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(prompt)
            if stop_after_first:
                raise VisitFailure(date, "stopped")
            record = LesionRecord.of_figures(VOLUMES[date], 0.1, 20.0)
            origin = LesionOrigin.PROMPT if i == 0 else LesionOrigin.CARRIED
            day = dt.date.fromisoformat(date)
            mask = f"masks/P/{date}_L1.nii.gz"
            lesion = LesionVisitResult("L1", LesionType.AML, day, f"{date}.nii.gz", origin, record)
            out.append(replace(lesion, mask=mask))
        return out

    monkeypatch.setattr(runner, "process_patient", process)


def test_a_mask_rewritten_by_a_stopped_run_is_not_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run on a changed prompt rewrote the first mask, then stopped; back on the first
    prompt, the saved results were resumed although the mask they name now holds the other
    prompt's outline (the state checked only that the file existed)."""
    out = tmp_path / "out"
    manifest = _manifest(tmp_path, "10;10;10")
    _fake_processing(monkeypatch)
    first = runner.track(manifest, out)
    assert first.provenance["resumed_patients"] == []
    mask = out / "masks" / "P" / "2024-01-10_L1.nii.gz"
    assert mask.read_text() == "((10.0, 10.0, 10.0),)"
    again = runner.track(manifest, out)
    assert again.provenance["resumed_patients"] == ["P"]  # unchanged: resumed
    assert again.patients[0].assessments[0].best_change_pct == -40.0
    # the prompt changed; the run stops after the first mask
    _fake_processing(monkeypatch, stop_after_first=True)
    stopped = runner.track(_manifest(tmp_path, "12;12;12"), out)
    assert [e.message for e in stopped.errors] == ["stopped"]
    assert mask.read_text() == "((12.0, 12.0, 12.0),)"
    # back to the first prompt: the saved results no longer describe the mask
    _fake_processing(monkeypatch)
    redone = runner.track(_manifest(tmp_path, "10;10;10"), out)
    assert redone.provenance["resumed_patients"] == []
    assert mask.read_text() == "((10.0, 10.0, 10.0),)"
    assert runner.track(manifest, out).provenance["resumed_patients"] == ["P"]


def test_a_mask_edited_in_place_or_removed_is_recomputed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    manifest = _manifest(tmp_path, "10;10;10")
    _fake_processing(monkeypatch)
    runner.track(manifest, out)
    follow_up = out / "masks" / "P" / "2024-07-01_L1.nii.gz"
    follow_up.write_text("edited in a viewer")
    assert runner.track(manifest, out).provenance["resumed_patients"] == []
    assert follow_up.read_text() == "((10.0, 10.0, 10.0),)"
    follow_up.unlink()
    assert runner.track(manifest, out).provenance["resumed_patients"] == []
    assert runner.track(manifest, out).provenance["resumed_patients"] == ["P"]


def _prompt_processing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first visit measures its prompt's first coordinate in mL, the second 6 mL."""

    def process(plan: Any, *args: Any) -> list[LesionVisitResult]:
        first = plan.lesions["L1"].visits[0].prompts
        prompt = (first.positive_index or first.positive_lps)[0]
        out = []
        for date, volume in (("2024-01-10", prompt[0]), ("2024-07-01", 6.0)):
            record = LesionRecord.of_figures(volume, 0.1, 20.0)
            day = dt.date.fromisoformat(date)
            out.append(
                LesionVisitResult(
                    "L1", LesionType.AML, day, f"{date}.nii.gz", LesionOrigin.PROMPT, record
                )
            )
        return out

    monkeypatch.setattr(runner, "process_patient", process)


def test_a_change_on_the_second_line_of_a_row_or_in_the_header_is_not_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resume key held each row's first line only, and no header: a prompt after a cell
    with a line break ("aml" typed with Alt+Enter in a spreadsheet), or a column renamed from
    point_index to point_lps, left the patient resumed with the old figures."""
    _prompt_processing(monkeypatch)
    manifest = _manifest(tmp_path, "10;10;10")
    out = tmp_path / "out"

    def write(header: str, prompt: str) -> None:
        manifest.write_text(
            header
            + 'P,2024-01-10,2024-01-10.nii.gz,L1,"aml\n",'
            + f"{prompt},2024-01-15\n"
            + "P,2024-07-01,2024-07-01.nii.gz,L1,aml,,\n"
        )

    write(HEADER, "10;10;10")
    first = runner.track(manifest, out)
    assert first.patients[0].assessments[0].best_change_pct == -40.0  # 10 -> 6 mL
    assert runner.track(manifest, out).provenance["resumed_patients"] == ["P"]
    write(HEADER, "20;10;10")  # the prompt, on the row's second line
    again = runner.track(manifest, out)
    assert again.provenance["resumed_patients"] == []
    assert again.patients[0].assessments[0].best_change_pct == -70.0  # 20 -> 6 mL
    write(HEADER.replace("point_index", "point_lps"), "20;10;10")
    renamed = runner.track(manifest, out)
    assert renamed.provenance["resumed_patients"] == []
    assert runner.track(manifest, out).provenance["resumed_patients"] == ["P"]


def test_a_birth_date_dicom_refuses_costs_the_seg_and_sr_only_and_is_never_quoted(
    tmp_path: Path,
) -> None:
    """A source series whose PatientBirthDate is written 1970-02-01 (DICOM's DA is
    YYYYMMDD): highdicom refused to copy it into the SEG, and the patient failed as a whole
    with "internal error: ValueError: Unable to convert '1970-02-01' to 'DA' object", the
    birth date quoted in report.json, report.csv and report.html."""
    from bad_input_corpus import VOLUME_GRID, edit_files, write_series
    from pydicom import config

    from tscimg.report import write_reports

    folder = tmp_path / "series"
    write_series(folder, VOLUME_GRID, seed="birth")

    def malformed(ds: Any) -> None:
        ds.PatientBirthDate = "1970-02-01"

    mode = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE  # written as given
    try:
        edit_files(folder, malformed, None)
    finally:
        config.settings.writing_validation_mode = mode
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "patient_id,date,image,lesion_id,lesion_type,point_lps,treatment_start\n"
        "P,2024-01-10,series,L1,generic,4;-3;6,2024-01-15\n"
    )
    out = tmp_path / "out"
    result = runner.track(manifest, out)
    assert result.errors == ()
    (lesion,) = result.patients[0].lesions
    assert lesion.volume_ml is not None and lesion.mask is not None
    assert lesion.dicom_seg is None and lesion.dicom_sr is None
    assert lesion.warnings[-1].startswith(
        "2024-01-10: no DICOM SEG/SR was written for this visit: they could not be built from "
        "the source series' headers (ValueError; its message is left out"
    )
    write_reports(result, out, pdf=False)
    for name in ("report.json", "report.csv", "report.html"):
        text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", (out / name).read_text())
        assert "1970" not in text and "no DICOM SEG/SR was written" in text, name
    assert not (out / "dicom").exists() or not any((out / "dicom").rglob("*.dcm"))


def test_a_change_to_the_measuring_code_is_not_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tscimg's version stays 0.1.0 between the commits of a checkout: after a fix to the
    segmentation a rerun resumed every patient with the figures of the code before it. A
    change to the reports or the response rules only reassesses."""
    from tscimg.batch import provenance

    package = tmp_path / "package"
    for name in ("segment/graph.py", "report/html.py", "longitudinal/response.py"):
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text("x = 1\n")

    def fingerprint() -> str:
        provenance._code_sha256.cache_clear()  # read once per process otherwise
        return provenance.measuring_code_sha256(package)

    before = fingerprint()
    (package / "report" / "html.py").write_text("x = 2\n")
    (package / "longitudinal" / "response.py").write_text("x = 2\n")
    assert fingerprint() == before
    (package / "segment" / "graph.py").write_text("x = 2\n")
    assert fingerprint() != before

    _fake_processing(monkeypatch)
    manifest = _manifest(tmp_path, "10;10;10")
    out = tmp_path / "out"
    runner.track(manifest, out)
    assert runner.track(manifest, out).provenance["resumed_patients"] == ["P"]
    monkeypatch.setattr(runner, "measuring_code_sha256", lambda: "another commit")
    assert runner.track(manifest, out).provenance["resumed_patients"] == []


def test_an_earlier_report_goes_when_a_patient_is_measured_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun stopped after rewriting a patient's masks left the earlier run's reports, whose
    figures and views no longer matched the masks beside them. A rerun that only resumes
    leaves them until the new ones are written."""
    from tscimg.report import write_reports
    from tscimg.report.writers import REPORT_KINDS

    assert runner.REPORT_FILES == tuple(f"report.{kind}" for kind in REPORT_KINDS)
    _fake_processing(monkeypatch)
    manifest = _manifest(tmp_path, "10;10;10")
    out = tmp_path / "out"
    write_reports(runner.track(manifest, out), out, pdf=False)
    resumed = runner.track(manifest, out)
    assert resumed.provenance["resumed_patients"] == ["P"]
    assert (out / "report.json").exists() and (out / "report.html").exists()
    _fake_processing(monkeypatch, stop_after_first=True)
    stopped = runner.track(_manifest(tmp_path, "12;12;12"), out)
    assert [e.message for e in stopped.errors] == ["stopped"]
    assert not any((out / name).exists() for name in runner.REPORT_FILES)


def test_a_worker_running_other_measuring_code_fails_its_patient_with_both_named() -> None:
    """A worker on another commit of tscimg (the same version, 0.1.0) was taken as running the
    client's software: its patients' figures came from other code, unsaid."""
    ours = runner._software()
    theirs = {**ours, runner.CODE_KEY: "0123456789abcdef" * 4}
    outcome = runner.PatientOutcome([], None, False, theirs)
    error = runner._software_mismatch(outcome, "P")
    assert error is not None and error.patient_id == "P"
    assert error.message == (
        "the worker that processed this patient runs other versions: tscimg measuring code "
        f"0123456789ab (here {ours[runner.CODE_KEY][:12]}); install the same tscimg and "
        "libraries on every worker as on the client"
    )
    assert runner._software_mismatch(runner.PatientOutcome([], None, False, ours), "P") is None


def test_the_resume_hash_covers_every_file_the_loader_reads(tmp_path: Path) -> None:
    """A MetaImage header's detached .raw, and a hidden slice of a DICOM folder, are read by
    the loader but were not in the content hash: a rerun reused the figures of a .raw that had
    changed (-54.5% reported, -37.6% fresh) and of a folder whose hidden slice was cut short
    (a helper's batch audit)."""
    import SimpleITK as sitk

    from tscimg.io.hashing import content_sha256

    image = sitk.GetImageFromArray(np.arange(24, dtype=np.int16).reshape(2, 3, 4))
    header = tmp_path / "scan.mhd"
    sitk.WriteImage(image, str(header))
    raw = tmp_path / "scan.raw"
    assert raw.is_file()
    before = content_sha256(header)
    raw.write_bytes(raw.read_bytes()[::-1])
    assert content_sha256(header) != before
    folder = tmp_path / "dicom"
    folder.mkdir()
    (folder / "IM0001.dcm").write_bytes(b"slice one")
    (folder / ".IM0002.dcm").write_bytes(b"hidden slice")
    before = content_sha256(folder)
    (folder / ".IM0002.dcm").write_bytes(b"hidden")
    assert content_sha256(folder) != before


def test_a_full_disk_is_said_as_such_not_as_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full output disk read "internal error: OSError: [Errno 28] No space left on device",
    naming no file (a helper's batch audit): it names the file and what to do now."""
    import errno

    target = tmp_path / "out" / "masks" / "P" / "2024-01-10_L1.nii.gz"

    def full(*args: Any) -> list[LesionVisitResult]:
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(runner, "process_patient", full)
    result = runner.track(_manifest(tmp_path, "10;10;10"), tmp_path / "out")
    (error,) = result.errors
    assert (
        error.message == f"{target}: no space left on the device; free space there, or "
        "choose another folder"
    )


def test_work_of_a_stopped_run_or_of_other_software_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A patient left running on a cluster worker after its run was killed wrote its masks
    over the next run's (a report of 6.01 mL beside a mask of 12.13 mL); a worker running
    other code overwrote a finished patient before the client refused its results. Both now
    write nothing: the work checks the folder's lock still holds its run, and the software
    before it starts (a helper's batch audit)."""
    from tscimg.batch.run_lock import output_folder_lock

    out = tmp_path / "out"
    _fake_processing(monkeypatch)
    read = runner._absolute(_manifest(tmp_path, "10;10;10"))
    with output_folder_lock(out):
        (job,) = runner._jobs(read, out, runner.TrackParameters(), True)
        assert job.run_token is not None
        stale = runner.run_patient(replace(job, run_token="a stopped run's token"))
        assert (
            stale.error is not None and "no longer holds the output folder" in stale.error.message
        )
        other = runner.run_patient(replace(job, client_software={"tscimg": "other"}))
        assert other.error is not None and other.lesions is None
        assert not (out / "masks").exists()
        assert runner.run_patient(job).error is None
        assert (out / "masks" / "P" / "2024-01-10_L1.nii.gz").is_file()


def test_results_whose_outputs_are_not_here_fail_their_patient(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that saw OUTDIR on its own disk: the run exited 0 with a report naming masks
    that did not exist on this machine. The patient fails, saying why."""
    _fake_processing(monkeypatch)
    original = runner.process_patient

    def elsewhere(plan: Any, base: Path, masks: Path, *args: Any) -> list[LesionVisitResult]:
        lesions = original(plan, base, masks, *args)
        for f in masks.rglob("*.nii.gz"):
            f.unlink()  # as if written on the worker's own disk
        return lesions

    monkeypatch.setattr(runner, "_output_hashes", lambda lesions, out: {})
    monkeypatch.setattr(runner, "process_patient", elsewhere)
    result = runner.track(_manifest(tmp_path, "10;10;10"), tmp_path / "out")
    (error,) = result.errors
    assert "the outputs of this patient are not in" in error.message
    assert "masks/P/2024-01-10_L1.nii.gz" in error.message


def _visit_processing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each visit of the plan writes its mask and a DICOM SEG (text files) and measures 10 mL,
    then 6 mL at every later visit."""

    def process(plan: Any, base: Path, masks: Path, *args: Any) -> list[LesionVisitResult]:
        out = []
        for i, visit in enumerate(plan.lesions["L1"].visits):
            date = visit.date.isoformat()
            mask, seg = f"masks/P/{date}_L1.nii.gz", f"dicom/P/{date}_dicom/seg.dcm"
            for name in (mask, seg):
                (masks.parent / name).parent.mkdir(parents=True, exist_ok=True)
                (masks.parent / name).write_text(f"{name} of this run")
            record = LesionRecord.of_figures(10.0 if i == 0 else 6.0, 0.1, 20.0)
            origin = LesionOrigin.PROMPT if i == 0 else LesionOrigin.CARRIED
            lesion = LesionVisitResult(
                "L1", LesionType.AML, visit.date, f"{date}.nii.gz", origin, record
            )
            out.append(replace(lesion, mask=mask, dicom_seg=seg))
        return out

    monkeypatch.setattr(runner, "process_patient", process)


def test_outputs_of_a_visit_taken_out_of_the_manifest_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A visit taken out of the manifest kept its mask and SEG in the patient's output folders
    (and a killed write its hidden temporary file): files no report names, which a reader
    browsing OUTDIR took for this run's. What an earlier run wrote and this one no longer
    names is removed; a file of the reader's own (a corrected mask saved beside the outputs),
    a file edited since it was written, and another patient's folders are left alone."""
    out = tmp_path / "out"
    dates = ("2024-01-10", "2024-07-01", "2025-01-05")
    for date in dates:
        (tmp_path / f"{date}.nii.gz").write_bytes(date.encode())
    rows = [
        f"P,{d},{d}.nii.gz,L1,aml,{'10;10;10' if d == dates[0] else ''},2024-01-15\n" for d in dates
    ]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(HEADER + "".join(rows))
    _visit_processing(monkeypatch)
    runner.track(manifest, out)
    gone = [
        out / "masks" / "P" / "2025-01-05_L1.nii.gz",
        out / "dicom" / "P" / "2025-01-05_dicom" / "seg.dcm",
    ]
    temporaries = [
        out / "masks" / "P" / ".2024-07-01_L1.nii.gz.k2j3h4ab.nii.gz",  # a killed write's
        out / ".report.json.a1b2c3d4.json",  # a killed report's
    ]
    readers = [
        out / "masks" / "P" / "2024-07-01_L1_corrected.nii.gz",  # the reader's own
        out / "masks" / "P" / ".2024-07-01_L1.nii.gz.swp",  # an editor's, not tscimg's
        out / ".report.json.swp",
        out / "masks" / "Q" / "2024-01-10_L1.nii.gz",  # another manifest's patient
    ]
    for path in temporaries + readers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not this run's")
    assert all(path.exists() for path in gone)
    manifest.write_text(HEADER + "".join(rows[:2]))  # the last visit taken out
    result = runner.track(manifest, out)
    assert result.provenance["resumed_patients"] == []  # its manifest rows changed
    assert not any(path.exists() for path in gone + temporaries)
    assert not (out / "dicom" / "P" / "2025-01-05_dicom").exists()
    assert all(path.read_text() == "not this run's" for path in readers)
    assert result.provenance["removed_outputs"] == sorted(
        [*(p.relative_to(out).as_posix() for p in gone + temporaries[:1]), temporaries[1].name]
    )
    named = sorted(lv.mask for p in result.patients for lv in p.lesions if lv.mask)
    assert named == ["masks/P/2024-01-10_L1.nii.gz", "masks/P/2024-07-01_L1.nii.gz"]
    # a file edited since tscimg wrote it is the reader's: the next change leaves it
    edited = out / "masks" / "P" / "2024-07-01_L1.nii.gz"
    edited.write_text("edited in a viewer")
    manifest.write_text(HEADER + rows[0])
    again = runner.track(manifest, out)
    assert edited.read_text() == "edited in a viewer"
    assert again.provenance["removed_outputs"] == ["dicom/P/2024-07-01_dicom/seg.dcm"]


def test_stale_outputs_are_compared_as_files_not_as_path_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second reader's cases: an OUTDIR given as ../out removed nothing (its folders kept
    '..', the candidates did not), and a mask the manifest names through a link to OUTDIR was
    removed as stale (the next run then failed on the missing input)."""
    dates = ("2024-01-10", "2024-07-01")
    for date in dates:
        (tmp_path / f"{date}.nii.gz").write_bytes(date.encode())

    def manifest(lesion: str, mask: str = "") -> Path:
        path = tmp_path / "manifest.csv"
        prompt = "" if mask else "10;10;10"
        path.write_text(
            "patient_id,date,image,lesion_id,lesion_type,point_index,mask,treatment_start\n"
            f"P,{dates[0]},{dates[0]}.nii.gz,{lesion},aml,{prompt},{mask},2024-01-15\n"
            f"P,{dates[1]},{dates[1]}.nii.gz,{lesion},aml,,,\n"
        )
        return path

    def process(plan: Any, base: Path, masks: Path, *args: Any) -> list[LesionVisitResult]:
        out = []
        for lesion_id, lesion in plan.lesions.items():
            for i, visit in enumerate(lesion.visits):
                name = f"{visit.date.isoformat()}_{lesion_id}.nii.gz"
                (masks / "P").mkdir(parents=True, exist_ok=True)
                (masks / "P" / name).write_text(f"{name} of this run")
                result = LesionVisitResult(
                    lesion_id, LesionType.AML, visit.date, "x.nii.gz",
                    LesionOrigin.PROMPT if i == 0 else LesionOrigin.CARRIED,
                    LesionRecord.of_figures(10.0 - 4 * i, 0.1, 20.0),
                )  # fmt: skip
                out.append(replace(result, mask=f"masks/P/{name}"))
        return out

    monkeypatch.setattr(runner, "process_patient", process)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    runner.track(manifest("L1"), "../out")
    stale = tmp_path / "out" / "masks" / "P" / "2024-07-01_L1.nii.gz"
    renamed = runner.track(manifest("L2"), "../out")  # the lesion renamed: L1's masks are stale
    assert not stale.exists()
    assert "masks/P/2024-07-01_L1.nii.gz" in renamed.provenance["removed_outputs"]
    accepted = tmp_path / "out" / "masks" / "P" / "2024-01-10_L2.nii.gz"
    (tmp_path / "results").symlink_to(tmp_path / "out")  # the reader's link to OUTDIR
    runner.track(manifest("L3", mask="results/masks/P/2024-01-10_L2.nii.gz"), "../out")
    assert accepted.exists()  # the manifest's input, named through the link, stays
