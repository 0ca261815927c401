"""Writing DICOM: a scan as a classic series (one CT or MR file per slice); an echo cine."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from tscimg.core.errors import InputError
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import Modality
from tscimg.io.atomic import atomic_file, atomic_folder

_SOP_CLASS = {Modality.CT: CTImageStorage, Modality.MR: MRImageStorage}


@dataclass(frozen=True)
class SeriesIdentity:
    """Who and what a written series is. UIDs derive deterministically from ``uid_seed``.

    Parameters
    ----------
    patient_id
        Pseudonymous patient identifier (also used as PatientName: never a real name).
    uid_seed
        Text from which Study/Series/FrameOfReference/SOP Instance UIDs are derived.
    series_description, series_number
        DICOM SeriesDescription and SeriesNumber.
    study_uid
        Use this StudyInstanceUID instead of deriving one (visits of one study).
    """

    patient_id: str
    uid_seed: str
    series_description: str = ""
    series_number: int = 1
    study_uid: str | None = None


def _uid(seed: str, what: str) -> UID:
    return generate_uid(entropy_srcs=[seed, what])


def write_dicom_series(
    scan: Scan, folder: str | os.PathLike[str], identity: SeriesIdentity
) -> list[Path]:
    """Write ``scan`` (3D, CT or MR) as one DICOM file per slice into ``folder`` (atomically).

    CT values are stored with RescaleIntercept -1024 (HU in, HU out); MR values as they are.
    Values are rounded to integers. Returns the written file paths.
    """
    folder = Path(folder)
    modality = scan.modality or Modality.MR
    if modality not in _SOP_CLASS:
        raise InputError(f"writing {modality.value} as a DICOM series is not supported")
    g = scan.geometry
    if g.dimension != 3:
        raise InputError("a DICOM series needs a 3D scan")
    values = np.rint(scan.to_array().astype(np.float64))
    intercept = -1024.0 if modality is Modality.CT else 0.0
    stored = values - intercept
    info = np.iinfo(np.int16)
    if stored.min() < info.min or stored.max() > info.max:
        raise InputError("values do not fit 16-bit DICOM storage")
    stored = stored.astype(np.int16)
    date = scan.acquisition_date or datetime.date(2000, 1, 1)
    seed = identity.uid_seed
    study_uid = identity.study_uid or _uid(seed, "study")
    series_uid = scan.series_uid or _uid(seed, "series")
    for_uid = scan.frame_of_reference_uid or _uid(seed, "frame-of-reference")
    direction = g.direction_matrix
    orientation = [*direction[:, 0], *direction[:, 1]]
    thickness = scan.slice_thickness_mm or g.spacing_mm[2]
    written: list[Path] = []
    with atomic_folder(folder) as tmp:
        for k in range(g.size[2]):
            sop_uid = _uid(seed, f"instance-{k}")
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = _SOP_CLASS[modality]
            meta.MediaStorageSOPInstanceUID = sop_uid
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID = _SOP_CLASS[modality]
            ds.SOPInstanceUID = sop_uid
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.FrameOfReferenceUID = for_uid
            ds.Modality = modality.value
            ds.PatientID = identity.patient_id
            ds.PatientName = f"{identity.patient_id}^"  # one-component name, never a real name
            ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = date.strftime("%Y%m%d")
            ds.StudyID = "1"
            ds.Manufacturer = scan.manufacturer or "tscimg synthetic"
            ds.SeriesDescription = identity.series_description
            ds.SeriesNumber = identity.series_number
            ds.InstanceNumber = k + 1
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
            ds.ImagePositionPatient = [f"{v:.6f}" for v in g.index_to_lps((0, 0, k))]
            ds.ImageOrientationPatient = [f"{v:.8f}" for v in orientation]
            ds.PixelSpacing = [f"{g.spacing_mm[1]:.6f}", f"{g.spacing_mm[0]:.6f}"]
            ds.SliceThickness = f"{thickness:.4f}"
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.Rows, ds.Columns = g.size[1], g.size[0]
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            ds.RescaleIntercept = f"{intercept:g}"
            ds.RescaleSlope = "1"
            ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
            path = tmp / f"IM{k + 1:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            written.append(folder / path.name)
    return written


def write_ultrasound_cine(
    frames: np.ndarray,
    pixel_mm: tuple[float, float],
    frame_time_ms: float,
    path: str | os.PathLike[str],
    identity: SeriesIdentity,
    acquisition_date: datetime.date,
    manufacturer: str = "tscimg synthetic",
) -> Path:
    """Write ``frames`` ``(n, rows, columns)`` (uint8 grey) as an ultrasound multi-frame cine.

    Stored as RGB (R = G = B, as echo machines export), calibrated by one 2D tissue region
    (SequenceOfUltrasoundRegions, PhysicalDeltaX/Y in cm) covering the image; FrameTime set.
    Written atomically.
    """
    path = Path(path)
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise InputError("an ultrasound cine needs uint8 frames shaped (n, rows, columns)")
    n, rows, columns = frames.shape
    seed = identity.uid_seed
    sop_uid = _uid(seed, "cine")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = identity.study_uid or _uid(seed, "study")
    ds.SeriesInstanceUID = _uid(seed, "series")
    ds.Modality = "US"
    ds.PatientID = identity.patient_id
    ds.PatientName = f"{identity.patient_id}^"  # one-component name, never a real name
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = acquisition_date.strftime("%Y%m%d")
    ds.StudyID = "1"
    ds.Manufacturer = manufacturer
    ds.SeriesDescription = identity.series_description
    ds.SeriesNumber = identity.series_number
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "CARDIAC"]
    ds.NumberOfFrames = n
    ds.FrameTime = f"{frame_time_ms:g}"
    ds.FrameIncrementPointer = (0x0018, 0x1063)  # FrameTime
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    region = Dataset()
    region.RegionSpatialFormat = 1  # 2D tissue
    region.RegionDataType = 1  # tissue
    region.RegionFlags = 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = columns - 1, rows - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX = pixel_mm[0] / 10.0
    region.PhysicalDeltaY = pixel_mm[1] / 10.0
    ds.SequenceOfUltrasoundRegions = [region]
    ds.PixelData = np.ascontiguousarray(np.repeat(frames[..., None], 3, axis=-1)).tobytes()
    with atomic_file(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return path
