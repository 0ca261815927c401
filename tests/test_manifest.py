"""Manifest validation: every problem named with its row and column, nothing run on a bad file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from builders import SAMPLE_SCANS

from tscimg.core.vocabularies import LesionType
from tscimg.io.manifest import ManifestError, read_manifest

HEADER = (
    "patient_id,date,image,lesion_id,lesion_type,point_lps,point_ras,box_index,mask,treatment_start"
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("a.nii.gz", "b.nii.gz", "c.nii.gz", "m.nii.gz"):
        (tmp_path / name).write_bytes(b"not read by the manifest reader")
    return tmp_path


def write(folder: Path, *rows: str, header: str = HEADER) -> Path:
    path = folder / "manifest.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def problems(path: Path) -> str:
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    return str(info.value)


def test_sample_manifest_reads_into_four_patients() -> None:
    manifest = read_manifest(SAMPLE_SCANS / "manifest.csv")
    ids = [p.patient_id for p in manifest.patients]
    assert ids == ["TSC-001", "TSC-002", "TSC-003", "TSC-004"]
    echo2d = manifest.patients[3].lesions["L1"].visits
    assert [v.frame for v in echo2d] == [3, 3, 3] and not any(v.carried for v in echo2d)
    aml = manifest.patients[0]
    assert aml.treatment_start == dt.date(2024, 1, 15)
    visits = aml.lesions["L1"].visits
    assert [v.carried for v in visits] == [False, True, True, True]
    assert visits[0].prompts.positive_lps == ((6.0, -4.0, 12.0),)
    assert aml.lesions["L1"].lesion_type is LesionType.AML


def test_ras_points_become_lps_and_blank_lesion_rows_carry_every_earlier_lesion(
    folder: Path,
) -> None:
    path = write(
        folder,
        "P1,2024-01-10,a.nii.gz,L1,aml,,10;20;30,,,2024-01-15",
        "P1,2024-01-10,a.nii.gz,L2,aml,1;2;3,,,,",
        "P1,2024-07-10,b.nii.gz,,,,,,,",
        "P1,2025-01-10,c.nii.gz,L3,aml,,,,m.nii.gz,",
    )
    plan = read_manifest(path).patients[0]
    assert plan.lesions["L1"].visits[0].prompts.positive_lps == ((-10.0, -20.0, 30.0),)
    assert [v.date.isoformat() for v in plan.lesions["L2"].visits] == ["2024-01-10", "2024-07-10"]
    assert plan.lesions["L2"].visits[1].carried
    assert plan.lesions["L3"].visits[0].mask == folder / "m.nii.gz"


def test_unknown_and_missing_columns_are_named(folder: Path) -> None:
    path = write(
        folder, "P1,2024-01-10,a.nii.gz,L1,aml", header="patient_id,date,image,lesion,lesion_type"
    )
    text = problems(path)
    assert "row 1" in text and "unknown column(s) lesion" in text
    missing = write(folder, "P1,a.nii.gz", header="patient_id,image")
    assert "missing column(s) date" in problems(missing)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            ["P1,2024-13-10,a.nii.gz,L1,aml,1;2;3,,,,"],
            "row 2, column date: '2024-13-10' is not a date",
        ),
        (
            ["P1,2024-01-10,nope.nii.gz,L1,aml,1;2;3,,,,"],
            "row 2, column image: 'nope.nii.gz' does not exist",
        ),
        (
            ["P1,2024-01-10,a.nii.gz,L1,aml,1;2,,,,"],
            "row 2, column point_lps: '1;2' is not 3 numbers",
        ),
        (
            ["P1,2024-01-10,a.nii.gz,L1,tuber,1;2;3,,,,"],
            "row 2, column lesion_type: 'tuber' is not one of",
        ),
        (
            ["P1,2024-01-10,a.nii.gz,L1,aml,,,,,"],
            "row 2, column point_lps: lesion L1 of patient P1 has no prompt or mask at its first",
        ),
        (
            ["P1,2024-01-10,a.nii.gz,L1,aml,1;2;3,,,,", "P1,2024-01-10,a.nii.gz,L1,aml,,,,,"],
            "row 3, column lesion_id: duplicate: lesion L1 of patient P1 on 2024-01-10 is already",
        ),
        (
            ["P1,2024-01-10,a.nii.gz,L1,aml,1;2;3,,,,", "P1,2024-01-10,b.nii.gz,L1,aml,,,,,"],
            "row 3, column point_lps: lesion L1 of patient P1 has two views on 2024-01-10",
        ),
        (
            [
                "P1,2024-01-10,a.nii.gz,L1,aml,1;2;3,,,,",
                "P1,2024-01-10,b.nii.gz,L1,aml,1;2;3,,,,",
                "P1,2024-01-10,c.nii.gz,L1,aml,1;2;3,,,,",
            ],
            "row 4, column lesion_id: lesion L1 of patient P1 on 2024-01-10 has more than two",
        ),
        (
            [
                "P1,2024-01-10,a.nii.gz,L1,aml,1;2;3,,,,2024-01-15",
                "P1,2024-06-10,b.nii.gz,L1,aml,,,,,2024-02-01",
            ],
            "has several treatment_start dates (2024-01-15, 2024-02-01)",
        ),
        (
            ["P1,2024-01-10,a.nii.gz,,aml,1;2;3,,,,"],
            "row 2, column lesion_id: prompts and masks belong to a lesion",
        ),
        (
            ["P1,2024-01-10,a.nii.gz,L1,aml,1;2;3,,,m.nii.gz,"],
            "row 2, column mask: give either a mask or prompts",
        ),
    ],
)
def test_each_problem_is_named_with_row_and_column(
    folder: Path, rows: list[str], expected: str
) -> None:
    text = problems(write(folder, *rows))
    assert expected in text
    assert str(folder / "manifest.csv") in text


def test_all_problems_are_listed_at_once(folder: Path) -> None:
    text = problems(
        write(
            folder,
            "P1,2024-13-10,a.nii.gz,L1,aml,1;2;3,,,,",
            "P2,2024-01-10,missing.nii.gz,L1,aml,1;2;3,,,,",
        )
    )
    assert "2 problem(s)" in text and "row 2" in text and "row 3" in text


def test_an_invalid_manifest_is_refused_before_the_output_folder_is_made(folder: Path) -> None:
    """``tscimg.track`` validates the manifest before it takes the output folder's lock (which
    creates the folder): a refused run leaves nothing behind."""
    import tscimg

    path = write(folder, "P1,a.nii.gz", header="patient_id,image")
    with pytest.raises(ManifestError, match="missing column"):
        tscimg.track(path, folder / "out")
    assert not (folder / "out").exists()
