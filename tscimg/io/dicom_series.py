"""Loading DICOM images: a folder of series, one classic file, or an enhanced multi-frame file."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

from tscimg.core.errors import DicomSeriesError, ImageReadError, InputError
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import Modality
from tscimg.io.dicom_headers import (
    DICOM_NAME_SUFFIXES,
    DICOMDIR_SOP_CLASS,
    ImageHeader,
    discover_series,
    joined_values,
    parse_dicom_date,
    quiet_pydicom,
    read_header,
    summarize,
)
from tscimg.io.file_checks import (
    irregularity,
    require_payload,
    require_regular_file,
    require_within_limit,
)
from tscimg.io.itk_messages import quiet_itk
from tscimg.io.slice_stack import (
    PositionedSlice,
    StackPlan,
    assemble,
    orientation_problem,
    pixel_spacing_problem,
    plan_stack,
)
from tscimg.io.ultrasound import read_ultrasound_cine


def _image_from_plan(array: np.ndarray, plan: StackPlan) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(plan.spacing_mm)
    image.SetOrigin(plan.origin_lps)
    image.SetDirection(plan.direction)
    return image


#: Direction cosines within this of each other are one orientation (scanners write the last
#: digits as they come: 0.1235 +- 2e-6 from slice to slice, which rounding to 3 decimals split
#: into two "orientations" either side of 0.1235, leaving half the slices out).
ORIENTATION_MATCH_TOLERANCE = 1e-3
#: Pixel spacings within this (mm) of each other are one spacing.
PIXEL_SPACING_TOLERANCE_MM = 1e-4


def _close(a: Sequence[float] | None, b: Sequence[float] | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def _same_orientation(h: ImageHeader, main: ImageHeader) -> bool:
    return _close(h.orientation, main.orientation, ORIENTATION_MATCH_TOLERANCE)


def _same_pixel_spacing(h: ImageHeader, main: ImageHeader) -> bool:
    return _close(h.pixel_spacing, main.pixel_spacing, PIXEL_SPACING_TOLERANCE_MM)


def _same_stack(h: ImageHeader, main: ImageHeader) -> bool:
    """Whether two files can be slices of one stack: their orientation and pixel spacing agree
    within the tolerances, their matrices exactly."""
    return (
        (h.rows, h.columns) == (main.rows, main.columns)
        and _same_orientation(h, main)
        and _same_pixel_spacing(h, main)
    )


@dataclass(frozen=True)
class StackChoice:
    """The files of a series that form its stack, and those left out (with why)."""

    chosen: list[ImageHeader]
    warnings: list[str]
    left_out: dict[Path, str]
    others: list[ImageHeader] = field(default_factory=list)

    def left_out_note(self) -> str:
        """For a gap error: the files left out, which may be the missing slices."""
        if not self.left_out:
            return ""
        shown = "; ".join(f"{p.name}: {why}" for p, why in list(self.left_out.items())[:5])
        more = f"; and {len(self.left_out) - 5} more" if len(self.left_out) > 5 else ""
        return f"{len(self.left_out)} file(s) of this series were left out ({shown}{more})"


def _header_problems(h: ImageHeader) -> list[str]:
    """Why a file that belongs to the stack cannot be placed or scaled (empty when it can)."""
    problems = list(h.problems)
    if not h.problems:
        missing = [
            name
            for name, value in (
                ("ImagePositionPatient", h.position),
                ("ImageOrientationPatient", h.orientation),
                ("PixelSpacing", h.pixel_spacing),
            )
            if value is None
        ]
        if missing:
            problems.append(f"{' and '.join(missing)} missing")
    if h.orientation is not None and (why := orientation_problem(h.orientation)):
        problems.append(why)
    if h.pixel_spacing is not None and (why := pixel_spacing_problem(h.pixel_spacing)):
        problems.append(why)
    return problems


def _difference(h: ImageHeader, main: ImageHeader) -> str:
    """How a file differs from the stack it was left out of."""
    out = []
    if not _same_orientation(h, main):
        out.append("another orientation")
    if (h.rows, h.columns) != (main.rows, main.columns):
        out.append(f"matrix {h.columns}x{h.rows} (the stack's {main.columns}x{main.rows})")
    if not _same_pixel_spacing(h, main) and h.pixel_spacing is not None:
        mine = "\\".join(f"{v:g}" for v in h.pixel_spacing)
        theirs = "\\".join(f"{v:g}" for v in main.pixel_spacing or ())
        out.append(f"PixelSpacing {mine} (the stack's {theirs})")
    return ", ".join(out) or "another orientation or matrix size"


def _select_stack(headers: Sequence[ImageHeader], source: str) -> StackChoice:
    """Leave out localizers, files without geometry and files of another orientation, matrix
    or pixel spacing (with warnings); refuse files whose geometry or rescale is damaged (a
    malformed, missing or non-finite position, orientation, spacing, slope or intercept).

    A damaged file is never left out silently: left out, an end slice would shorten the volume
    and an inner one open a gap.
    """
    warnings: list[str] = []
    left_out: dict[Path, str] = {}
    localizers = [h for h in headers if h.is_localizer]
    rest = [h for h in headers if not h.is_localizer]
    if localizers:
        names = ", ".join(h.path.name for h in localizers[:5])
        warnings.append(f"{len(localizers)} localizer image(s) left out ({names})")
        left_out.update({h.path: "a localizer" for h in localizers})
    if not rest:
        raise DicomSeriesError(
            "the series holds only localizer images",
            path=source,
            hint="Choose the diagnostic series with --series",
        )
    placed = [h for h in rest if h.has_any_geometry]
    if not placed:
        names = ", ".join(h.path.name for h in rest[:3]) + (", ..." if len(rest) > 3 else "")
        raise DicomSeriesError(
            "the images carry no patient geometry (ImageOrientationPatient, "
            f"ImagePositionPatient and PixelSpacing missing in {names})",
            path=source,
            hint="Export the series with its geometry, or convert it to NIfTI with dcm2niix",
        )
    unplaced = [h for h in rest if not h.has_any_geometry]
    if unplaced:
        names = ", ".join(h.path.name for h in unplaced[:5])
        warnings.append(
            f"{len(unplaced)} image(s) without patient geometry left out ({names}): "
            "secondary captures or screenshots have no place in a volume"
        )
        left_out.update({h.path: "no patient geometry" for h in unplaced})
    for h in placed:
        problems = _header_problems(h)
        if problems:
            raise DicomSeriesError(
                "; ".join(problems),
                path=h.path,
                hint="The file's header is damaged: re-export the series, or remove this file "
                "if it does not belong to it",
            )
    # each file joins the first group whose first file it agrees with (within tolerances)
    groups: list[list[ImageHeader]] = []
    for h in placed:
        group = next((g for g in groups if _same_stack(h, g[0])), None)
        if group is None:
            groups.append([h])
        else:
            group.append(h)
    chosen = max(groups, key=len)
    others = [h for g in groups if g is not chosen for h in g]
    if others:
        names = ", ".join(h.path.name for h in others[:5])
        warnings.append(
            f"{len(others)} file(s) of another orientation or matrix size left out ({names})"
        )
        left_out.update({h.path: _difference(h, chosen[0]) for h in others})
    return StackChoice(chosen, warnings, left_out, others)


def _refuse_left_out_end_slices(choice: StackChoice, plan: StackPlan) -> None:
    """Refuse a file left out for its matrix or pixel spacing that lies where the stack's next
    slice would be, one step beyond either end: the volume would silently lose that slice
    (inside the stack, such a file leaves a gap, which is refused with a note naming it)."""
    normal = np.asarray(plan.normal)
    origin = np.asarray(plan.origin_lps)
    last = plan.along_normal_mm[-1]
    step = plan.step_mm
    for h in choice.others:
        if h.position is None or h.orientation is None or plan.slice_count < 2:
            continue
        row, col = np.asarray(h.orientation[:3]), np.asarray(h.orientation[3:])
        if abs(abs(float(np.cross(row, col) @ normal)) - 1.0) > 1e-3:
            continue  # another orientation: another image, not a slice of this stack
        z = float((np.asarray(h.position) - origin) @ normal)
        if -1.5 * step < z < -0.5 * step or last + 0.5 * step < z < last + 1.5 * step:
            raise DicomSeriesError(
                f"{h.path.name} lies where the stack's next slice would be ({z:.2f} mm along "
                f"the slice normal) but was left out ({choice.left_out[h.path]}): the volume "
                "would be cut short",
                path=h.path,
                hint="Re-export the series, or remove the file if it does not belong to it",
            )


#: Compressed DICOM pixel data promising more than this many bytes, and more than
#: :data:`_MAX_COMPRESSION` times its file's size, has damaged size fields (RLE compresses at
#: most 64:1, deflate about 1000:1); refusing it keeps the decoder from allocating the promise.
_LARGE_PIXEL_BYTES = 64 * 2**20
_MAX_COMPRESSION = 10_000


def require_pixel_data(headers: Sequence[ImageHeader]) -> None:
    """Refuse, before decoding, files whose pixel data cannot be what their header promises.

    The promised size must stay within :data:`~tscimg.io.file_checks.MAX_PIXEL_BYTES` (a damaged
    Rows or Columns would otherwise make the decoder allocate tens of gigabytes), and a file
    stored uncompressed must be at least that long (a shorter one is truncated).
    """
    total = 0
    for h in headers:
        require_within_limit(h.path, h.pixel_bytes, [h.columns, h.rows, h.number_of_frames])
        size = h.path.stat().st_size
        if h.is_uncompressed:
            require_payload(h.path, h.pixel_bytes, size, "pixel data")
        elif h.pixel_bytes > _LARGE_PIXEL_BYTES and h.pixel_bytes > _MAX_COMPRESSION * size:
            raise ImageReadError(
                f"the header promises {h.pixel_bytes} bytes of pixels ({h.columns} x {h.rows} x "
                f"{h.number_of_frames}), more than {_MAX_COMPRESSION} times the file's "
                f"{size} bytes: Rows, Columns or NumberOfFrames are damaged, or the file is cut "
                "short",
                path=h.path,
                hint="Re-export the file",
            )
        total += h.pixel_bytes
    if headers:
        require_within_limit(
            headers[0].path.parent, total, f"{len(headers)} files of {headers[0].pixel_bytes} bytes"
        )


def _scan_metadata(h: ImageHeader) -> dict[str, object]:
    return {
        "modality": Modality.from_dicom(h.modality),
        "acquisition_date": h.acquisition_date,
        "study_uid": h.study_uid,
        "series_uid": h.series_uid or None,
        "frame_of_reference_uid": h.frame_of_reference_uid,
        "manufacturer": h.manufacturer,
        "slice_thickness_mm": h.slice_thickness_mm,
        "reconstruction_kernel": h.reconstruction_kernel,
        "field_strength_t": h.field_strength_t,
    }


def _read_pixels(headers: Sequence[ImageHeader]) -> np.ndarray:
    """Pixels ``[n, rows, cols]`` of single-frame files in the given order, rescale applied.

    ITK (GDCM) decodes every common transfer syntax, but turns MONOCHROME1 ("minimum is
    white") into MONOCHROME2 by inverting the values over the bit depth: a display convention
    that would shift CT numbers by thousands of HU. Series holding MONOCHROME1 files are
    therefore decoded by pydicom, with pydicom's rescale.
    """
    paths = [h.path for h in headers]
    if any(h.photometric == "MONOCHROME1" for h in headers):
        return _pixels_by_pydicom(paths)
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
    # narrowed straight from ITK's buffer (a view, valid while ``image`` lives): one copy of
    # the pixels instead of two; where nothing is narrowed the view is copied
    view = sitk.GetArrayViewFromImage(image).reshape(len(paths), -1, image.GetSize()[0])
    narrowed = _narrowed(view)
    return narrowed.copy() if np.shares_memory(narrowed, view) else narrowed


def _pixels_by_pydicom(paths: Sequence[Path]) -> np.ndarray:
    """Pixels ``[n, rows, cols]`` decoded by pydicom, the modality LUT (rescale) applied."""
    slices = []
    for path in paths:
        try:
            with quiet_pydicom():
                ds = pydicom.dcmread(path)
                values = apply_modality_lut(ds.pixel_array, ds)
        except Exception as exc:  # pydicom raises many types for damaged or unsupported data
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ImageReadError(
                f"the pixel data could not be decoded ({reason})",
                path=path,
                hint="The file may be truncated or use a transfer syntax pydicom cannot decode "
                "here (pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg)",
            ) from exc
        if values.ndim != 2:
            raise ImageReadError(
                f"expected one grey frame, found pixel data of shape {values.shape}", path=path
            )
        slices.append(np.asarray(values))
    stack = np.stack(slices)
    if stack.dtype.kind == "f":
        if np.all(stack == np.round(stack)) and np.abs(stack).max(initial=0) < 2**31:
            return _narrowed(stack.astype(np.int32))
        return stack.astype(np.float32)
    return _narrowed(stack.astype(np.int32))


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
    choice = _select_stack(headers, source)
    chosen, warnings = choice.chosen, choice.warnings
    require_pixel_data(chosen)
    slices = [
        PositionedSlice(n, tuple(h.position), h.path.name)  # type: ignore[arg-type]
        for n, h in enumerate(chosen)
    ]

    def pixels(key: int) -> np.ndarray:
        with quiet_pydicom():
            return pydicom.dcmread(chosen[key].path).pixel_array

    first = chosen[0]
    try:
        plan = plan_stack(
            slices,
            first.orientation,  # type: ignore[arg-type]
            first.pixel_spacing,  # type: ignore[arg-type]
            source,
            pixels,
            allow_resampling=allow_resampling,
            single_slice_step_mm=first.slice_thickness_mm,
        )
    except DicomSeriesError as exc:
        if choice.left_out and exc.problem.startswith("gap"):  # the gap may be a left-out file
            raise DicomSeriesError(
                f"{exc.problem}; note: {choice.left_out_note()}", path=exc.path, hint=exc.hint
            ) from exc
        raise
    _refuse_left_out_end_slices(choice, plan)
    stack = _read_pixels([chosen[k] for k in plan.order])
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
    require_regular_file(path)
    try:
        with quiet_pydicom():
            ds = pydicom.dcmread(path)
    except Exception as exc:  # pydicom raises several unrelated types for broken files
        raise ImageReadError(f"not a readable DICOM file ({exc})", path=path) from exc
    header = ImageHeader.from_dataset(ds, path)
    require_pixel_data([header])
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
        with quiet_pydicom():
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

    if not any(
        _functional_group(item, shared, "PlanePositionSequence") is not None for item in per_frame
    ):  # no frame is placed in the patient at all (a cine with functional groups)
        return _read_without_geometry(path, header)
    if len(per_frame) != len(frames):
        raise DicomSeriesError(
            f"the object holds {len(frames)} frames of pixels but {len(per_frame)} per-frame "
            "functional groups (one per frame is required)",
            path=path,
            hint="The file is damaged or cut short: re-export it",
        )
    frame_geometry = [
        _frame_geometry(item, shared, ds, n, path) for n, item in enumerate(per_frame)
    ]
    first = frame_geometry[0]
    # within tolerances: the last digits of a header's cosines and spacings jitter
    orientations = [first.orientation] + [
        g.orientation
        for g in frame_geometry
        if not _close(g.orientation, first.orientation, ORIENTATION_MATCH_TOLERANCE)
    ]
    if len(orientations) != 1:
        raise DicomSeriesError(
            f"the frames have {len(set(orientations))} different orientations",
            path=path,
            hint="Split the multi-frame object into one stack per orientation first",
        )
    spacings = [first.pixel_spacing] + [
        g.pixel_spacing
        for g in frame_geometry
        if not _close(g.pixel_spacing, first.pixel_spacing, PIXEL_SPACING_TOLERANCE_MM)
    ]
    if len(spacings) != 1:
        raise DicomSeriesError(
            f"the frames have {len(set(spacings))} different pixel spacings",
            path=path,
            hint="Split the multi-frame object into one stack per pixel spacing first",
        )
    slices = [
        PositionedSlice(n, g.position, f"frame {n + 1}") for n, g in enumerate(frame_geometry)
    ]
    values = _apply_rescale(frames, [g.rescale for g in frame_geometry])
    plan = plan_stack(
        slices,
        frame_geometry[0].orientation,
        frame_geometry[0].pixel_spacing,
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
        thickness = None if first_meas is None else _finite(first_meas.get("SliceThickness"))
        if thickness is not None and thickness > 0:
            meta["slice_thickness_mm"] = thickness
    if meta["reconstruction_kernel"] is None:  # an enhanced CT keeps it in a functional group
        recon = _functional_group(per_frame[0], shared, "CTReconstructionSequence")
        if recon is not None:
            meta["reconstruction_kernel"] = joined_values(recon.get("ConvolutionKernel"))
    return Scan(image, source=source, warnings=plan.warnings, **meta)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _FrameGeometry:
    orientation: tuple[float, ...]
    pixel_spacing: tuple[float, ...]
    position: tuple[float, float, float]
    rescale: tuple[float, float]


def _finite(value: object) -> float | None:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _finite_values(value: object, count: int) -> tuple[float, ...] | None:
    try:
        out = tuple(_finite(v) for v in value)  # type: ignore[attr-defined]
    except TypeError:
        return None
    if len(out) != count or any(v is None for v in out):
        return None
    return tuple(float(v) for v in out)  # type: ignore[arg-type]


def _frame_geometry(
    item: Dataset, shared: Dataset, ds: Dataset, n: int, path: Path
) -> _FrameGeometry:
    """Frame ``n``'s plane, pixel spacing and rescale; refuses what is missing or malformed."""
    orient = _functional_group(item, shared, "PlaneOrientationSequence")
    pos = _functional_group(item, shared, "PlanePositionSequence")
    meas = _functional_group(item, shared, "PixelMeasuresSequence")
    values = {
        "ImageOrientationPatient": (
            None if orient is None else orient.get("ImageOrientationPatient"),
            6,
        ),
        "ImagePositionPatient": (None if pos is None else pos.get("ImagePositionPatient"), 3),
        "PixelSpacing": (None if meas is None else meas.get("PixelSpacing"), 2),
    }
    parsed: dict[str, tuple[float, ...]] = {}
    for keyword, (raw, count) in values.items():
        numbers = None if raw is None else _finite_values(raw, count)
        if numbers is None:
            what = "missing" if raw is None else f"{list(raw)} is not {count} finite numbers"
            raise DicomSeriesError(
                f"frame {n + 1}: {keyword} {what} (per-frame and shared functional groups)",
                path=path,
                hint="The multi-frame object is damaged: re-export it",
            )
        parsed[keyword] = numbers
    pvt = _functional_group(item, shared, "PixelValueTransformationSequence")
    source = pvt if pvt is not None else ds
    slope_raw, intercept_raw = source.get("RescaleSlope", 1.0), source.get("RescaleIntercept", 0.0)
    slope, intercept = _finite(slope_raw), _finite(intercept_raw)
    if slope is None or slope == 0 or intercept is None:
        raise DicomSeriesError(
            f"frame {n + 1}: RescaleSlope {slope_raw} / RescaleIntercept {intercept_raw} cannot "
            "scale its pixels (a slope must be a non-zero number, an intercept a number)",
            path=path,
            hint="The multi-frame object is damaged: re-export it",
        )
    position = parsed["ImagePositionPatient"]
    return _FrameGeometry(
        parsed["ImageOrientationPatient"],
        parsed["PixelSpacing"],
        (position[0], position[1], position[2]),
        (slope, intercept),
    )


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
    if header.sop_class_uid == DICOMDIR_SOP_CLASS:
        raise ImageReadError(
            "this is a DICOMDIR (an index of the files on a medium), not an image",
            path=path,
            hint="Pass the folder that holds the series' files (or the folder of the DICOMDIR)",
        )
    size_problems = [p for p in header.problems if p.startswith(("Rows", "Columns"))]
    if size_problems:
        raise ImageReadError(f"damaged header: {'; '.join(size_problems)}", path=path)
    if not header.sop_class_uid and header.rows == 0:
        raise ImageReadError(
            f"no image header after the DICOM preamble (the file has {path.stat().st_size} "
            "bytes): it is cut short, or holds no image",
            path=path,
            hint="Copy or export the file again",
        )
    if not header.is_image:
        raise ImageReadError(
            f"this DICOM object (SOP class {header.sop_class_uid}) is not an image",
            path=path,
            hint="A segmentation (DICOM SEG) is read with load_mask (on the command line: "
            "tscimg measure SEG --image SCAN); scans with load_scan",
        )
    if header.number_of_frames > 1 or header.has_per_frame_groups or header.modality == "US":
        return read_multiframe(path, allow_resampling, frame)
    if frame is not None:
        raise InputError("--frame (frame=) applies to a cine; this file is one image", path=path)
    scan = read_classic_series([header], str(path), allow_resampling)
    sibling = _another_slice_beside(header)
    if sibling is not None:
        scan = scan.with_warning(
            f"this file is one slice of a series: {sibling.name} beside it is another slice of "
            f"the same series ({header.series_uid}); one slice is measured as a 2D frame (by "
            f"area), not as a volume. Pass the folder ({path.parent}) to read the whole series"
        )
    return scan


#: Files beside a single slice examined, at most, for another slice of its series.
SIBLINGS_EXAMINED = 64


def _another_slice_beside(header: ImageHeader) -> Path | None:
    """A file in the same folder holding another slice (another position) of ``header``'s
    series, or ``None``; at most :data:`SIBLINGS_EXAMINED` files are examined, and only regular
    files are opened (a pipe could block)."""
    if not header.series_uid or header.position is None:
        return None
    try:
        siblings = sorted(p for p in header.path.parent.iterdir() if p != header.path)
    except OSError:
        return None
    examined = 0
    for sibling in siblings:
        if examined >= SIBLINGS_EXAMINED:
            break
        if irregularity(sibling) is not None:
            continue
        if sibling.suffix.lower() not in DICOM_NAME_SUFFIXES and sibling.suffix:
            continue
        examined += 1
        try:
            other = read_header(sibling)
        except ImageReadError:
            continue
        if (
            other.series_uid == header.series_uid
            and other.is_image
            and other.position is not None
            and other.position != header.position
        ):
            return sibling
    return None


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
            hint="Choose one with --series UID (series_uid= in Python); a track manifest's "
            "image names a folder of one series: move each series into a folder of its own "
            "(tscimg segment FOLDER --series UID reads one in place)",
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
