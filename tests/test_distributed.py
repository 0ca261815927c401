"""`track` on dask.distributed (issue 15): the same report as a serial run with --jobs 2 (a
LocalCluster of two worker processes) and with --scheduler / ``client=`` on a scheduler and
workers started from the command line; a worker killed mid-patient and a client killed mid-run
lose nothing; one run per output folder.

The cohort is the smallest that shows each point: TSC-002 (three MR DICOM visits: masks, DICOM
SEG and SR written by the workers), TSC-004 (a 2D echo cine, fast) and BAD-1 (an unreadable
scan: fails alone, exit 3). The serial run is the reference, computed once per module, and so
is the command-line cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import distributed_hooks
import psutil
import pydicom
import pytest
from builders import SAMPLE_SCANS, run_tscimg
from distributed import Client

import tscimg
from tscimg.batch import OutputFolderLockedError, output_folder_lock
from tscimg.batch.cluster import ClusterError, scheduler_client
from tscimg.batch.run_lock import LOCK_NAME, LockHolder, _break_stale, holder_is_gone
from tscimg.batch.runner import track
from tscimg.longitudinal.results import CohortResult
from tscimg.report import write_reports

cloudpickle.register_pickle_by_value(distributed_hooks)  # workers need not import the tests

PATIENTS = ("TSC-002", "TSC-004")
PAUSED = "TSC-002"  # three visits: paused after its first mask, two visits still to do
#: Inherently per-run, and so left out of the comparison (docs/batch.md).
PER_RUN = ("resumed_patients",)
#: Written anew by every DICOM write, serial or not: when, and highdicom's random UID for the
#: SEG's dimension organisation.
DICOM_PER_WRITE = (
    "InstanceCreationDate", "InstanceCreationTime", "ContentDate", "ContentTime",
    "ContributionDateTime", "DimensionOrganizationUID",
)  # fmt: skip


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest of TSC-002, TSC-004 and a patient whose scan is unreadable."""
    folder = tmp_path_factory.mktemp("cohort")
    lines = (SAMPLE_SCANS / "manifest.csv").read_text().splitlines()
    rows = [lines[0]] + [r for r in lines[1:] if r.split(",")[0] in PATIENTS]
    for patient in PATIENTS:
        shutil.copytree(SAMPLE_SCANS / patient, folder / patient)
    (folder / "BAD-1").mkdir()
    (folder / "BAD-1" / "scan.nii.gz").write_bytes(b"this is not a NIfTI file")
    rows.append("BAD-1,2024-01-01,BAD-1/scan.nii.gz,L1,aml,,1;2;3,,,,,,,,2024-01-02,,")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder / "manifest.csv"


def _track(cohort: Path, out: Path, **options: Any) -> CohortResult:
    """``tscimg.track`` less the PDF (the comparisons read report.json and report.csv)."""
    with output_folder_lock(out):
        result = track(cohort, out, **options)
        write_reports(result, out, pdf=False)
    return result


@pytest.fixture(scope="module")
def serial(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the same cohort, one patient after the other in this process."""
    out = tmp_path_factory.mktemp("serial")
    result = _track(cohort, out)
    assert [p.patient_id for p in result.patients] == list(PATIENTS)
    assert [e.patient_id for e in result.errors] == ["BAD-1"]
    return out


def _report(out: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    for key in PER_RUN:
        report["provenance"].pop(key)
    return report


def _without_per_write(ds: pydicom.Dataset) -> pydicom.Dataset:
    for keyword in DICOM_PER_WRITE:
        if keyword in ds:
            delattr(ds, keyword)
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                _without_per_write(item)
    return ds


def _dicom(path: Path) -> pydicom.Dataset:
    return _without_per_write(pydicom.dcmread(path))


def _files(out: Path, folder: str) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in (out / folder).rglob("*") if p.is_file())


def assert_same_outputs(out: Path, reference: Path) -> None:
    """Report, CSV and masks identical to the reference; DICOM but for what each write renews."""
    assert _report(out) == _report(reference)
    assert (out / "report.csv").read_bytes() == (reference / "report.csv").read_bytes()
    masks = _files(reference, "masks")
    assert len(masks) == 6 and _files(out, "masks") == masks
    for name in masks:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    dicom = _files(reference, "dicom")
    assert len(dicom) == 6 and _files(out, "dicom") == dicom  # SEG + SR per TSC-002 visit
    for name in dicom:
        assert _dicom(out / name) == _dicom(reference / name), name
    assert not (out / LOCK_NAME).exists()


def test_jobs_2_runs_a_local_cluster_with_the_serial_report_progress_lines_and_resume(
    cohort: Path, serial: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_tscimg("track", str(cohort), "-o", str(out), "--jobs", "2", "--json")
    assert result.returncode == 3, result.stderr  # BAD-1 failed, the others completed
    assert_same_outputs(out, serial)
    lines = result.stderr.splitlines()
    assert "tscimg: running on a local dask cluster with 2 worker(s)" in lines[0]
    progress = [line for line in lines if " patients, " in line]
    assert len(progress) == 3  # one quiet line per patient (stderr is not a terminal)
    assert progress[-1].startswith("tscimg: 3/3 patients, 1 failed, elapsed ")
    # what the workers saved resumes here
    rerun = _track(cohort, out)
    assert rerun.provenance["resumed_patients"] == list(PATIENTS)
    assert_same_outputs(out, serial)


@pytest.fixture(scope="module")
def cli_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Client]]:
    """`dask scheduler` and `dask worker --nworkers 2` started as a user would, on loopback."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    log = (folder / "dask.log").open("w")
    dask = [sys.executable, "-m", "dask"]
    processes = [
        subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file)],
            stdout=log, stderr=log,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        processes.append(
            subprocess.Popen(
                [*dask, "worker", address, "--nworkers", "2", "--nthreads", "1",
                 "--host", "127.0.0.1", "--no-dashboard"],
                stdout=log, stderr=log,
            )
        )  # fmt: skip
        with Client(address) as client:
            client.wait_for_workers(2, timeout=90)
            yield address, client
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def _pause_on_workers(client: Client, marker: Path) -> None:
    client.wait_for_workers(2, timeout=90)  # a killed worker's nanny has restarted it
    client.run(distributed_hooks.pause_after_first_mask, PAUSED, str(marker))


def _wait_for(path: Path, process: subprocess.Popen[str], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def _sigint_as_at_a_terminal() -> None:
    """In the child: Ctrl-C's default disposition. A shell without job control starts its
    background commands with SIGINT ignored, and a child inherits that: the test suite run
    with ``&`` (CI in the background) sent its SIGINT to a run that ignored it, which waited
    for workers until the test's 60 s ran out (3 of 3 such runs)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _track_in_background(address: str, cohort: Path, out: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tscimg_cli.main", "track", str(cohort), "-o", str(out)]
    return subprocess.Popen(
        [*command, "--scheduler", address, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_as_at_a_terminal,
    )


def _paused_run(
    client: Client, address: str, cohort: Path, tmp_path: Path
) -> tuple[Path, subprocess.Popen[str], Path]:
    """A ``track --scheduler`` run whose paused patient's worker has written its first mask
    and wrote its pid into the returned marker: the output folder, the run, the marker."""
    marker = tmp_path / "paused"
    _pause_on_workers(client, marker)
    out = tmp_path / "out"
    run = _track_in_background(address, cohort, out)
    _wait_for(marker, run)
    return out, run, marker


def test_scheduler_from_the_command_line_survives_a_worker_killed_mid_patient(
    cohort: Path, serial: Path, cli_cluster: tuple[str, Client], tmp_path: Path
) -> None:
    address, client = cli_cluster
    out, run, marker = _paused_run(client, address, cohort, tmp_path)
    pid = int(marker.read_text())
    # mid-patient: its first visit's mask is written, its results are not
    assert len(list((out / "masks" / PAUSED).iterdir())) == 1
    assert not (out / ".tscimg-state" / f"{PAUSED}.json").exists()
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 3, stderr
    assert not psutil.pid_exists(pid)
    summary = json.loads(stdout)
    assert [e["patient_id"] for e in summary["errors"]] == ["BAD-1"]
    assert f"running on dask scheduler {address} with 2 worker(s)" in stderr
    assert_same_outputs(out, serial)


def test_an_interrupted_client_resumes_from_what_the_workers_finished(
    cohort: Path, serial: Path, cli_cluster: tuple[str, Client], tmp_path: Path
) -> None:
    address, client = cli_cluster
    out, run, marker = _paused_run(client, address, cohort, tmp_path)  # TSC-002 in progress
    _wait_for(out / ".tscimg-state" / "TSC-004.json", run)  # TSC-004 finished by a worker
    run.kill()  # the client dies: its lock stays behind, naming a process that is gone
    run.communicate()
    holder = json.loads((out / LOCK_NAME).read_text())
    assert holder["pid"] == run.pid
    # the scheduler drops the dead client's patients; then the paused worker is ended (were it
    # ended first, its patient could be given to the other worker and finish before the rerun)
    deadline = time.monotonic() + 60
    while client.run_on_scheduler(distributed_hooks.patient_tasks):
        assert time.monotonic() < deadline, "the scheduler kept the dead client's patients"
        time.sleep(0.1)
    os.kill(int(marker.read_text()), signal.SIGKILL)
    rerun = _track(cohort, out, client=client)  # the stale lock is taken over
    assert rerun.provenance["resumed_patients"] == ["TSC-004"]
    assert_same_outputs(out, serial)


def test_a_second_run_into_the_same_folder_is_refused(cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output_folder_lock(out) as lock:
        holder = json.loads(lock.read_text())
        refused = run_tscimg("track", str(cohort), "-o", str(out), "--jobs", "2")
        assert refused.returncode == 1, refused.stderr
        message = refused.stderr.strip()
        assert message.startswith(f"tscimg: error: {out}: another tscimg track run")
        assert f"process {os.getpid()} on host {socket.gethostname()}" in message
        assert holder["started"] in message and "Traceback" not in message
        # in Python too, from another thread of this process
        errors: list[BaseException] = []
        thread = threading.Thread(target=_track_catching, args=(cohort, out, errors))
        thread.start()
        thread.join()
        assert len(errors) == 1 and isinstance(errors[0], OutputFolderLockedError)
    assert not lock.exists()
    assert not (out / "report.json").exists()


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    with (
        pytest.raises(ClusterError, match=f"cannot reach a dask scheduler at {address}"),
        scheduler_client(address, timeout_s=1.0),
    ):
        pass


def _track_catching(cohort: Path, out: Path, errors: list[BaseException]) -> None:
    try:
        tscimg.track(cohort, out)
    except BaseException as exc:
        errors.append(exc)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _lock_record(out: Path, **changes: Any) -> LockHolder:
    me = psutil.Process()
    record = {
        "pid": me.pid, "host": socket.gethostname(), "process_started": me.create_time(),
        "started": "2025-01-01T00:00:00+00:00", "command": "tscimg track m.csv -o out",
        "token": "0" * 32, **changes,
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / LOCK_NAME).write_text(json.dumps(record))
    return LockHolder(**record)


@pytest.mark.parametrize(
    ("changes", "gone"),
    [
        ({}, False),  # this very process: alive
        ({"pid": -1}, True),  # replaced below by a pid that has exited
        ({"process_started": 1.0}, True),  # the pid is alive but was reused by another process
        ({"host": "another-node"}, False),  # another host: cannot be checked, never taken over
        # a container sharing the host's name: its pid 1 is another process here (a helper's
        # batch audit: its live lock was taken over as stale)
        ({"pid": 1, "process_started": 1.0, "pid_namespace": "pid:[1]"}, False),
    ],
    ids=["alive", "dead-pid", "reused-pid", "other-host", "other-pid-namespace"],
)
def test_a_stale_lock_is_taken_over_and_a_live_one_never(
    tmp_path: Path, changes: dict[str, Any], gone: bool
) -> None:
    if changes.get("pid") == -1:
        changes = {"pid": _dead_pid()}
    out = tmp_path / "out"
    holder = _lock_record(out, **changes)
    assert holder_is_gone(holder) is gone
    if gone:
        with output_folder_lock(out) as lock:
            assert json.loads(lock.read_text())["token"] != holder.token
        assert not lock.exists()
        return
    with pytest.raises(OutputFolderLockedError) as refused, output_folder_lock(out):
        pass
    assert f"process {holder.pid} on host {holder.host}" in str(refused.value)
    if holder.host == "another-node":
        assert "another host" in str(refused.value) and "delete" in str(refused.value)
    if holder.pid_namespace:
        assert "another PID namespace" in str(refused.value)
    assert json.loads((out / LOCK_NAME).read_text())["token"] == holder.token  # left alone


def test_breaking_a_stale_lock_never_removes_a_live_lock_that_replaced_it(tmp_path: Path) -> None:
    """The race of two runs breaking one stale lock: the slower one renames the lock aside after
    the faster one has broken the stale lock and taken the folder; it must put that lock back."""
    out = tmp_path / "out"
    stale = _lock_record(out, pid=_dead_pid())
    live = _lock_record(out, token="1" * 32)  # the faster run's lock, in place of the stale one
    _break_stale(out / LOCK_NAME, stale)  # the slower run, acting on what it read before
    assert json.loads((out / LOCK_NAME).read_text())["token"] == live.token
    assert [p.name for p in out.iterdir()] == [LOCK_NAME]  # nothing left aside
    _lock_record(out, pid=_dead_pid())
    _break_stale(out / LOCK_NAME, stale)  # the stale lock itself is removed
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    "address", ["foo", "http://127.0.0.1:8786", "inproc://x", "ucx://127.0.0.1:8786"]
)
def test_a_malformed_scheduler_address_is_said_without_a_traceback(
    address: str, tmp_path: Path
) -> None:
    """DESIGN.md section 7: never a traceback. A malformed --scheduler was said, then the
    half-built dask Client's clean-up held the process for a minute and printed 'Exception
    ignored in: <function Client.__del__>' with a TimeoutError traceback. The address is
    checked before any Client is made, and it is a usage error (DESIGN.md section 4: exit 2;
    it was exit 1, an input error)."""
    result = run_tscimg(
        "track", str(SAMPLE_SCANS / "manifest.csv"), "-o", str(tmp_path / "out"),
        "--scheduler", address,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"{address!r} is not a dask scheduler address" in result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


def test_a_scheduler_without_workers_says_the_patients_wait(tmp_path: Path) -> None:
    """dask holds the tasks of a scheduler that has no worker until one joins; the run said
    only "with 0 worker(s)" and then waited in silence (a helper's batch audit)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=None
    ) as empty:
        run = _track_in_background(
            empty.scheduler_address, SAMPLE_SCANS / "manifest.csv", tmp_path / "out"
        )
        try:
            assert run.stderr is not None
            lines: list[str] = []
            deadline = time.monotonic() + 60
            while not any("no worker is connected" in line for line in lines):
                assert time.monotonic() < deadline, lines
                line = run.stderr.readline()
                assert line, (lines, run.wait())
                lines.append(line)
            assert "with 0 worker(s)" in "".join(lines)
            assert run.poll() is None  # waiting, as dask does
        finally:
            run.send_signal(signal.SIGINT)
            run.communicate(timeout=60)
