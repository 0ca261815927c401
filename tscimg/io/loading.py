"""The one entry point for reading scans and masks, whatever the file format."""

from __future__ import annotations

import dataclasses
import numbers
import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from tscimg.core.errors import ImageReadError, InputError, MaskError
from tscimg.core.geometry import Geometry
from tscimg.core.mask import Mask
from tscimg.core.scan import Scan
from tscimg.io.atomic import atomic_file
from tscimg.io.dicom_headers import read_header
from tscimg.io.dicom_seg import read_dicom_seg
from tscimg.io.dicom_series import read_dicom_file, read_dicom_folder
from tscimg.io.file_checks import require_regular_file
from tscimg.io.formats import FileFormat
from tscimg.io.itk_messages import quiet_itk
from tscimg.io.volume_files import read_itk_file, read_nifti

SEGMENTATION_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"

PathLike = str | os.PathLike[str]


def _existing(path: PathLike) -> Path:
    """The path, once it is known to be a folder or a non-empty regular file (nothing opened).

    An empty path is refused (``Path("")`` is the current folder: a script's unset variable
    would read whatever series is there), and a path that does not exist because of a space or
    line break at either end says so (a list of paths saved with Windows line endings).
    """
    if not isinstance(path, str | os.PathLike):
        raise ImageReadError(
            f"a path must be a str or pathlib.Path, got {type(path).__name__}",
            hint="Pass the scan's or mask's file or folder path",
        )
    if not os.fspath(path).strip():
        raise ImageReadError(
            "the path is empty",
            path=None,
            hint="Pass a scan or mask path (an unset variable in a script gives an empty one); "
            "for the current folder, pass '.'",
        )
    p = Path(path)
    try:
        exists = p.exists()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a loop of links
        raise ImageReadError(f"not a usable path ({exc})", path=p) from exc
    if not exists:
        text = os.fspath(path)
        if text != text.strip():
            found = " (without them, it exists)" if Path(text.strip()).exists() else ""
            raise ImageReadError(
                f"no such file or folder: the path {text!r} begins or ends with a space or a "
                f"line break{found}",
                path=p,
                hint="Remove them (a list of paths saved with Windows line endings ends each "
                "with '\\r')",
            )
        raise ImageReadError("no such file or folder", path=p, hint="Check the path")
    if p.is_dir():
        return p
    if require_regular_file(p) == 0:
        raise ImageReadError("the file is empty", path=p)
    return p


def _require_finite_values(scan: Scan, path: Path) -> Scan:
    """Refuse a floating-point scan holding NaN or infinite voxels (they poison every statistic
    the segmentation takes, and ITK's NIfTI reader would have turned NaN into 0)."""
    if scan.image.GetPixelID() not in (sitk.sitkFloat32, sitk.sitkFloat64):
        return scan
    values = sitk.GetArrayViewFromImage(scan.image)
    bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    if bad:
        raise ImageReadError(
            f"{bad} voxel(s) hold NaN or infinity, not a measured value",
            path=path,
            hint="Replace them with a real value (e.g. the background's) and save the image again",
        )
    return scan


def load_scan(
    path: PathLike,
    *,
    series_uid: str | None = None,
    allow_resampling: bool = False,
    frame: int | None = None,
) -> Scan:
    """Load a scan from a DICOM folder or file, NIfTI, NRRD or MetaImage.

    Parameters
    ----------
    path
        A DICOM folder (may hold several series), a DICOM file (single or multi-frame),
        ``.nii``/``.nii.gz``, ``.nrrd``/``.nhdr`` or ``.mha``/``.mhd``.
    series_uid
        The series to read when a DICOM folder holds several. Given with a DICOM file, the
        file must belong to it; given with NIfTI, NRRD or MetaImage (which have no series),
        it is refused rather than ignored.
    allow_resampling
        Interpolate across missing slices or irregular slice steps instead of raising.
    frame
        For an ultrasound cine: the frame to read (0-based; default 0, with a warning).

    Returns
    -------
    Scan
        Pixels with LPS geometry and metadata; ``scan.warnings`` lists what loading
        corrected or left out.

    Raises
    ------
    InputError
        With the file and the problem: unreadable, not a regular file (a pipe, a device),
        shorter than its header promises, a header readers would disagree on, implausible
        geometry (:meth:`~tscimg.core.geometry.Geometry.require_plausible`), NaN or infinite
        voxels, several series, a gap, etc. (docs/loading.md, "What is refused").
    """
    p = _existing(path)
    if frame is not None:
        if isinstance(frame, bool) or not isinstance(frame, numbers.Integral):
            raise InputError(
                f"frame must be a whole frame number (0-based), got {frame!r}",
                path=p,
                hint="Pass frame=0 for a cine's first frame, or leave it out",
            )
        frame = int(frame)  # a numpy integer indexes like an int
    fmt = FileFormat.of(p)
    if fmt is FileFormat.DICOM_FOLDER:
        scan = read_dicom_folder(
            p, series_uid=series_uid, allow_resampling=allow_resampling, frame=frame
        )
    elif fmt is FileFormat.DICOM_FILE:
        scan = read_dicom_file(p, allow_resampling=allow_resampling, frame=frame)
    elif frame is not None:
        raise InputError("--frame (frame=) selects a frame of a DICOM cine", path=p)
    elif series_uid is not None:
        raise InputError(
            f"--series (series_uid=) picks a series in a DICOM folder; this is a {fmt.label} "
            "file, which holds no series UID",
            path=p,
            hint="Leave out --series, or pass the DICOM folder that holds that series",
        )
    else:
        image, warnings = _read_volume_file(p, fmt)
        scan = Scan(image, source=str(p), warnings=warnings)
    if series_uid is not None and scan.series_uid != series_uid:
        raise InputError(
            f"the file belongs to series {scan.series_uid or '(no UID)'}, not to the series "
            f"{series_uid} asked for",
            path=p,
            hint="Pass a file of that series, its folder, or leave out --series",
        )
    scan.geometry.require_plausible(str(p))
    return _require_finite_values(scan, p)


def _read_volume_file(p: Path, fmt: FileFormat) -> tuple[sitk.Image, tuple[str, ...]]:
    if fmt is FileFormat.NIFTI:
        return read_nifti(p)
    return read_itk_file(p)


def load_mask(path: PathLike, reference: Scan | None = None, segment: int | None = None) -> Mask:
    """Load a label map (NIfTI, NRRD, MHA) or a DICOM SEG as a mask.

    A DICOM SEG needs ``reference``, the scan it was drawn on: it is placed on that scan's
    grid through FrameOfReferenceUID and plane positions; ``segment`` reads one of its
    segments alone and whole (overlapping segments share voxels, which a label map of all of
    them gives to one; :func:`~tscimg.io.dicom_seg.read_dicom_seg`). A label map given with a
    reference must hold the reference's voxels: on its grid, or with its axes in another order
    or reversed (a label map saved RAS-first for a scan read from DICOM), when its labels are
    reordered onto the grid with a warning (:meth:`~tscimg.Mask.placed_on`); nothing is
    resampled.

    Raises
    ------
    MaskError
        When the file is not a usable mask, or ``reference`` is not a :class:`~tscimg.Scan`.
    GeometryMismatchError
        When a label map does not hold ``reference``'s voxels.
    """
    p = _existing(path)
    if reference is not None and not isinstance(reference, Scan):
        raise MaskError(
            f"reference must be the tscimg.Scan the mask was drawn on, got "
            f"{type(reference).__name__}",
            path=p,
            hint="Load it first: load_mask(path, reference=tscimg.load_scan(scan_path))",
        )
    fmt = FileFormat.of(p)
    if fmt is FileFormat.DICOM_FILE:
        if read_header(p).sop_class_uid != SEGMENTATION_SOP_CLASS:
            raise MaskError("this DICOM file is not a Segmentation (SEG)", path=p)
        if reference is None:
            raise MaskError(
                "a DICOM SEG can only be placed on the scan it was drawn on",
                path=p,
                hint="Pass that scan (--image, or reference= in Python)",
            )
        return read_dicom_seg(p, reference, segment)
    if segment is not None:
        raise MaskError(
            "segment= picks a segment of a DICOM SEG; this is a label map",
            path=p,
            hint="Measure one of its labels with label= (tscimg measure --label N)",
        )
    if fmt is FileFormat.DICOM_FOLDER:
        raise MaskError("a mask must be one file, not a folder", path=p)
    image, warnings = _read_volume_file(p, fmt)
    Geometry.of(image).require_plausible(str(p))
    mask = _label_image_as_mask(image, p)
    if warnings:
        mask = dataclasses.replace(mask, warnings=(*mask.warnings, *warnings))
    if reference is not None:
        mask = mask.placed_on(reference.geometry, reference.source or "the scan")
    return mask


_UNSIGNED = (sitk.sitkUInt8, sitk.sitkUInt16, sitk.sitkUInt32, sitk.sitkUInt64)


def _label_image_as_mask(image: sitk.Image, p: Path) -> Mask:
    """A label image as a mask: kept as is when already unsigned integer (no copy)."""
    if image.GetPixelID() in _UNSIGNED:
        return Mask(image, source=str(p))
    values = sitk.GetArrayViewFromImage(image)
    if not np.issubdtype(values.dtype, np.integer):
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        if bad:
            raise MaskError(
                f"the mask holds {bad} NaN or infinite voxel(s); a mask is a label map "
                "(0 = background, 1, 2, ... = labels)",
                path=p,
                hint="Replace them with 0 or a label and save the mask again",
            )
        if not np.all(values == np.round(values)):
            raise MaskError(
                "the mask holds non-integer values; a mask is a label map (0 = background)",
                path=p,
                hint="Threshold or round it into integer labels first",
            )
        values = values.astype(np.int64)
    if values.size and values.min() < 0:
        raise MaskError(
            f"the file holds negative values (down to {values.min():g}): a mask is a label map "
            "(0 = background, 1, 2, ... = lesions), so this looks like a scan, not a mask",
            path=p,
            hint="To measure a lesion in a scan, segment it first (tscimg segment SCAN -o "
            "MASK.nii.gz --point i,j,k) and measure that mask",
        )
    return Mask.from_array(values, Geometry.of(image), source=str(p))


#: The extensions :func:`write_volume` writes, as ITK recognises them (lower case).
WRITTEN_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")


def write_volume(image: sitk.Image | Scan | Mask, path: PathLike) -> Path:
    """Write an image, scan or mask to ``.nii``/``.nii.gz``, ``.nrrd`` or ``.mha`` atomically.

    The extension is matched in any case (``MASK.NII.GZ``, ``mask.MHA``): the file is written
    under a lower-case temporary name, which ITK recognises, then renamed to ``path``.
    Detached formats (``.mhd``, ``.nhdr``) are refused: their data file would keep the
    temporary name.

    Raises
    ------
    InputError
        For another extension, a path that cannot be written, or ``image`` of another type
        (a numpy array has no geometry).
    """
    p = Path(path)
    suffix = next((s for s in WRITTEN_SUFFIXES if p.name.lower().endswith(s)), None)
    if suffix is None:
        raise InputError(
            f"cannot write an image or mask as {p.name!r}: tscimg writes .nii, .nii.gz, .nrrd "
            "and .mha files",
            path=p,
            hint="Name the output .nii.gz, .nrrd or .mha (a DICOM SEG: .dcm, with tscimg segment)",
        )
    if not isinstance(image, sitk.Image | Scan | Mask):
        raise InputError(
            f"write_volume writes a Scan, Mask or SimpleITK.Image, got {type(image).__name__}",
            path=p,
            hint="A numpy array has no geometry: wrap it with Scan.from_array(pixels, ...) or "
            "Mask.from_array(labels, scan.geometry) first",
        )
    img = image if isinstance(image, sitk.Image) else image.image
    with atomic_file(p, suffix=suffix) as tmp, quiet_itk():
        # quiet: MetaImage warns on stderr about each NIfTI header field it cannot keep
        sitk.WriteImage(img, str(tmp), useCompression=not suffix.startswith(".nii"))
    return p
