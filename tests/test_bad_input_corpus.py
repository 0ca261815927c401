"""Bad input never gives a wrong number, a crash or a hang: the corpus through the command line.

Each group of tests/bad_input_corpus.py runs through the ``tscimg`` entry point in one process
(tests/corpus_harness.py: a watchdog per case, an address-space limit), and the two inputs
that used to hang run in processes of their own. A failure lists every case that went wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from bad_input_corpus import (
    Case,
    batch_case,
    dicom_cases,
    failures,
    hang_cases,
    manifest_cases,
    prompt_and_output_cases,
    run_alone,
    run_in_harness,
    volume_file_cases,
)


def _assert_corpus(cases: list[Case], workdir: Path, alone: bool = False) -> None:
    ids = [c.case_id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    outcomes = (run_alone if alone else run_in_harness)(cases, workdir)
    wrong = failures(cases, outcomes)
    assert not wrong, f"{len(wrong)} problem(s) in {len(cases)} cases:\n" + "\n".join(wrong)


GROUPS: dict[str, Callable[[Path], list[Case]]] = {
    "dicom": dicom_cases,
    "volume-files-and-masks": volume_file_cases,
    "prompts-outputs-manifests-batch": lambda root: [
        *prompt_and_output_cases(root / "prompts"),
        *manifest_cases(root / "manifests"),
        batch_case(root / "batch"),
    ],
}


@pytest.mark.parametrize("group", GROUPS)
def test_corpus_group_through_the_command_line(group: str, tmp_path: Path) -> None:
    _assert_corpus(GROUPS[group](tmp_path / group), tmp_path)


def test_inputs_that_used_to_hang_end_in_their_own_processes(tmp_path: Path) -> None:
    _assert_corpus(hang_cases(tmp_path / "hangs"), tmp_path, alone=True)


def test_the_corpus_holds_at_least_60_cases(tmp_path: Path) -> None:
    """Counting only: building the inputs is cheap, running them is what the tests above do."""
    cases = [case for build in GROUPS.values() for case in build(tmp_path / "count")] + hang_cases(
        tmp_path / "count-hangs"
    )
    refusals = [c for c in cases if c.exit_code == 1]
    assert len(cases) >= 60 and len(refusals) >= 40, (len(cases), len(refusals))
