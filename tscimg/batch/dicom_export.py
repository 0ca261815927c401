"""DICOM outputs of a tracked patient: per visit with a DICOM source, a SEG and a TID 1500 SR."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tscimg.core.mask import Mask
from tscimg.core.scan import Scan
from tscimg.io.dicom_output import (
    LesionFigures,
    SegmentAlgorithm,
    SegmentSpec,
    derived_uid,
    source_datasets,
    write_dicom_seg,
    write_dicom_sr,
)
from tscimg.longitudinal.results import LesionOrigin, LesionVisitResult

#: How each outline's origin is a SEG segment's algorithm type.
_ALGORITHM = {
    LesionOrigin.MASK: SegmentAlgorithm.MANUAL,
    LesionOrigin.PROMPT: SegmentAlgorithm.SEMIAUTOMATIC,
    LesionOrigin.CARRIED: SegmentAlgorithm.AUTOMATIC,
}


def tracking_uid(patient_id: str, lesion_id: str, anchor_series_uid: str) -> str:
    """The lesion's tracking UID: the same at every visit (and in every run).

    ``anchor_series_uid`` is the series UID of the patient's earliest DICOM visit: a tracking
    UID is universally unique, and from the patient and lesion ids alone two trials' ``P001``
    ``L1`` would share one.
    """
    return derived_uid("tscimg-tracking", anchor_series_uid, patient_id, lesion_id)


def write_visit_dicom(
    patient_id: str,
    date: datetime.date,
    scan: Scan,
    image: Path,
    lesions: Sequence[tuple[LesionVisitResult, Mask]],
    folder: Path,
    software_version: str,
    anchor_series_uid: str | None = None,
) -> tuple[Path, Path, list[str]]:
    """Write ``folder/seg.dcm`` and ``folder/sr.dcm`` for one visit's lesions on ``scan``.

    Returns the two paths and warnings. Each lesion is a segment of its whole mask
    (overlapping lesions keep every voxel: the SR's volume is its segment's), whose algorithm
    type says where its outline came from (the reader's mask: MANUAL; prompts: SEMIAUTOMATIC;
    carried: AUTOMATIC). ``anchor_series_uid`` (default: this scan's) is the series UID of the
    patient's earliest DICOM visit, which the tracking UIDs derive from.
    """
    anchor = anchor_series_uid or str(scan.series_uid)
    warnings: list[str] = []
    specs = []
    figures = []
    for number, (result, _mask) in enumerate(lesions, start=1):
        uid = tracking_uid(patient_id, result.lesion_id, anchor)
        specs.append(
            SegmentSpec(
                number, result.lesion_id, result.lesion_type.value, uid, _ALGORITHM[result.origin]
            )
        )
        m = result.measurement
        if m is None:
            raise ValueError(f"lesion {result.lesion_id} was not measured: it has no segment")
        figures.append(
            LesionFigures(
                result.lesion_id,
                uid,
                number,
                m.volume_ml,
                m.max_3d_diameter_mm,
                m.axial_longest_diameter_mm,
                result.review,
            )
        )
    source = source_datasets(image, scan.series_uid)
    masks = [mask for _, mask in lesions]
    # the series and instance UIDs follow the content: a corrected mask (the trust gate's own
    # workflow) gives new objects, which a PACS would otherwise take for duplicates of the
    # first run's; the same inputs give the same UIDs
    content = hashlib.sha256(repr((specs, figures)).encode())
    for mask in masks:
        content.update(np.ascontiguousarray(mask.array_view()).tobytes())
    study = derived_uid(
        "tscimg-output", patient_id, date.isoformat(), str(scan.series_uid), content.hexdigest()
    )
    seg_path, sr_path = folder / "seg.dcm", folder / "sr.dcm"
    seg = write_dicom_seg(
        masks, specs, source, seg_path, derived_uid(study, "seg-series"), software_version
    )
    write_dicom_sr(
        figures,
        seg,
        source,
        sr_path,
        derived_uid(study, "sr-series"),
        time_point=date.isoformat(),
        software_version=software_version,
    )
    return seg_path, sr_path, warnings
