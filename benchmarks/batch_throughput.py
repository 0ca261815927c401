"""Benchmark: patients per minute of `track`, serial and on 1 and 2 dask.distributed workers.

Run: ``python benchmarks/batch_throughput.py [--patients 8]``.

The cohort is built by the sample-scan generator (``sample_scans/generate.py``): the renal AML
(CT, four DICOM visits), the SEGA (MR, three DICOM visits) and the 3D echo rhabdomyoma (three
NIfTI visits), written again under new patient ids in turn until there are ``--patients``
(follow-ups carried by registration, DICOM SEG and SR written for the DICOM visits). Each run
starts from an empty output folder:

- serial: ``tscimg.batch.track`` in a fresh process (ITK's default threads, every core);
- 1 and 2 workers: a ``LocalCluster`` of that many worker processes, as ``--jobs N`` starts it
  (one patient at a time per worker; ITK threads = cores / workers).

Throughput is timed from the first patient submitted to the last finished, the cluster's start
(its workers importing tscimg) shown apart. Peak memory is each process's maximum resident set
(``ru_maxrss``). The reports of all runs are checked to be identical. Other processes on the
machine slow every run: the load average before each run is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from tscimg.batch import track
from tscimg.batch.cluster import itk_threads_per_worker, local_client
from tscimg.synthetic import SAMPLE_STUDIES

ROOT = Path(__file__).resolve().parents[1]
VOLUMETRIC_STUDIES = SAMPLE_STUDIES[:3]  # AML CT, SEGA MR, 3D echo


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "sample_scans" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_cohort(folder: Path, patients: int) -> Path:
    """Write ``patients`` synthetic patients and their manifest; return the manifest."""
    generate = _generator()
    studies = [make() for make in VOLUMETRIC_STUDIES]
    rows: list[dict[str, str]] = []
    for n in range(patients):
        study = dataclasses.replace(studies[n % len(studies)], patient_id=f"BENCH-{n + 1:02d}")
        rows += generate.write_study(study, folder)[1]
    lines = [",".join(generate.MANIFEST_COLUMNS)]
    lines += [",".join(row[c] for c in generate.MANIFEST_COLUMNS) for row in rows]
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def peak_rss_mb() -> float:
    """This process's peak resident memory (runs on the workers too)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used (runs on the workers too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_s() -> float:
    """CPU seconds every process on the machine has used (all cores; from /proc/stat)."""
    t = psutil.cpu_times()
    return float(sum(t)) - t.idle - getattr(t, "iowait", 0.0)


SERIAL = """
import json, resource, sys, time
from tscimg.batch import track
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
times = {}
start, cpu0 = time.perf_counter(), cpu()
last = start
def done(patient_id, failed, resumed):
    global last
    now = time.perf_counter()
    times[patient_id] = now - last
    last = now
result = track(sys.argv[1], sys.argv[2], progress=done)
seconds, cpu_s = time.perf_counter() - start, cpu() - cpu0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
report = json.loads(result.to_json())["patients"]
print(json.dumps({"seconds": seconds, "cpu_s": cpu_s, "peak_mb": peak_mb, "report": report,
                  "errors": len(result.errors), "patient_s": times}))
"""


def greedy_makespan(durations: list[float], workers: int) -> float:
    """Wall time of running ``durations`` in order, each on the first free worker."""
    free = [0.0] * workers
    for d in durations:
        free[free.index(min(free))] += d
    return max(free)


def serial_run(manifest: Path, out: Path) -> dict[str, Any]:
    """The serial run, in a fresh process (its peak memory is the run's alone)."""
    busy0, wall0 = machine_busy_s(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", SERIAL, str(manifest), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    # the machine's use over the whole child (its start included), ours over the run only
    result["machine_cores"] = (machine_busy_s() - busy0) / (time.perf_counter() - wall0)
    return result


def cluster_run(manifest: Path, out: Path, workers: int) -> dict[str, Any]:
    """A run on a local cluster of ``workers`` processes (as ``--jobs`` starts it)."""
    start = time.perf_counter()
    with local_client(workers) as client:
        client.wait_for_workers(workers)
        started = time.perf_counter() - start
        cpu0 = sum(client.run(cpu_seconds).values()) + cpu_seconds()
        busy0, start = machine_busy_s(), time.perf_counter()
        result = track(manifest, out, client=client)
        seconds = time.perf_counter() - start
        busy = machine_busy_s() - busy0
        cpu_s = sum(client.run(cpu_seconds).values()) + cpu_seconds() - cpu0
        peaks = sorted(client.run(peak_rss_mb).values())
    return {
        "start_s": started,
        "seconds": seconds,
        "cpu_s": cpu_s,
        "machine_cores": busy / seconds,
        "peaks_mb": peaks,
        "report": json.loads(result.to_json())["patients"],
        "errors": len(result.errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"writing {args.patients} synthetic patients ...", flush=True)
        manifest = build_cohort(root / "cohort", args.patients)
        threads = f"1 worker {itk_threads_per_worker(1)}, 2 workers {itk_threads_per_worker(2)}"
        print(f"{os.cpu_count()} cores; ITK threads: serial default, {threads} each\n")
        print("| run | load before | cluster start | run time | patients/min | x serial "
              "| cores used by the run | cores busy on the machine "
              "| peak memory (MB) |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        load = os.getloadavg()[0]
        serial = serial_run(manifest, root / "serial")
        rate = 60.0 * args.patients / serial["seconds"]
        print(f"| serial (1 process) | {load:.1f} | - | {serial['seconds']:.1f} s | {rate:.1f} "
              f"| 1.00 | {serial['cpu_s'] / serial['seconds']:.2f} "
              f"| {serial['machine_cores']:.2f} | {serial['peak_mb']:.0f} |",
              flush=True)  # fmt: skip
        for workers in (1, 2):
            load = os.getloadavg()[0]
            run = cluster_run(manifest, root / f"workers{workers}", workers)
            same = run["report"] == serial["report"] and run["errors"] == serial["errors"]
            print(
                f"| {workers} worker{'s' if workers > 1 else ''} | {load:.1f} "
                f"| {run['start_s']:.1f} s | {run['seconds']:.1f} s "
                f"| {60.0 * args.patients / run['seconds']:.1f} "
                f"| {serial['seconds'] / run['seconds']:.2f} "
                f"| {run['cpu_s'] / run['seconds']:.2f} | {run['machine_cores']:.2f} "
                f"| {' / '.join(f'{p:.0f}' for p in run['peaks_mb'])} per worker |"
                + ("" if same else " REPORT DIFFERS FROM SERIAL |"),
                flush=True,
            )
        rows = [line.split(",")[0] for line in manifest.read_text().splitlines()[1:]]
        seconds = serial["patient_s"]  # in manifest order; the cluster runs most visits first
        ordered = sorted(seconds, key=lambda p: -rows.count(p))
        bound = sum(seconds.values()) / greedy_makespan([seconds[p] for p in ordered], 2)
        print(
            "\nserial seconds per patient: "
            + ", ".join(f"{p} {s:.1f}" for p, s in seconds.items())
            + f"\nthese patients, most visits first, on 2 free workers: at most {bound:.2f}x "
            "(the last patients leave a worker idle)"
        )
        print("target: 2 workers >= 1.8x the serial throughput on 2 cores")


if __name__ == "__main__":
    main()
