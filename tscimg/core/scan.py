"""The scan type: one image with its geometry and what a scan needs besides pixels.

Examples
--------
>>> import SimpleITK as sitk
>>> img = sitk.Image(8, 8, 4, sitk.sitkInt16)
>>> img.SetSpacing((0.7, 0.7, 5.0))
>>> scan = Scan(img, modality=Modality.CT, source="example")
>>> scan.geometry.spacing_mm
(0.7, 0.7, 5.0)
>>> scan.to_array().shape  # [k, j, i]
(4, 8, 8)
>>> scan.with_warning("demo warning").warnings
('demo warning',)
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from tscimg.core.geometry import Geometry
from tscimg.core.vocabularies import Modality


@dataclass(frozen=True, eq=False)
class Scan:
    """A 2D or 3D scan: a :class:`SimpleITK.Image` (pixels + LPS geometry) plus metadata.

    Treat ``image`` as read-only: derive a new scan with :meth:`derive` instead of
    changing pixels or geometry in place.

    Parameters
    ----------
    image
        Pixels with size, spacing (mm), origin and direction in LPS.
    modality
        Imaging modality, ``None`` when the file does not say (NIfTI, NRRD, MHA).
    acquisition_date
        Date of acquisition (DICOM AcquisitionDate, else SeriesDate, else StudyDate).
    study_uid, series_uid, frame_of_reference_uid
        DICOM identifiers, ``None`` outside DICOM.
    manufacturer
        Scanner manufacturer (DICOM Manufacturer).
    slice_thickness_mm
        Nominal reconstructed slice thickness (DICOM SliceThickness); the slice *spacing*
        is ``geometry.spacing_mm[2]`` and comes from slice positions.
    source
        Where the scan was read from (a path), for provenance and error messages.
    warnings
        Problems met while loading that did not stop it (left-out localizers, corrected
        gantry tilt, removed duplicates, ...).
    frame_index, frame_count, frame_time_ms
        For one frame of a cine (echo): which frame (0-based), of how many, and the frame
        interval in ms; ``None`` otherwise.
    calibrated
        Whether the spacing is a physical calibration (False: an ultrasound image without
        calibrated regions, spacing in pixels).
    """

    image: sitk.Image
    modality: Modality | None = None
    acquisition_date: datetime.date | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    frame_of_reference_uid: str | None = None
    manufacturer: str | None = None
    slice_thickness_mm: float | None = None
    source: str | None = None
    warnings: tuple[str, ...] = ()
    frame_index: int | None = None
    frame_count: int | None = None
    frame_time_ms: float | None = None
    calibrated: bool = True

    @property
    def geometry(self) -> Geometry:
        """The scan's grid (size, spacing, origin, direction in LPS)."""
        return Geometry.of(self.image)

    @property
    def is_planar(self) -> bool:
        """A 2D image stored as one slice (an echo frame): measured by area, not volume."""
        return self.geometry.is_planar

    def to_array(self) -> np.ndarray:
        """A copy of the pixels as a numpy array indexed ``[k, j, i]``."""
        return sitk.GetArrayFromImage(self.image)

    def derive(self, **changes: Any) -> Scan:
        """A new scan with some fields replaced (for example ``image=resampled``)."""
        return dataclasses.replace(self, **changes)

    def with_warning(self, message: str) -> Scan:
        """A new scan with one more loading warning."""
        return dataclasses.replace(self, warnings=(*self.warnings, message))

    def describe(self) -> dict[str, Any]:
        """The scan's facts as plain JSON-ready values (the ``tscimg info`` record)."""
        g = self.geometry
        return {
            "size": list(g.size),
            "spacing_mm": list(g.spacing_mm),
            "origin_lps": list(g.origin_lps),
            "direction": list(g.direction),
            "modality": None if self.modality is None else self.modality.value,
            "acquisition_date": None
            if self.acquisition_date is None
            else self.acquisition_date.isoformat(),
            "series_uid": self.series_uid,
            "study_uid": self.study_uid,
            "frame_of_reference_uid": self.frame_of_reference_uid,
            "manufacturer": self.manufacturer,
            "slice_thickness_mm": self.slice_thickness_mm,
            "pixel_type": self.image.GetPixelIDTypeAsString(),
            "source": self.source,
            "frame_index": self.frame_index,
            "frame_count": self.frame_count,
            "frame_time_ms": self.frame_time_ms,
            "calibrated": self.calibrated,
            "warnings": list(self.warnings),
        }
