"""DICOM SEG and TID 1500 SR: round trips on the sample studies and on a real oblique series."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from builders import SAMPLE_SCANS, run_tscimg, shared_data

import tscimg
from tscimg.io.dicom_output import (
    SegmentSpec,
    derived_uid,
    source_datasets,
    write_dicom_seg,
)


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


def test_overlapping_lesions_each_keep_their_whole_mask_in_the_seg(tmp_path: Path) -> None:
    """Two lesions of one visit that share voxels: the SEG was built from one label map, the
    later lesion took the shared voxels, and the first lesion's segment held none of them
    (all frames were segment 2 when both lesions were prompted at one point) while the SR kept
    its measured volume. Each lesion is now a segment of its whole mask: read back with
    highdicom, segment n has exactly lesion n's voxels (as many as its measured volume
    counts)."""
    import highdicom as hd

    series = SAMPLE_SCANS / "TSC-002" / "2024-02-20" / "dicom"
    scan = tscimg.load_scan(series)
    k, j, i = np.indices(scan.geometry.size[::-1])
    first = ((i - 27) ** 2 + (j - 25) ** 2 + (k - 20) ** 2 <= 36).astype(np.uint8)
    second = ((i - 31) ** 2 + (j - 25) ** 2 + (k - 20) ** 2 <= 36).astype(np.uint8)
    assert (first & second).sum() > 0  # they overlap
    masks = [tscimg.Mask.from_array(m, scan.geometry) for m in (first, second)]
    specs = [SegmentSpec(n, f"L{n}", "sega", derived_uid(f"L{n}")) for n in (1, 2)]
    target = tmp_path / "seg.dcm"
    source = source_datasets(series, scan.series_uid)
    write_dicom_seg(masks, specs, source, target, derived_uid("overlap"), "test")
    seg = hd.seg.segread(str(target))
    for n, m in enumerate((first, second), start=1):
        volume = seg.get_volume(segment_numbers=[n], combine_segments=True, relabel=False)
        assert int(np.count_nonzero(volume.array)) == int(m.sum())
        # tscimg reads one segment whole (tscimg measure --label 1 gave 485 of 673 voxels)
        alone = tscimg.load_mask(target, reference=scan, segment=n)
        assert alone.voxel_count() == int(m.sum()) and alone.labels == (n,)
    both = tscimg.load_mask(target, reference=scan)
    shared = int((first & second).sum())
    assert any(f"segments overlap in {shared} voxels" in w for w in both.warnings)


def test_seg_and_sr_uids_follow_their_content_and_a_flag_reaches_the_sr(tmp_path: Path) -> None:
    """A corrected mask (the trust gate's own workflow) wrote a SEG and an SR under the first
    run's SOP Instance UIDs with other content, which a PACS takes for duplicates; the SEG's
    dimension organization UID was random at every run; and a lesion the trust gate flagged
    went into the SR as an ordinary measurement. Now the UIDs follow the content (the same
    inputs, the same UIDs), and a flagged measurement carries a qualitative evaluation."""
    import datetime as dt

    import pydicom

    from tscimg.batch.dicom_export import write_visit_dicom
    from tscimg.core.vocabularies import LesionType
    from tscimg.longitudinal import LesionOrigin, LesionVisitResult
    from tscimg.measure import LesionRecord

    series = SAMPLE_SCANS / "TSC-002" / "2024-02-20" / "dicom"
    scan = tscimg.load_scan(series)
    k, j, i = np.indices(scan.geometry.size[::-1])

    def write(radius2: int, review: tuple[str, ...], name: str) -> tuple[Any, Any]:
        labels = ((i - 27) ** 2 + (j - 25) ** 2 + (k - 20) ** 2 <= radius2).astype(np.uint8)
        mask = tscimg.Mask.from_array(labels, scan.geometry)
        result = LesionVisitResult(
            "L1", LesionType.SEGA, dt.date(2024, 2, 20), "dicom", LesionOrigin.MASK,
            LesionRecord.of_figures(mask.volume_ml(), 0.0, 10.0, 10.0), review=review,
        )  # fmt: skip
        seg, sr, _ = write_visit_dicom(
            "TSC-002", dt.date(2024, 2, 20), scan, series, [(result, mask)], tmp_path / name, "t"
        )
        return pydicom.dcmread(seg), pydicom.dcmread(sr)

    first_seg, first_sr = write(36, (), "a")
    again_seg, again_sr = write(36, (), "b")
    assert first_seg.SOPInstanceUID == again_seg.SOPInstanceUID
    assert first_sr.SOPInstanceUID == again_sr.SOPInstanceUID
    organization = first_seg.DimensionOrganizationSequence[0].DimensionOrganizationUID
    assert organization == again_seg.DimensionOrganizationSequence[0].DimensionOrganizationUID
    corrected_seg, corrected_sr = write(30, (), "c")
    assert corrected_seg.SOPInstanceUID != first_seg.SOPInstanceUID
    assert corrected_seg.SeriesInstanceUID != first_seg.SeriesInstanceUID
    assert corrected_sr.SOPInstanceUID != first_sr.SOPInstanceUID
    assert "Flagged for review" not in str(first_sr)
    _, flagged_sr = write(36, ("the carried lesion changed 3.32-fold",), "d")
    assert "TSC-FLAGGED" in str(flagged_sr) and "Flagged for review" in str(flagged_sr)
    # every report says it is research software (DESIGN.md), the SEG's own text too
    assert first_seg.ContentDescription == "tscimg: research software, not a medical device"
    # the reader's mask is a MANUAL segment: tscimg did not make it (it said SEMIAUTOMATIC)
    assert first_seg.SegmentSequence[0].SegmentAlgorithmType == "MANUAL"
    assert "SegmentationAlgorithmIdentificationSequence" not in first_seg.SegmentSequence[0]


def test_tracking_uids_are_unique_beyond_the_patient_and_lesion_ids() -> None:
    """A tracking UID is universally unique (DICOM); derived from the patient and lesion ids
    alone, two trials' P001 L1 shared one. It derives from the patient's earliest DICOM series
    too: the same at every visit of one patient, another for another patient of that id."""
    from tscimg.batch.dicom_export import tracking_uid

    one = tracking_uid("P001", "L1", "1.2.826.0.1.3680043.8.498.1")
    assert one == tracking_uid("P001", "L1", "1.2.826.0.1.3680043.8.498.1")
    assert one != tracking_uid("P001", "L1", "1.2.826.0.1.3680043.8.498.2")
    assert one != tracking_uid("P001", "L2", "1.2.826.0.1.3680043.8.498.1")
