"""Hints that point the right way, and libraries' warnings never printed raw.

A DICOM series whose PatientName has a single component (as real exports often do) makes
highdicom warn, quoting the name, when a SEG is written from it; tscimg must not print that
(patient names never appear in logs), nor any library warning in Python's raw form.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from builders import SAMPLE_SCANS, centred_geometry, run_tscimg
from conftest import SeriesWriter


def test_seg_to_info_image_to_measure_and_an_unknown_output_get_the_right_hint(
    write_series: SeriesWriter, tmp_path: Path
) -> None:
    _, folder = write_series(centred_geometry((40, 40, 16), (1.0, 1.0, 3.0)), name="ct")
    for f in folder.iterdir():  # a single-component name, as a real export may carry
        ds = pydicom.dcmread(f)
        ds.PatientName = "Doe"
        ds.save_as(f)
    seg = tmp_path / "lesion.dcm"
    made = run_tscimg("segment", str(folder), "-o", str(seg), "--point-lps", "4,-3,6")
    assert made.returncode == 0, made.stderr
    assert "Doe" not in made.stderr + made.stdout  # highdicom's warning quoted the name
    assert "Warning" not in made.stderr and ".py:" not in made.stderr  # nothing printed raw

    info = run_tscimg("info", str(seg))
    assert info.returncode == 1
    assert "this is a DICOM Segmentation (SEG), not a scan" in info.stderr
    assert "tscimg measure SEG --image SCAN" in info.stderr and "--mask" not in info.stderr

    ct = SAMPLE_SCANS / "TSC-001" / "2024-01-10" / "ct.nii.gz"
    measured = run_tscimg("measure", str(ct))
    assert measured.returncode == 1
    assert "looks like a scan, not a mask" in measured.stderr
    assert "segment it first" in measured.stderr and "negative labels" not in measured.stderr

    text_out = run_tscimg("segment", str(ct), "-o", str(tmp_path / "x.txt"), "--point", "40,40,14")
    assert text_out.returncode == 1
    assert "cannot write a mask as 'x.txt'" in text_out.stderr
    assert "Name the mask .nii.gz" in text_out.stderr and "reads" not in text_out.stderr
