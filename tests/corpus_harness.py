"""Runs many ``tscimg`` command lines in one process, each as the console script would run it.

Usage: ``python corpus_harness.py CASES.json RESULTS.json`` (see tests/bad_input_corpus.py).

Each case calls the command line's entry point (``tscimg_cli.main.run``: argument parsing, the
command, the mapping of errors to exit codes) with the process's file descriptors 1 and 2
redirected to files, so everything the case prints reaches its record, including what C
libraries (ITK, GDCM) write. Python warnings are shown every time, as in a fresh process. The
process's address space is limited (``RLIMIT_AS``), so a case that tries to allocate tens of
gigabytes fails instead of taking the machine down. A watchdog ends the process when a case
runs past its time: the case is recorded as ``timeout`` and the caller restarts the harness on
the cases after it. The results file is rewritten after every case, so a crash leaves the
crashed case marked ``started``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

#: Address-space limit of the harness process, bytes.
MEMORY_LIMIT_BYTES = 4 * 2**30


def _save(results: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results))
    os.replace(tmp, path)


def _show_warnings_like_a_fresh_process() -> None:
    warnings.resetwarnings()
    warnings.simplefilter("always")
    for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", quiet)


def _run_case(entry: Any, argv: list[str]) -> int:
    try:
        entry(argv)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def main(cases_path: Path, results_path: Path) -> None:
    """Run every case of ``cases_path`` in order; write the outcomes to ``results_path``."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    os.environ.pop("TSCIMG_DEBUG", None)
    from tscimg_cli.main import run  # imported under the limit, as a real start would

    cases = json.loads(cases_path.read_text())
    results: dict[str, Any] = {}
    for case in cases:
        case_id = case["id"]
        results[case_id] = {"status": "started"}
        _save(results, results_path)

        def expire(case_id: str = case_id) -> None:
            results[case_id] = {"status": "timeout"}
            _save(results, results_path)
            os._exit(0)

        _show_warnings_like_a_fresh_process()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = os.dup(1), os.dup(2)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            watchdog = threading.Timer(float(case["timeout_s"]), expire)
            watchdog.daemon = True
            start = time.perf_counter()
            watchdog.start()
            try:
                code = _run_case(run, case["argv"])
            finally:
                watchdog.cancel()
                seconds = time.perf_counter() - start
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
            out.seek(0)
            err.seek(0)
            results[case_id] = {
                "status": "finished",
                "exit_code": code,
                "stdout": out.read().decode("utf-8", "replace"),
                "stderr": err.read().decode("utf-8", "replace"),
                "seconds": seconds,
            }
        _save(results, results_path)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
