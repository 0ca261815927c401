"""Ultrasound cine (multi-frame DICOM without patient geometry): one calibrated grey frame.

An echo cine has no patient coordinates: its only physical scale is the calibration of its
ultrasound regions (SequenceOfUltrasoundRegions: PhysicalDeltaX/Y with their units). A frame
is returned as a single-slice scan (size ``[columns, rows, 1]``) whose in-plane spacing is that
calibration in mm, origin at the top-left pixel, identity direction (the image plane); colour
(RGB, YBR) becomes grey by luminance (ITU-R BT.601, the Y of YBR). The slice spacing of 1 mm is
nominal: planar scans are measured by area (:mod:`tscimg.measure.planar`), never by voxel volume.

Examples
--------
>>> region = Dataset()
>>> region.RegionSpatialFormat, region.PhysicalUnitsXDirection = 1, 3
>>> region.PhysicalUnitsYDirection, region.PhysicalDeltaX, region.PhysicalDeltaY = 3, 0.05, 0.05
>>> region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
>>> region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 99, 79
>>> calibration_mm([region], (80, 100))
((0.5, 0.5), [])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset

from tscimg.core.errors import ImageReadError, InputError
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import Modality
from tscimg.io.dicom_headers import ImageHeader, quiet_pydicom
from tscimg.io.dicom_headers import finite_number as _number

#: DICOM (0018,6024) units codes -> mm per unit.
_UNIT_MM = {3: 10.0}  # 3 = cm
#: The warning's words when a frame's calibrated regions give different pixel sizes: a mass in
#: another region than the largest is measured at the wrong size (an unchanged mass read +367%).
REGIONS_DIFFER = "calibrated ultrasound regions differ in pixel size"

#: (0018,6012) RegionSpatialFormat 1 = 2D tissue or flow image.
_SPATIAL_2D = 1


def calibration_mm(
    regions: Sequence[Dataset], shape_rows_columns: tuple[int, int]
) -> tuple[tuple[float, float] | None, list[str]]:
    """Pixel size ``(column, row)`` in mm from the ultrasound regions, and warnings.

    The 2D tissue regions with physical units in cm are used; when several disagree the
    largest wins (with a warning). ``None`` when no region is calibrated in length units.
    """
    warnings: list[str] = []
    usable = []
    for r in regions:
        if int(r.get("RegionSpatialFormat", 0)) != _SPATIAL_2D:
            continue
        ux, uy = int(r.get("PhysicalUnitsXDirection", 0)), int(r.get("PhysicalUnitsYDirection", 0))
        if ux not in _UNIT_MM or uy not in _UNIT_MM:
            continue
        try:
            dx = abs(float(r.PhysicalDeltaX)) * _UNIT_MM[ux]
            dy = abs(float(r.PhysicalDeltaY)) * _UNIT_MM[uy]
            x0, y0 = int(r.get("RegionLocationMinX0", 0)), int(r.get("RegionLocationMinY0", 0))
            x1, y1 = int(r.get("RegionLocationMaxX1", 0)), int(r.get("RegionLocationMaxY1", 0))
        except (AttributeError, TypeError, ValueError):
            warnings.append("an ultrasound region's calibration is malformed and was ignored")
            continue
        if not all(math.isfinite(v) and v > 0 for v in (dx, dy)):
            warnings.append(
                f"an ultrasound region's pixel size ({dx:g} x {dy:g} mm) is not a positive "
                "number and was ignored"
            )
            continue
        usable.append(((x1 - x0) * (y1 - y0), dx, dy, (x0, y0, x1, y1)))
    if not usable:
        return None, warnings
    usable.sort(key=lambda u: -u[0])
    _, dx, dy, (x0, y0, x1, y1) = usable[0]
    # regions that agree within 0.1% (rounding in the export) are one calibration
    if any(abs(u[1] / dx - 1.0) > 1e-3 or abs(u[2] / dy - 1.0) > 1e-3 for u in usable):
        sizes = ", ".join(
            f"{u[1]:g} x {u[2]:g} mm at ({u[3][0]},{u[3][1]})-({u[3][2]},{u[3][3]})" for u in usable
        )
        warnings.append(
            f"{len(usable)} {REGIONS_DIFFER} ({sizes}); the largest "
            f"({x0},{y0})-({x1},{y1}) gives the pixel size"
        )
    rows, columns = shape_rows_columns
    if x1 >= columns or y1 >= rows:
        warnings.append(
            f"the calibrated ultrasound region ({x0},{y0})-({x1},{y1}) extends beyond the "
            f"{columns} x {rows} image (a resized export?); its calibration is used as stated"
        )
    return (dx, dy), warnings


def _grey(frames: np.ndarray, photometric: str, bits_stored: int = 8) -> np.ndarray:
    """Frames ``(n, rows, columns[, 3])`` as grey levels (luminance for colour; MONOCHROME1
    inverted over its stored bit depth)."""
    if frames.ndim == 4 and frames.shape[-1] == 3:
        rgb = frames.astype(np.float32)
        grey = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
        return np.clip(np.rint(grey), 0, 255).astype(np.uint8) if frames.dtype == np.uint8 else grey
    if frames.ndim == 3:
        if photometric == "MONOCHROME1":
            return np.asarray((2**bits_stored - 1) - frames.astype(np.int64)).astype(frames.dtype)
        return frames
    raise ImageReadError(f"unexpected ultrasound pixel array shape {frames.shape}")


def frame_timing_ms(ds: Dataset, count: int) -> float | None:
    """The frame interval in ms (FrameTime, else the mean of FrameTimeVector)."""
    try:
        if ds.get("FrameTime") not in (None, ""):
            value = float(ds.FrameTime)
        else:
            vector = ds.get("FrameTimeVector")
            if vector is None or len(vector) != count or count <= 1:
                return None
            value = float(np.mean([float(v) for v in vector][1:]))
    except (TypeError, ValueError):
        return None  # malformed: the frame interval is metadata only
    return value if math.isfinite(value) and value > 0 else None


def _pixel_spacing_disagrees(ds: Dataset, spacing: tuple[float, float] | None) -> list[str]:
    """A warning when the frame's own PixelSpacing (or ImagerPixelSpacing) differs by more than
    1% from the ultrasound regions' pixel size, which tscimg uses (it was ignored in silence)."""
    if spacing is None:
        return []
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        try:
            row_mm, column_mm = (float(v) for v in value)
        except (TypeError, ValueError):
            continue
        if not all(math.isfinite(v) and v > 0 for v in (row_mm, column_mm)):
            continue
        if any(abs(a / b - 1.0) > 0.01 for a, b in ((column_mm, spacing[0]), (row_mm, spacing[1]))):
            return [
                f"the frame's {keyword} ({row_mm:g} x {column_mm:g} mm, row x column) differs "
                f"from its ultrasound regions' pixel size ({spacing[1]:g} x {spacing[0]:g} mm), "
                "which is used: check the export's calibration before measuring"
            ]
    return []


def read_ultrasound_cine(path: Path, header: ImageHeader, frame: int | None) -> Scan:
    """One grey, calibrated frame of an ultrasound cine as a single-slice scan.

    Raises
    ------
    InputError
        When ``frame`` is outside the cine (naming how many frames there are).
    """
    try:
        with quiet_pydicom():
            ds = pydicom.dcmread(path)
            pixels = np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom raises several unrelated types for broken files
        raise ImageReadError(
            f"the ultrasound pixel data could not be decoded ({exc})", path=path
        ) from exc
    count = header.number_of_frames
    if count == 1:
        pixels = pixels[None]
    frames = _grey(pixels, header.photometric, int(_number(ds.get("BitsStored")) or 8))
    warnings: list[str] = [
        "ultrasound image: no patient coordinates; positions are in the image plane (mm from "
        "the top-left pixel)"
    ]
    chosen = frame
    if chosen is None:
        chosen = 0
        if count > 1:
            warnings.append(f"frame 0 of {count} used; choose another with --frame (or frame=)")
    if not 0 <= chosen < count:
        raise InputError(
            f"frame {chosen} does not exist: the cine has {count} frame(s), numbered 0 to "
            f"{count - 1}",
            path=path,
            hint="Pick a frame in that range",
        )
    rows, columns = frames.shape[1:3]
    spacing, notes = calibration_mm(ds.get("SequenceOfUltrasoundRegions") or [], (rows, columns))
    warnings += notes
    warnings += _pixel_spacing_disagrees(ds, spacing)
    calibrated = spacing is not None
    if spacing is None:
        spacing = (1.0, 1.0)
        warnings.append(
            "no ultrasound calibration (SequenceOfUltrasoundRegions in cm): sizes are in "
            "pixels, not mm; do not use them as measurements"
        )
    image = sitk.GetImageFromArray(np.ascontiguousarray(frames[chosen][None]))
    image.SetSpacing((spacing[0], spacing[1], 1.0))
    return Scan(
        image,
        modality=Modality.from_dicom(header.modality),
        acquisition_date=header.acquisition_date,
        study_uid=header.study_uid,
        series_uid=header.series_uid or None,
        manufacturer=header.manufacturer,
        source=str(path),
        warnings=tuple(warnings),
        frame_index=chosen,
        frame_count=count,
        frame_time_ms=frame_timing_ms(ds, count),
        calibrated=calibrated,
    )
