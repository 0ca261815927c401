"""DICOM SEG and TID 1500 SR: round trips on the sample studies and on a real oblique series."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from builders import SAMPLE_SCANS, run_tscimg, shared_data

import tscimg
from tscimg.io.dicom_output import (
    SegmentSpec,
    derived_uid,
    read_sr_volumes,
    source_datasets,
    write_dicom_seg,
)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    out = tmp_path_factory.mktemp("tracked")
    samples = tmp_path_factory.mktemp("samples")
    rows = (SAMPLE_SCANS / "manifest.csv").read_text().splitlines()
    keep = [rows[0]] + [r for r in rows[1:] if r.startswith(("TSC-001", "TSC-002"))]
    (samples / "manifest.csv").write_text(
        "\n".join(r.replace("TSC-00", str(SAMPLE_SCANS / "TSC-00")) for r in keep) + "\n"
    )
    result = run_tscimg("track", str(samples / "manifest.csv"), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    return out, json.loads((out / "report.json").read_text())


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


def test_a_seg_of_the_real_oblique_series_overlays_its_source_exactly(tmp_path: Path) -> None:
    folder = shared_data("remind022", "T1post_dicom")
    scan = tscimg.load_scan(folder)
    expert = tscimg.load_mask(shared_data("remind022", "tumor_seg.dcm"), reference=scan)
    assert expert.voxel_count() == 799
    source = source_datasets(folder, scan.series_uid)
    target = tmp_path / "ours.dcm"
    ds = write_dicom_seg(
        expert,
        [SegmentSpec(1, "T1", "sega", derived_uid("t"))],
        source,
        target,
        derived_uid("series"),
        "test",
    )
    back = tscimg.load_mask(target, reference=scan)
    assert np.array_equal(back.to_array() > 0, expert.to_array() > 0)
    # every SEG frame lies exactly on a source slice, with the source's orientation
    positions = np.array([s.ImagePositionPatient for s in source], dtype=float)
    orientation = np.array(source[0].ImageOrientationPatient, dtype=float)
    shared = ds.SharedFunctionalGroupsSequence[0]
    seg_orientation = np.array(
        shared.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float
    )
    assert np.allclose(seg_orientation, orientation, atol=1e-6)
    for frame in ds.PerFrameFunctionalGroupsSequence:
        p = np.array(frame.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        assert np.min(np.linalg.norm(positions - p, axis=1)) < 1e-3
    referenced = {
        s.ReferencedSOPInstanceUID
        for s in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    }
    assert referenced <= {s.SOPInstanceUID for s in source}


def test_segment_writes_a_dicom_seg_and_refuses_one_without_a_dicom_source(tmp_path: Path) -> None:
    series = SAMPLE_SCANS / "TSC-002" / "2024-02-20" / "dicom"
    target = tmp_path / "lesion.dcm"
    result = run_tscimg(
        "segment",
        str(series),
        "-o",
        str(target),
        "--point-lps=-6,-14,0",
        "--lesion-type",
        "sega",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    back = tscimg.load_mask(target, reference=tscimg.load_scan(series))
    assert back.voxel_count() == record["voxel_count"]
    echo = SAMPLE_SCANS / "TSC-003" / "2024-04-28" / "echo3d.nii.gz"
    refused = run_tscimg("segment", str(echo), "-o", str(tmp_path / "x.dcm"), "--point-lps=11,2,0")
    assert refused.returncode == 1
    assert "not DICOM" in refused.stderr and "Traceback" not in refused.stderr
