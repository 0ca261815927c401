"""DICOM output with highdicom: a SEG of a visit's lesions, and a TID 1500 measurement report (SR).

Both reference the source series they were made from (its SOP instances and Frame of
Reference), so a PACS or 3D Slicer shows them over the right images.

- :func:`write_dicom_seg`: a binary SEG, one segment per lesion, frames placed by the mask's own
  geometry (plane positions and orientation), so tilt-corrected or reordered series map exactly.
- :func:`write_dicom_sr`: a Comprehensive 3D SR holding, per lesion, its tracking identifier (the
  lesion id and a UID stable across visits), the time point, and its volume and diameters,
  each measurement group referencing the lesion's segment in the SEG.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from tscimg.core.errors import InputError
from tscimg.core.geometry import Geometry
from tscimg.core.mask import Mask
from tscimg.io.atomic import atomic_file
from tscimg.io.dicom_headers import discover_series, read_header

#: The research-use statement a SEG carries (its ContentDescription, at most 64 characters).
DICOM_DISCLAIMER = "tscimg: research software, not a medical device"
#: The coding scheme designator of tscimg's private codes in the SR.
PRIVATE_SCHEME = "99TSCIMG"
#: The "tscimg" root for UIDs derived from content (deterministic outputs).
_UID_ROOT = "1.2.826.0.1.3680043.10.1389."
_TYPE2_COPIED = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)
_ML = hd.sr.CodedConcept("ml", "UCUM", "milliliter")
_MM = codes.UCUM.Millimeter


@contextmanager
def _source_names_copied_unchanged() -> Iterator[None]:
    """highdicom checks the PatientName it is given and warns, quoting the name, when it has one
    component. The name is the source's, copied unchanged as DICOM requires; tscimg never
    writes a patient's name to a log, so that warning is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*intended person name", category=UserWarning)
        yield


def derived_uid(*parts: str) -> str:
    """A UID derived from ``parts`` (the same inputs always give the same UID).

    Examples
    --------
    >>> derived_uid("TSC-001", "L1") == derived_uid("TSC-001", "L1")
    True
    >>> len(derived_uid("x")) <= 64
    True
    """
    digest = int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:16], "big")
    return (_UID_ROOT + str(digest))[:64]


def source_datasets(path: str | os.PathLike[str], series_uid: str | None = None) -> list[Dataset]:
    """The headers (no pixels) of the DICOM images a scan was read from.

    ``path`` is the scan's DICOM folder or file; ``series_uid`` picks the series in a folder.
    """
    p = Path(path)
    if p.is_dir():
        contents = discover_series(p, keep_datasets=True)
        series = contents.series
        if series_uid is None:
            if len(series) != 1:
                raise InputError(
                    "the folder holds several series", path=p, hint="Name the series UID"
                )
            series_uid = next(iter(series))
        if series_uid not in series:
            raise InputError(f"series {series_uid} is not in this folder", path=p)
        datasets = [contents.datasets[h.path] for h in series[series_uid]]
    else:
        read_header(p)  # raises a clear error when it is not DICOM
        datasets = [pydicom.dcmread(p, stop_before_pixels=True)]
    for ds in datasets:  # type 2 attributes derived objects copy: present, possibly empty
        for keyword in _TYPE2_COPIED:
            if keyword not in ds:
                setattr(ds, keyword, "")
    return datasets


def _volume(
    mask_labels: np.ndarray,
    geometry: Geometry,
    frame_of_reference_uid: str,
    segments: int | None = None,
) -> hd.Volume:
    """A highdicom volume (slice, row, column) from a ``[k, j, i]`` array on ``geometry``;
    with ``segments``, a ``[k, j, i, segment]`` array of stacked binary segments."""
    d = geometry.direction_matrix
    s = geometry.spacing_mm
    affine = np.eye(4)
    affine[:3, 0] = d[:, 2] * s[2]  # slice index -> k axis
    affine[:3, 1] = d[:, 1] * s[1]  # row index -> j axis
    affine[:3, 2] = d[:, 0] * s[0]  # column index -> i axis
    affine[:3, 3] = geometry.origin_lps
    return hd.Volume(
        mask_labels,
        affine,
        coordinate_system="PATIENT",
        frame_of_reference_uid=frame_of_reference_uid,
        channels=None if segments is None else {"SegmentNumber": list(range(1, segments + 1))},
    )


class SegmentAlgorithm(StrEnum):
    """How a segment was made (DICOM SegmentAlgorithmType, its defined terms)."""

    MANUAL = "MANUAL"  # a mask the reader gave: tscimg did not make it
    SEMIAUTOMATIC = "SEMIAUTOMATIC"  # segmented from the reader's prompts at this visit
    AUTOMATIC = "AUTOMATIC"  # carried from an earlier visit, with no prompt at this one


@dataclass(frozen=True)
class SegmentSpec:
    """One segment of a SEG: which label of the mask, named how, made how."""

    label: int
    lesion_id: str
    lesion_type: str
    tracking_uid: str
    algorithm: SegmentAlgorithm = SegmentAlgorithm.SEMIAUTOMATIC


def write_dicom_seg(
    mask: Mask | Sequence[Mask],
    segments: Sequence[SegmentSpec],
    source: Sequence[Dataset],
    target: str | os.PathLike[str],
    series_uid: str,
    software_version: str,
    series_number: int = 9001,
) -> Dataset:
    """Write a binary DICOM SEG of ``mask``'s labels, referencing ``source``; return it.

    ``mask`` is a label map (segment ``n`` holds the voxels of ``segments[n - 1].label``), or
    one mask per segment, in the order of ``segments``: then each segment holds its whole
    mask, and segments may overlap (a BINARY SEG's stacked segments allow it; a label map
    gave shared voxels to one lesion and left the other's segment short of its measured
    volume).

    Raises
    ------
    InputError
        When the source images have no Frame of Reference (nothing to place the SEG in), or
        the masks are not one per segment.
    """
    if not source:
        raise InputError("no source images to reference", path=target)
    for_uid = source[0].get("FrameOfReferenceUID")
    if not for_uid:
        raise InputError(
            "the source series has no FrameOfReferenceUID: a SEG cannot be placed on it",
            path=source[0].filename if hasattr(source[0], "filename") else None,
            hint="Write the mask as .nii.gz, .nrrd or .mha instead",
        )
    if isinstance(mask, Mask):
        labels = mask.to_array()
        geometry = mask.geometry
        layers = [labels == spec.label for spec in segments]
    else:
        if len(mask) != len(segments) or not mask:
            raise InputError(
                f"{len(mask)} masks for {len(segments)} segments: give one mask per segment",
                path=target,
            )
        geometry = mask[0].geometry
        layers = [m.array_view() > 0 for m in mask]
    # stacked segments (slice, row, column, segment): overlapping lesions keep every voxel
    stack = np.stack(layers, axis=-1).astype(np.uint8)
    descriptions = []
    algorithm = hd.AlgorithmIdentificationSequence(
        name="tscimg", version=software_version, family=codes.cid7162.NeighborhoodAnalysis
    )
    for number, spec in enumerate(segments, start=1):
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=f"{spec.lesion_id} ({spec.lesion_type})",
                segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
                segmented_property_type=codes.SCT.Neoplasm,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues(spec.algorithm.value),
                algorithm_identification=(
                    None if spec.algorithm is SegmentAlgorithm.MANUAL else algorithm
                ),
                tracking_uid=spec.tracking_uid,
                tracking_id=spec.lesion_id,
            )
        )
    with _source_names_copied_unchanged():
        seg = hd.seg.Segmentation(
            source_images=list(source),
            pixel_array=_volume(stack, geometry, str(for_uid), segments=len(segments)),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=series_uid,
            series_number=series_number,
            sop_instance_uid=derived_uid(series_uid, "seg"),
            instance_number=1,
            manufacturer="tscimg",
            manufacturer_model_name="tscimg",
            software_versions=software_version,
            device_serial_number="research",
            series_description="tscimg lesion segmentation (research use)",
            content_label="TSCIMG_LESIONS",
            content_description=DICOM_DISCLAIMER,
            omit_empty_frames=True,
        )
    # highdicom draws the dimension organization's UID at random: derive it, so a rerun on
    # the same inputs writes the same object
    organization = derived_uid(seg.SOPInstanceUID, "dimension-organization")
    for item in (*seg.DimensionOrganizationSequence, *seg.DimensionIndexSequence):
        item.DimensionOrganizationUID = organization
    with atomic_file(target) as tmp:
        seg.save_as(tmp)
    return seg


@dataclass(frozen=True)
class LesionFigures:
    """What the SR says about one lesion at one visit."""

    lesion_id: str
    tracking_uid: str
    segment_number: int
    volume_ml: float
    max_3d_diameter_mm: float | None  # None: not measured (a 2D frame)
    axial_longest_diameter_mm: float
    #: The trust gate's reasons to review this measurement (empty: trusted); a flagged
    #: measurement carries a qualitative evaluation saying so, for systems that read the SR
    review: tuple[str, ...] = ()


#: The SR's qualitative evaluation of a measurement the trust gate flagged (private codes).
REVIEW_CONCEPT = hd.sr.CodedConcept("TSC-REVIEW", PRIVATE_SCHEME, "Trust gate")
FLAGGED_VALUE = hd.sr.CodedConcept(
    "TSC-FLAGGED", PRIVATE_SCHEME, "Flagged for review: not to be used for a response"
)


def write_dicom_sr(
    lesions: Sequence[LesionFigures],
    seg: Dataset,
    source: Sequence[Dataset],
    target: str | os.PathLike[str],
    series_uid: str,
    time_point: str,
    software_version: str,
    series_number: int = 9002,
) -> Dataset:
    """Write a TID 1500 measurement report of ``lesions`` (volumes, diameters); return it."""
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=derived_uid("tscimg", software_version), name="tscimg", model_name=software_version
        ),
    )
    context = hd.sr.ObservationContext(observer_device_context=observer)
    time_context = hd.sr.TimePointContext(time_point=time_point)
    groups = []
    for lesion in lesions:
        tracking = hd.sr.TrackingIdentifier(uid=lesion.tracking_uid, identifier=lesion.lesion_id)
        measurements = [
            hd.sr.Measurement(name=codes.SCT.Volume, value=round(lesion.volume_ml, 6), unit=_ML)
        ]
        if lesion.max_3d_diameter_mm is not None:
            measurements.append(
                hd.sr.Measurement(
                    name=hd.sr.CodedConcept("103339001", "SCT", "Long axis"),
                    value=round(lesion.max_3d_diameter_mm, 3),
                    unit=_MM,
                    method=hd.sr.CodedConcept("TSC-MAX3D", PRIVATE_SCHEME, "Maximum 3D diameter"),
                )
            )
        measurements.append(
            hd.sr.Measurement(
                name=codes.SCT.Diameter,
                value=round(lesion.axial_longest_diameter_mm, 3),
                unit=_MM,
                method=hd.sr.CodedConcept("TSC-AXIAL", PRIVATE_SCHEME, "Longest axial diameter"),
            )
        )
        groups.append(
            hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=tracking,
                referenced_segment=hd.sr.ReferencedSegment(
                    sop_class_uid=seg.SOPClassUID,
                    sop_instance_uid=seg.SOPInstanceUID,
                    segment_number=lesion.segment_number,
                    source_series=hd.sr.SourceSeriesForSegmentation(source[0].SeriesInstanceUID),
                ),
                time_point_context=time_context,
                finding_type=codes.SCT.Neoplasm,
                measurements=measurements,
                qualitative_evaluations=[hd.sr.QualitativeEvaluation(REVIEW_CONCEPT, FLAGGED_VALUE)]
                if lesion.review
                else None,
            )
        )
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=groups,
    )
    with _source_names_copied_unchanged():
        sr = hd.sr.Comprehensive3DSR(
            evidence=[*source, seg],
            content=report,
            series_instance_uid=series_uid,
            series_number=series_number,
            sop_instance_uid=derived_uid(series_uid, "sr"),
            instance_number=1,
            manufacturer="tscimg",
            series_description="tscimg lesion measurements (research use)",
        )
    # the private codes (99TSCIMG: the diameters' methods, the trust gate's evaluation) are
    # identified, as the SOP Common module asks of a private coding scheme
    scheme = Dataset()
    scheme.CodingSchemeDesignator = PRIVATE_SCHEME
    scheme.CodingSchemeName = "tscimg private codes"
    scheme.CodingSchemeResponsibleOrganization = "tscimg (research software)"
    sr.CodingSchemeIdentificationSequence = [
        *sr.get("CodingSchemeIdentificationSequence", []),
        scheme,
    ]
    with atomic_file(target) as tmp:
        sr.save_as(tmp)
    return sr


def read_sr_volumes(path: str | os.PathLike[str]) -> Mapping[str, float]:
    """Lesion volumes (mL) by tracking identifier, read back from a tscimg SR."""
    sr = hd.sr.srread(path)
    out: dict[str, float] = {}
    for group in sr.content.get_volumetric_roi_measurement_groups():  # type: ignore[attr-defined]
        ident = group.tracking_identifier or ""
        for m in group.get_measurements(name=codes.SCT.Volume):
            out[str(ident)] = float(m.value)
    return out
