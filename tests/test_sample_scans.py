"""The bundled sample scans: deterministic, analytic truth, DICOM and NIfTI copies that agree."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import SAMPLE_SCANS

from tscimg import LesionType, load_scan

DESIGN_COLUMNS = {
    "patient_id",
    "date",
    "image",
    "lesion_id",
    "lesion_type",
    "point_index",
    "point_lps",
    "point_ras",
    "negative_index",
    "negative_lps",
    "negative_ras",
    "box_index",
    "box_lps",
    "mask",
    "treatment_start",
    "treatment_stop",
}
TRUTH = json.loads((SAMPLE_SCANS / "truth.json").read_text())


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix != ".py" and p.name != "README.md"
    }


def test_generator_reproduces_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(SAMPLE_SCANS / "generate.py"), str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert _files(tmp_path) == _files(SAMPLE_SCANS)


def test_sample_scans_stay_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLE_SCANS.rglob("*") if p.is_file())
    assert total < 8 * 2**20


def test_every_lesion_type_and_modality_is_covered() -> None:
    kinds = {(p["lesion_type"], p["modality"]) for p in TRUTH["patients"]}
    assert kinds == {("aml", "CT"), ("sega", "MR"), ("rhabdomyoma", "US")}
    for p in TRUTH["patients"]:
        LesionType(p["lesion_type"])
        assert len(p["visits"]) >= 3


def test_truth_volumes_are_the_analytic_ellipsoid_volumes() -> None:
    for patient in TRUTH["patients"]:
        for visit in patient["visits"]:
            for lesion in visit["lesions"].values():
                a, b, c = lesion["semi_axes_mm"]
                assert lesion["volume_ml"] == pytest.approx(
                    4 / 3 * math.pi * a * b * c / 1000, rel=1e-5
                )


@pytest.mark.parametrize("patient", TRUTH["patients"], ids=lambda p: p["patient_id"])
def test_dicom_and_nifti_copies_agree_and_match_the_truth_grid(patient: dict) -> None:  # type: ignore[type-arg]
    for visit in patient["visits"]:
        nifti = load_scan(SAMPLE_SCANS / visit["nifti"])
        assert list(nifti.geometry.size) == visit["size"]
        assert np.allclose(nifti.geometry.spacing_mm, visit["spacing_mm"], atol=1e-5)
        if visit["dicom"]:
            dicom = load_scan(SAMPLE_SCANS / visit["dicom"])
            assert dicom.geometry.differences(nifti.geometry, 1e-4, 1e-5) == []
            assert np.array_equal(dicom.to_array(), nifti.to_array())
            assert dicom.acquisition_date is not None
            assert dicom.acquisition_date.isoformat() == visit["date"]
            assert dicom.modality is not None and dicom.modality.value == patient["modality"]


def test_seed_points_fall_inside_their_lesions() -> None:
    """The truth centre, read back through the file's geometry, lies in lesion tissue."""
    for patient in TRUTH["patients"]:
        for visit in patient["visits"]:
            scan = load_scan(SAMPLE_SCANS / visit["image"])
            arr = scan.to_array().astype(float)
            lesion = visit["lesions"]["L1"]
            index = scan.geometry.lps_to_index(lesion["centre_lps"])
            assert np.allclose(index, lesion["centre_index"], atol=0.01)
            i, j, k = (round(v) for v in index)
            near = arr[k, j - 1 : j + 2, i - 1 : i + 2].mean()
            if patient["lesion_type"] == "aml":
                assert near < -20  # fat
            elif patient["lesion_type"] == "sega":
                # the cystic core: darker than brain, but the rim 0.7 radii out enhances
                ring_i = round(i + 0.7 * lesion["semi_axes_mm"][0] / scan.geometry.spacing_mm[0])
                assert near < 520 < arr[k, j, ring_i] or arr[k, j, ring_i] > 800
            else:
                assert near > 120  # hyperechoic mass (myocardium ~95, blood ~15)


def test_manifest_follows_the_design_format() -> None:
    with (SAMPLE_SCANS / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert set(rows[0].keys()) == DESIGN_COLUMNS | {"frame"}  # issue 7's cine frame column
    for row in rows:
        assert (SAMPLE_SCANS / row["image"]).exists()
    first_rows: dict[str, dict[str, str]] = {}
    for r in rows:
        first_rows.setdefault(r["patient_id"], r)
    assert set(first_rows) == {"TSC-001", "TSC-002", "TSC-003", "TSC-004"}
    assert all(r["point_lps"] and r["treatment_start"] for r in first_rows.values())
    # 3D follow-ups are carried (no prompt); every 2D echo view is clicked, at its frame
    for r in rows:
        if r["frame"]:
            assert r["point_lps"] and r["image"].endswith(".dcm")
        elif r is not first_rows[r["patient_id"]]:
            assert not r["point_lps"]
    assert len(rows) == sum(len(p["visits"]) for p in TRUTH["patients"])
