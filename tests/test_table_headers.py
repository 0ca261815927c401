"""Manifest and treatment headers as spreadsheets save them: semicolons, tabs, upper case."""

from __future__ import annotations

from pathlib import Path

import pytest

from tscimg.io.manifest import ManifestError, read_manifest
from tscimg.io.treatment import TreatmentFileError, read_treatment

ROW = "P1,2024-01-10,a.nii.gz,L1,aml,1;2;3"


def _manifest(folder: Path, header: str, row: str) -> Path:
    (folder / "a.nii.gz").write_bytes(b"not read by the manifest reader")
    path = folder / "manifest.csv"
    path.write_text(f"{header}\n{row}\n")
    return path


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_manifest_saved_with_another_separator_is_named_so(
    tmp_path: Path, separator: str, name: str
) -> None:
    # Before: "unknown column(s) patient_id;date;image;..." and "missing column(s) patient_id,
    # date, image", as if the names were wrong.
    header = separator.join(["patient_id", "date", "image", "lesion_id", "lesion_type"])
    row = separator.join(["P1", "2024-01-10", "a.nii.gz", "L1", "aml"])
    with pytest.raises(ManifestError) as caught:
        read_manifest(_manifest(tmp_path, header + separator + "point_index", row + separator))
    message = str(caught.value)
    assert f"the columns of the manifest are separated by {name}, not commas" in message
    assert "CSV UTF-8 (Comma delimited)" in message
    assert "unknown column" not in message


def test_upper_case_column_names_get_their_lower_case_spelling(tmp_path: Path) -> None:
    header = "PATIENT_ID,Date,image,lesion_id,lesion_type,point_index"
    with pytest.raises(ManifestError) as caught:
        read_manifest(_manifest(tmp_path, header, ROW))
    message = str(caught.value)
    assert "column names are lower case: write patient_id for PATIENT_ID, date for Date" in message
    assert "unknown column" not in message


def test_a_comma_separated_manifest_with_semicolon_points_still_reads(tmp_path: Path) -> None:
    header = "patient_id,date,image,lesion_id,lesion_type,point_index"
    manifest = read_manifest(_manifest(tmp_path, header, ROW))
    assert [p.patient_id for p in manifest.patients] == ["P1"]


def test_a_treatment_file_saved_with_semicolons_is_named_so(tmp_path: Path) -> None:
    path = tmp_path / "treatment.csv"
    path.write_text("patient_id;date;event;value\nP1;2024-01-15;start;\n")
    with pytest.raises(TreatmentFileError, match="separated by semicolons, not commas"):
        read_treatment(path)
