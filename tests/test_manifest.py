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


DATES_HEADER = (
    "patient_id,date,image,lesion_id,lesion_type,point_lps,treatment_start,treatment_stop"
)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "P1,2024-01-10,a.nii.gz,L1,aml,1;2;3,2024-01-15,9999-12-31",
            "row 2, column treatment_stop: '9999-12-31' is after 2199: an open-ended date such as "
            "9999-12-31 is not a date: leave the cell empty",
        ),
        (
            "P1,2024-01-10,a.nii.gz,L1,aml,1;2;3,9999-12-31,",
            "row 2, column treatment_start: '9999-12-31' is after 2199: an open-ended date",
        ),
        (
            "P1,9999-12-31,a.nii.gz,L1,aml,1;2;3,,",
            "row 2, column date: '9999-12-31' is after 2199: an open-ended date such as "
            "9999-12-31 is not a date: give the date of the visit",
        ),
        (
            "P1,0001-01-01,a.nii.gz,L1,aml,1;2;3,,",
            "row 2, column date: '0001-01-01' is before 1900",
        ),
        (
            "P1,20240110,a.nii.gz,L1,aml,1;2;3,,",
            "row 2, column date: '20240110' is not a date in YYYY-MM-DD form (such as 2024-01-15)",
        ),
        (
            "P1,2024-01-10,a.nii.gz,L1,aml,1;2;3,2024-W03-1,",
            "row 2, column treatment_start: '2024-W03-1' is not a date in YYYY-MM-DD form",
        ),
        (
            "P1,2024-01-10,a.nii.gz,L1,aml,1;2;3,,2024-01-10T00:00",
            "row 2, column treatment_stop: '2024-01-10T00:00' is not a date in YYYY-MM-DD form",
        ),
        (
            "P1,２０２４-０１-１０,a.nii.gz,L1,aml,1;2;3,,",
            "row 2, column date: '２０２４-０１-１０' is not a date in YYYY-MM-DD form",
        ),
    ],
)
def test_implausible_and_non_iso_dates_are_row_errors(
    folder: Path, row: str, expected: str
) -> None:
    """An open-ended sentinel (9999-12-31) used to pass and crash the response arithmetic
    (year 10000) for every patient; a basic or week date used to pass as a date."""
    text = problems(write(folder, row, header=DATES_HEADER))
    assert expected in text


def test_the_plausible_years_and_iso_dates_are_accepted(folder: Path) -> None:
    path = write(
        folder,
        "P1,1900-01-01,a.nii.gz,L1,aml,1;2;3,1900-01-02,2199-12-31",
        header=DATES_HEADER,
    )
    plan = read_manifest(path).patients[0]
    assert plan.treatment_start == dt.date(1900, 1, 2)
    assert plan.treatment_stop == dt.date(2199, 12, 31)


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (
            "9999-12-31",
            "row 3, column date: '9999-12-31' is after 2199: an open-ended date such as "
            "9999-12-31 is not a date: leave the row out",
        ),
        ("20240301", "row 3, column date: '20240301' is not a date in YYYY-MM-DD form"),
        ("2024-W09-5", "row 3, column date: '2024-W09-5' is not a date in YYYY-MM-DD form"),
    ],
)
def test_the_treatment_file_refuses_the_same_dates(
    tmp_path: Path, date: str, expected: str
) -> None:
    from tscimg.io.treatment import TreatmentFileError, read_treatment

    path = tmp_path / "treatment.csv"
    path.write_text(f"patient_id,date,event,value\nP1,2024-01-15,start,\nP1,{date},stop,\n")
    with pytest.raises(TreatmentFileError) as info:
        read_treatment(path)
    assert expected in str(info.value)


HEADER_FRAME = "patient_id,date,image,lesion_id,lesion_type,point_lps,frame"


@pytest.mark.parametrize("frame", ["²", "٣", "-1", "1.0", "1x", "1" * 5000])
def test_a_frame_that_is_not_ascii_digits_is_a_row_error(folder: Path, frame: str) -> None:
    """``'²'.isdigit()`` is true but ``int('²')`` fails: it was an internal error."""
    path = write(folder, f"P1,2024-01-10,a.nii.gz,L1,aml,1;2;3,{frame}", header=HEADER_FRAME)
    text = problems(path)
    assert f"row 2, column frame: {frame!r} is not a frame number (0, 1, 2, ...)" in text


def test_row_numbers_are_file_lines_after_blank_lines_and_multi_line_cells(folder: Path) -> None:
    """Rows are named by the file's line: blank lines count, and a row whose quoted cell spans
    lines is named by its first line."""
    path = write(
        folder,
        "P1,2024-01-10,a.nii.gz,L1,aml,1;2;3",
        "",
        "",
        "P2,2024-01-10,a.nii.gz,L1,tuber,1;2;3",
        'P3,2024-01-10,a.nii.gz,L1,"two',
        'lines",1;2;3',
        "P4,2024-13-10,a.nii.gz,L1,aml,1;2;3",
        header="patient_id,date,image,lesion_id,lesion_type,point_lps",
    )
    text = problems(path)
    assert "row 5, column lesion_type: 'tuber' is not one of" in text
    assert "row 6, column lesion_type: 'two\\nlines' is not one of" in text
    assert "row 8, column date: '2024-13-10' is not a date" in text


def test_table_rows_number_rows_by_their_first_line() -> None:
    from tscimg.io.csv_tables import TableProblems, table_rows

    table = TableProblems(Path("t.csv"), "the table", ManifestError, "Fix it")
    text = 'a,b\n1,2\n\n\n3,4\n"5\n5",6\n7,8,9\n'
    rows = list(table_rows(text, ("a", "b"), ("a",), table))
    assert [n for n, _ in rows] == [2, 5, 6]
    assert rows[2][1] == {"a": "5\n5", "b": "6"}
    assert table.items == ["row 8: more cells than the header has columns"]


def test_a_cell_too_large_for_the_csv_reader_is_a_row_error(folder: Path) -> None:
    """The csv module's field limit (128 KiB) raised ``csv.Error``: an internal error."""
    path = write(
        folder,
        "P1,2024-01-10,a.nii.gz,L1,aml,1;2;3",
        "P2,2024-01-10,a.nii.gz,L1,aml," + "1" * 200_000,
        header="patient_id,date,image,lesion_id,lesion_type,point_lps",
    )
    text = problems(path)
    assert "row 3: cannot read the row (field larger than field limit (131072))" in text


@pytest.mark.parametrize(
    "follow_up",
    ["P1,2024-07-10,b.nii.gz,L1,aml,,,,,", "P1,2024-07-10,b.nii.gz,,,,,,,"],
    ids=["named", "blanket"],
)
def test_a_rejected_first_row_is_the_only_problem_named(folder: Path, follow_up: str) -> None:
    """The first visit's prompt mistyped: its row is the problem. The carried follow-up was
    also called a lesion "with no prompt or mask at its first visit (2024-07-10)" (or a row
    with nothing to carry), sending the reader to a row that is right."""
    text = problems(write(folder, "P1,2024-01-10,a.nii.gz,L1,aml,1;2;x,,,,2024-01-15", follow_up))
    assert "1 problem(s) in the manifest: row 2, column point_lps: '1;2;x' is not 3 numbers" in text
    assert "row 3" not in text


def test_a_lesion_without_a_prompt_is_still_named_beside_another_lesions_rejected_row(
    folder: Path,
) -> None:
    text = problems(
        write(
            folder,
            "P1,2024-01-10,a.nii.gz,L1,aml,1;2;x,,,,2024-01-15",
            "P1,2024-01-10,a.nii.gz,L2,aml,,,,,",
        )
    )
    assert "2 problem(s)" in text
    assert "row 3, column point_lps: lesion L2 of patient P1 has no prompt or mask" in text


def test_ids_differing_only_in_letter_case_are_refused(folder: Path) -> None:
    """TSC-001 and tsc-001 (or L1 and l1 of one patient) name the same mask, state and DICOM
    files on a case-insensitive file system (macOS, Windows, SMB): one overwrote the other."""
    text = problems(
        write(
            folder,
            "TSC-001,2024-01-10,a.nii.gz,L1,aml,1;2;3,,,,2024-01-15",
            "tsc-001,2024-01-10,b.nii.gz,L1,aml,1;2;3,,,,2024-01-15",
            "TSC-001,2024-01-10,a.nii.gz,l1,aml,4;5;6,,,,",
        )
    )
    assert "row 3, column patient_id: 'tsc-001' differs from 'TSC-001' (row 2) only in" in text
    assert "row 4, column lesion_id: 'l1' differs from 'L1' (row 2) only in letter case" in text
    assert "2 problem(s)" in text
    # the same lesion_id in two patients is not a clash (their files are in their own folders)
    read_manifest(
        write(
            folder,
            "P1,2024-01-10,a.nii.gz,L1,aml,1;2;3,,,,2024-01-15",
            "P2,2024-01-10,b.nii.gz,l1,aml,1;2;3,,,,2024-01-15",
        )
    )
