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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from tscimg.core.dates import iso_date
from tscimg.core.errors import ImageReadError, InputError
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
    reconstruction_kernel, field_strength_t
        The CT reconstruction kernel (DICOM ConvolutionKernel) and the MR field strength in
        tesla (MagneticFieldStrength), ``None`` when the file does not say: a change of either
        between visits moves a lesion's border, and the report says so.
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
    reconstruction_kernel: str | None = None
    field_strength_t: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.image, sitk.Image):
            raise ImageReadError(
                f"a Scan holds a SimpleITK.Image, got {type(self.image).__name__}",
                path=self.source,
                hint="Build one from a [k, j, i] array with Scan.from_array(pixels, "
                "spacing_mm=..., origin_lps=..., direction=...)",
            )
        given: object = self.acquisition_date  # a date as text or a datetime is taken too
        date = None if given is None else iso_date(given)
        if given is not None and date is None:
            raise InputError(
                f"acquisition_date must be a date, got {given!r}",
                hint="Give a datetime.date, or a date as YYYY-MM-DD (such as 2024-01-15)",
            )
        object.__setattr__(self, "acquisition_date", date)

    @classmethod
    def from_array(
        cls,
        pixels: np.ndarray,
        spacing_mm: Sequence[float] | Geometry = (1.0, 1.0, 1.0),
        origin_lps: Sequence[float] = (0.0, 0.0, 0.0),
        direction: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
        **fields: Any,
    ) -> Scan:
        """A 3D scan from a numpy array indexed ``[k, j, i]`` and its LPS geometry.

        Parameters
        ----------
        pixels
            Array of shape ``(nk, nj, ni)`` (copied; the caller's array is not kept).
        spacing_mm
            Voxel spacing along ``(i, j, k)`` in mm; or a whole :class:`Geometry` (another
            scan's ``.geometry``, as :meth:`Mask.from_array` takes), whose size must be the
            array's and whose spacing, origin and direction are then used.
        origin_lps
            LPS position (mm) of the centre of voxel ``(0, 0, 0)``.
        direction
            9 direction cosines, row-major; column ``n`` is the LPS direction of axis ``n``.
        **fields
            Any other :class:`Scan` field (``modality``, ``source``, ...).

        Raises
        ------
        ImageReadError
            When the array is not 3D real numbers (integers, floats, booleans) or the geometry
            is not a valid 3D grid.

        Examples
        --------
        >>> s = Scan.from_array(np.zeros((4, 5, 6), np.int16), spacing_mm=(0.8, 0.8, 3.0),
        ...                     origin_lps=(-10.0, 5.0, 2.0), modality="CT")
        >>> s.geometry.size, s.geometry.origin_lps, s.modality
        ((6, 5, 4), (-10.0, 5.0, 2.0), <Modality.CT: 'CT'>)
        >>> Scan.from_array(np.ones((4, 5, 6)), s.geometry).geometry == s.geometry
        True
        """
        source = fields.get("source")
        arr = np.asarray(pixels)
        real = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
        if arr.ndim != 3 or not (real or arr.dtype == bool):
            raise ImageReadError(
                f"a scan needs a 3D array of numbers [k, j, i], got shape {arr.shape} of "
                f"{arr.dtype}",
                path=source,
            )
        if arr.dtype == bool:
            arr = arr.astype(np.uint8)
        elif arr.dtype == np.float16:  # half floats: SimpleITK has no such pixel type
            arr = arr.astype(np.float32)
        if isinstance(spacing_mm, Geometry):
            grid = spacing_mm
            defaults = ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
            if (tuple(origin_lps), tuple(direction)) != defaults:
                raise ImageReadError(
                    "give the scan's grid as a Geometry or as spacing_mm, origin_lps and "
                    "direction, not both: the Geometry holds its own origin and direction",
                    path=source,
                    hint="Derive another grid first: Geometry(size, spacing_mm, origin_lps, "
                    "direction)",
                )
            if tuple(grid.size) != arr.shape[::-1]:
                raise ImageReadError(
                    f"the array of shape {arr.shape} [k, j, i] does not fit the geometry of size "
                    f"{list(grid.size)} (i, j, k)",
                    path=source,
                    hint="Give the array as [k, j, i] (numpy order: slices first)",
                )
            spacing_mm, origin_lps, direction = grid.spacing_mm, grid.origin_lps, grid.direction
        geometry = Geometry(arr.shape[::-1], tuple(spacing_mm), tuple(origin_lps), tuple(direction))
        geometry.require_plausible(source)
        if fields.get("modality") is not None:
            try:
                fields["modality"] = Modality(fields["modality"])
            except ValueError:
                raise ImageReadError(
                    f"unknown modality {fields['modality']!r}",
                    path=source,
                    hint=f"Use one of: {', '.join(m.value for m in Modality)}, or None",
                ) from None
        image = geometry.apply_to(sitk.GetImageFromArray(arr), copy=False)
        return cls(image, **fields)

    def __repr__(self) -> str:
        """Grid, modality, date and source in one line, never the pixels."""
        g = self.geometry
        date = None if self.acquisition_date is None else self.acquisition_date.isoformat()
        modality = None if self.modality is None else str(self.modality.value)
        return (
            f"Scan(size={list(g.size)}, spacing_mm={[round(v, 6) for v in g.spacing_mm]}, "
            f"modality={modality!r}, acquisition_date={date!r}, "
            f"pixel_type={self.image.GetPixelIDTypeAsString()!r}, source={self.source!r}, "
            f"warnings={len(self.warnings)})"
        )

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
            "reconstruction_kernel": self.reconstruction_kernel,
            "field_strength_t": self.field_strength_t,
            "pixel_type": self.image.GetPixelIDTypeAsString(),
            "source": self.source,
            "frame_index": self.frame_index,
            "frame_count": self.frame_count,
            "frame_time_ms": self.frame_time_ms,
            "calibrated": self.calibrated,
            "warnings": list(self.warnings),
        }
