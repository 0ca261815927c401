"""Hints that point the right way, and libraries' warnings never printed raw.

A DICOM series whose PatientName has a single component (as real exports often do) makes
highdicom warn, quoting the name, when a SEG is written from it; tscimg must not print that
(patient names never appear in logs), nor any library warning in Python's raw form.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from builders import SAMPLE_SCANS, centred_geometry, run_tscimg
from conftest import SeriesWriter

from tscimg import Geometry, Mask, write_volume

GRID_1_1_2 = Geometry((40, 40, 20), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))


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


def test_measure_on_a_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    # Before: a folder of NIfTI masks was called "a DICOM image (a scan)".
    folder = tmp_path / "masks"
    folder.mkdir()
    (folder / "lesion.nii.gz").write_bytes(b"not read")
    result = run_tscimg("measure", str(folder), "--json")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["file"] == str(folder)
    assert "this is a folder, not a mask file" in error["message"]
    assert "Pass one mask file" in error["message"] and "DICOM image" not in error["message"]


def test_measure_warns_that_several_labels_are_measured_together(tmp_path: Path) -> None:
    values = np.zeros((20, 40, 40), dtype=np.uint8)  # [k, j, i], 1 x 1 x 2 mm voxels
    values[5:10, 10:20, 10:20] = 1  # 500 voxels, 1.0 mL
    values[12:15, 25:30, 25:30] = 2  # 75 voxels, 0.15 mL, 20 mm away
    path = write_volume(Mask.from_array(values, GRID_1_1_2), tmp_path / "two.nii.gz")
    both = run_tscimg("measure", str(path), "--json")
    assert both.returncode == 0, both.stderr
    record = json.loads(both.stdout)
    assert record["volume_ml"] == pytest.approx(1.15)
    assert any("holds labels 1, 2: the figures describe their union" in w
               for w in record["warnings"])  # fmt: skip
    one = json.loads(run_tscimg("measure", str(path), "--label", "2", "--json").stdout)
    assert one["volume_ml"] == pytest.approx(0.15) and one["warnings"] == []
    # label 2 left out by the size filter: the figures are label 1's alone (it used to say
    # "holds labels 1, 2: the figures describe their union")
    big = run_tscimg("measure", str(path), "--min-volume-ml", "0.5", "--json")
    filtered = json.loads(big.stdout)
    assert filtered["volume_ml"] == pytest.approx(1.0)
    assert not any("union" in w for w in filtered["warnings"])


def test_a_seg_of_an_ultrasound_cine_is_refused_before_segmenting(tmp_path: Path) -> None:
    # Before: refused only after the segmentation, with no way forward in the message.
    cine = SAMPLE_SCANS / "TSC-004" / "2024-05-10" / "echo2d_cine.dcm"
    out = tmp_path / "lesion.dcm"
    result = run_tscimg("segment", str(cine), "-o", str(out), "--point", "80,64,0", "--json")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["file"] == str(cine)
    assert "has none (an ultrasound cine has no patient coordinates)" in error["message"]
    assert "Write the mask as .nii.gz, .nrrd or .mha" in error["message"]
    assert not out.exists()


def test_demo_with_a_samples_folder_without_a_manifest_is_refused(tmp_path: Path) -> None:
    # Before: the bundled sample scans were run instead, silently, with exit 0.
    empty = tmp_path / "my_samples"
    empty.mkdir()
    result = run_tscimg("demo", "--samples", str(empty), "-o", str(tmp_path / "out"), "--json")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["file"] == str(empty)
    assert "--samples: this folder holds no manifest.csv" in error["message"]
    assert not (tmp_path / "out").exists()
