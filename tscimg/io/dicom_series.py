"""Loading DICOM images: a folder of series, one classic file, or an enhanced multi-frame file."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset

from tscimg.core.errors import DicomSeriesError, ImageReadError, InputError
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import Modality
from tscimg.io.dicom_headers import (
    ImageHeader,
    discover_series,
    parse_dicom_date,
    read_header,
    summarize,
)
from tscimg.io.itk_messages import quiet_itk
from tscimg.io.slice_stack import PositionedSlice, StackPlan, assemble, plan_stack
from tscimg.io.ultrasound import read_ultrasound_cine


def _image_from_plan(array: np.ndarray, plan: StackPlan) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(plan.spacing_mm)
    image.SetOrigin(plan.origin_lps)
    image.SetDirection(plan.direction)
    return image


def _orientation_key(h: ImageHeader) -> tuple[object, ...]:
    orient = tuple(round(v, 3) for v in h.orientation) if h.orientation else None
    spacing = tuple(round(v, 4) for v in h.pixel_spacing) if h.pixel_spacing else None
    return (orient, h.rows, h.columns, spacing)


def _select_stack(
    headers: Sequence[ImageHeader], source: str
) -> tuple[list[ImageHeader], list[str]]:
    """Leave out localizers and files of another orientation or matrix, with warnings."""
    warnings: list[str] = []
    localizers = [h for h in headers if h.is_localizer]
    rest = [h for h in headers if not h.is_localizer]
    if localizers:
        names = ", ".join(h.path.name for h in localizers[:5])
        warnings.append(f"{len(localizers)} localizer image(s) left out ({names})")
    if not rest:
        raise DicomSeriesError(
            "the series holds only localizer images",
            path=source,
            hint="Choose the diagnostic series with --series",
        )
    groups: dict[tuple[object, ...], list[ImageHeader]] = defaultdict(list)
    for h in rest:
        groups[_orientation_key(h)].append(h)
    main_key = max(groups, key=lambda k: len(groups[k]))
    chosen = groups[main_key]
    if main_key[0] is None or chosen[0].position is None or chosen[0].pixel_spacing is None:
        raise DicomSeriesError(
            "the images carry no patient geometry (ImageOrientationPatient, "
            "ImagePositionPatient or PixelSpacing missing)",
            path=source,
            hint="Export the series with its geometry, or convert it to NIfTI with dcm2niix",
        )
    others = [h for k, hs in groups.items() if k != main_key for h in hs]
    if others:
        names = ", ".join(h.path.name for h in others[:5])
        warnings.append(
            f"{len(others)} file(s) of another orientation or matrix size left out ({names})"
        )
    return chosen, warnings


def _scan_metadata(h: ImageHeader) -> dict[str, object]:
    return {
        "modality": Modality.from_dicom(h.modality),
        "acquisition_date": h.acquisition_date,
        "study_uid": h.study_uid,
        "series_uid": h.series_uid or None,
        "frame_of_reference_uid": h.frame_of_reference_uid,
        "manufacturer": h.manufacturer,
        "slice_thickness_mm": h.slice_thickness_mm,
    }


def _read_pixels(paths: Sequence[Path]) -> np.ndarray:
    """Pixels ``[n, rows, cols]`` of single-frame files in the given order, rescale applied."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in paths])
    try:
        with quiet_itk():
            image = reader.Execute()
    except RuntimeError as exc:
        raise ImageReadError(
            f"the pixel data could not be decoded ({str(exc).strip().splitlines()[-1]})",
            path=_first_undecodable(paths) or paths[0].parent,
            hint="The file may be truncated or use an unsupported transfer syntax: "
            "re-export it or remove it",
        ) from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(
            "colour (multi-component) images cannot be stacked into a volume",
            path=paths[0].parent,
        )
    array = sitk.GetArrayFromImage(image).reshape(len(paths), -1, image.GetSize()[0])
    return _narrowed(array)


def _first_undecodable(paths: Sequence[Path]) -> Path | None:
    """On the error path only: the first file ITK cannot decode on its own."""
    with quiet_itk():
        for path in paths:
            try:
                sitk.ReadImage(str(path))
            except RuntimeError:
                return path
    return None


def _narrowed(array: np.ndarray) -> np.ndarray:
    """int32 (ITK's type after a rescale) back to int16 when the values fit, halving memory."""
    if array.dtype == np.int32 and array.size:
        info = np.iinfo(np.int16)
        if array.min() >= info.min and array.max() <= info.max:
            return array.astype(np.int16)
    return array


def read_classic_series(
    headers: Sequence[ImageHeader], source: str, allow_resampling: bool = False
) -> Scan:
    """Stack single-frame DICOM files (one series) into a scan."""
    chosen, warnings = _select_stack(headers, source)
    slices = [
        PositionedSlice(n, tuple(h.position), h.path.name)  # type: ignore[arg-type]
        for n, h in enumerate(chosen)
    ]

    def pixels(key: int) -> np.ndarray:
        return pydicom.dcmread(chosen[key].path).pixel_array

    first = chosen[0]
    plan = plan_stack(
        slices,
        first.orientation,  # type: ignore[arg-type]
        first.pixel_spacing,  # type: ignore[arg-type]
        source,
        pixels,
        allow_resampling=allow_resampling,
        single_slice_step_mm=first.slice_thickness_mm,
    )
    stack = _read_pixels([chosen[k].path for k in plan.order])
    image = _image_from_plan(assemble(stack, plan), plan)
    tilt = [h.gantry_tilt_deg for h in chosen if h.gantry_tilt_deg]
    if tilt and not plan.is_tilted:
        warnings.append(
            f"GantryDetectorTilt says {tilt[0]:g} degrees but the slice positions show no tilt; "
            "positions were trusted"
        )
    return Scan(
        image,
        source=source,
        warnings=(*warnings, *plan.warnings),
        **_scan_metadata(chosen[0]),  # type: ignore[arg-type]
    )


def _functional_group(frame: Dataset, shared: Dataset, name: str) -> Dataset | None:
    for group in (frame, shared):
        seq = group.get(name)
        if seq:
            item: Dataset = seq[0]
            return item
    return None


def read_multiframe(path: Path, allow_resampling: bool = False, frame: int | None = None) -> Scan:
    """Read an enhanced (or any) multi-frame DICOM image with per-frame plane positions.

    An ultrasound cine (modality US, no plane positions) gives one calibrated grey frame
    (``frame``, 0-based) instead: see :mod:`tscimg.io.ultrasound`.
    """
    source = str(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # pydicom raises several unrelated types for broken files
        raise ImageReadError(f"not a readable DICOM file ({exc})", path=path) from exc
    header = ImageHeader.from_dataset(ds, path)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else Dataset()
    if not per_frame and (header.modality == "US" or "SequenceOfUltrasoundRegions" in ds):
        return read_ultrasound_cine(path, header, frame)
    if frame is not None:
        raise InputError(
            "--frame (frame=) selects a frame of an ultrasound cine; this file is a volume",
            path=path,
            hint="Leave the frame out",
        )
    if not per_frame:
        return _read_without_geometry(path, header)
    try:
        frames = np.asarray(ds.pixel_array)
    except Exception as exc:
        raise ImageReadError(
            f"the pixel data could not be decoded ({exc})",
            path=path,
            hint="Install a decoder for its transfer syntax (pip install pylibjpeg "
            "pylibjpeg-libjpeg pylibjpeg-openjpeg)",
        ) from exc
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3:
        raise ImageReadError(f"unexpected pixel array shape {frames.shape}", path=path)

    orientations, slices, scaled = [], [], []
    spacing: tuple[float, ...] | None = None
    for n, item in enumerate(per_frame):
        orient = _functional_group(item, shared, "PlaneOrientationSequence")
        pos = _functional_group(item, shared, "PlanePositionSequence")
        meas = _functional_group(item, shared, "PixelMeasuresSequence")
        if orient is None or pos is None or meas is None:
            return _read_without_geometry(path, header)
        orientations.append(tuple(round(float(v), 4) for v in orient.ImageOrientationPatient))
        spacing = tuple(float(v) for v in meas.PixelSpacing)
        slices.append(
            PositionedSlice(n, tuple(float(v) for v in pos.ImagePositionPatient), f"frame {n + 1}")  # type: ignore[arg-type]
        )
        pvt = _functional_group(item, shared, "PixelValueTransformationSequence")
        slope = float(pvt.get("RescaleSlope", 1.0)) if pvt else float(ds.get("RescaleSlope", 1.0))
        intercept = (
            float(pvt.get("RescaleIntercept", 0.0))
            if pvt
            else float(ds.get("RescaleIntercept", 0.0))
        )
        scaled.append((slope, intercept))
    if len(set(orientations)) != 1:
        raise DicomSeriesError(
            f"the frames have {len(set(orientations))} different orientations",
            path=path,
            hint="Split the multi-frame object into one stack per orientation first",
        )
    if spacing is None:
        raise DicomSeriesError("the multi-frame object holds no frames", path=path)
    values = _apply_rescale(frames, scaled)
    plan = plan_stack(
        slices,
        orientations[0],
        spacing,
        source,
        lambda key: values[key],
        allow_resampling=allow_resampling,
        single_slice_step_mm=header.slice_thickness_mm,
    )
    stack = values[list(plan.order)]
    image = _image_from_plan(assemble(stack, plan), plan)
    meta = _scan_metadata(header)
    if meta["slice_thickness_mm"] is None:
        first_meas = _functional_group(per_frame[0], shared, "PixelMeasuresSequence")
        if first_meas is not None and first_meas.get("SliceThickness") not in (None, ""):
            meta["slice_thickness_mm"] = float(first_meas.SliceThickness)
    return Scan(image, source=source, warnings=plan.warnings, **meta)  # type: ignore[arg-type]


def _apply_rescale(frames: np.ndarray, scaled: Sequence[tuple[float, float]]) -> np.ndarray:
    """Apply per-frame rescale slope/intercept, keeping integers when they stay integers."""
    slopes = np.array([s for s, _ in scaled])
    intercepts = np.array([i for _, i in scaled])
    if np.all(slopes == 1.0) and np.all(intercepts == np.round(intercepts)):
        if np.all(intercepts == 0):
            return frames
        return _narrowed(frames.astype(np.int32) + intercepts.astype(np.int32)[:, None, None])
    return frames.astype(np.float32) * slopes[:, None, None].astype(np.float32) + intercepts[
        :, None, None
    ].astype(np.float32)


def _read_without_geometry(path: Path, header: ImageHeader) -> Scan:
    """Multi-frame objects with no plane positions (e.g. ultrasound cine): frames as slices."""
    try:
        with quiet_itk():
            image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ImageReadError("the pixel data could not be decoded", path=path) from exc
    return Scan(
        image,
        source=str(path),
        warnings=(
            "no patient geometry (plane positions) in this file: frames are stacked as "
            "slices with ITK's default spacing",
        ),
        **_scan_metadata(header),  # type: ignore[arg-type]
    )


def read_dicom_file(path: Path, allow_resampling: bool = False, frame: int | None = None) -> Scan:
    """Read one DICOM file: a multi-frame image (or one frame of a cine), or a single slice."""
    header = read_header(path)
    if not header.is_image:
        raise ImageReadError(
            f"this DICOM object (SOP class {header.sop_class_uid}) is not an image",
            path=path,
            hint="Pass a segmentation with --mask or load_mask, and images with load_scan",
        )
    if header.number_of_frames > 1 or header.has_per_frame_groups or header.modality == "US":
        return read_multiframe(path, allow_resampling, frame)
    if frame is not None:
        raise InputError("--frame (frame=) applies to a cine; this file is one image", path=path)
    return read_classic_series([header], str(path), allow_resampling)


def read_dicom_folder(
    folder: Path,
    series_uid: str | None = None,
    allow_resampling: bool = False,
    frame: int | None = None,
) -> Scan:
    """Read one image series from a folder (which may hold several).

    Raises :class:`DicomSeriesError` listing every series when the folder holds several
    and ``series_uid`` does not choose one.
    """
    contents = discover_series(folder)
    series = contents.series
    listing = "; ".join(s.describe() for s in summarize(series))
    if series_uid is not None:
        if series_uid not in series:
            raise DicomSeriesError(
                f"no series with UID {series_uid} here; the folder holds: {listing}",
                path=folder,
                hint="Pass one of the listed series UIDs",
            )
        uid = series_uid
    elif len(series) > 1:
        raise DicomSeriesError(
            f"the folder holds {len(series)} series: {listing}",
            path=folder,
            hint="Choose one with --series UID (series_uid= in Python)",
        )
    else:
        uid = next(iter(series))
    headers = series[uid]
    multiframe = [h for h in headers if h.number_of_frames > 1]
    if multiframe:
        if len(headers) > 1:
            raise DicomSeriesError(
                f"series {uid} mixes {len(multiframe)} multi-frame file(s) with other files",
                path=folder,
                hint="Load the multi-frame file directly by its path",
            )
        return read_multiframe(headers[0].path, allow_resampling, frame)
    if frame is not None:
        raise InputError("--frame (frame=) applies to a cine; this is a series", path=folder)
    try:
        scan = read_classic_series(headers, str(folder), allow_resampling)
    except DicomSeriesError as exc:
        if contents.unreadable:  # a "gap" may just be the unreadable file
            raise DicomSeriesError(
                f"{exc.problem}; note: {contents.unreadable_note()}", path=exc.path, hint=exc.hint
            ) from exc
        raise
    if contents.unreadable:
        scan = scan.with_warning(contents.unreadable_note())
    return scan


__all__ = ["parse_dicom_date", "read_dicom_file", "read_dicom_folder", "read_multiframe"]
