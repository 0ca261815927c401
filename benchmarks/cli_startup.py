"""Benchmark: how long the ``tscimg`` command takes to start, against the import floor.

Run: ``python benchmarks/cli_startup.py [--repeats 9]``. Every figure is the median wall-clock
time of a fresh process (what each call in a radiologist's batch script pays), measured
interleaved in the same run so that a busy machine slows floor and command alike:

- floor: ``python -c "import SimpleITK, numpy, scipy.ndimage"``, the libraries no reading of a
  scan can do without;
- floor + read: the same, then ``SimpleITK.ReadImage`` of the file ``info`` is given;
- ``tscimg --help``, ``tscimg info FILE.nii.gz`` and ``tscimg info DICOM-FOLDER`` on the sample
  scans (pydicom reads every header of the folder, which SimpleITK's ReadImage of one file does
  not: that row is shown against the plain floor).

Target (issue 18): ``--help`` and ``info FILE`` within 0.5 s of their floor.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NIFTI = ROOT / "sample_scans" / "TSC-002" / "2024-02-20" / "t1c.nii.gz"
DICOM = ROOT / "sample_scans" / "TSC-002" / "2024-02-20" / "dicom"
TARGET_S = 0.5


def _tscimg() -> list[str]:
    found = shutil.which("tscimg")
    if found:
        return [found]
    return [sys.executable, "-c", "from tscimg_cli.main import run; run()"]


def _commands() -> dict[str, list[str]]:
    python = sys.executable
    floor = "import SimpleITK, numpy, scipy.ndimage"
    return {
        "floor": [python, "-c", floor],
        "floor + read": [python, "-c", f"{floor}; SimpleITK.ReadImage({str(NIFTI)!r})"],
        "tscimg --help": [*_tscimg(), "--help"],
        "tscimg info NIfTI": [*_tscimg(), "info", str(NIFTI), "--json"],
        "tscimg info DICOM folder": [*_tscimg(), "info", str(DICOM), "--json"],
    }


def _seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    commands = _commands()
    for command in commands.values():  # warm the file cache and the bytecode
        _seconds(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            times[name].append(_seconds(command))
    median = {name: statistics.median(values) for name, values in times.items()}
    against = {
        "floor": "floor",
        "floor + read": "floor",
        "tscimg --help": "floor",
        "tscimg info NIfTI": "floor + read",
        "tscimg info DICOM folder": "floor",
    }
    print(f"median of {args.repeats} fresh processes each (interleaved)\n")
    print(f"| command | median s | over its floor s | floor | within {TARGET_S} s |")
    print("|---|---|---|---|---|")
    for name, seconds in median.items():
        base = against[name]
        over = seconds - median[base]
        verdict = "-" if name.startswith("floor") else ("yes" if over <= TARGET_S else "NO")
        print(f"| {name} | {seconds:.2f} | {over:+.2f} | {base} | {verdict} |")


if __name__ == "__main__":
    main()
