"""The one entry point for reading scans and masks, whatever the file format."""

from __future__ import annotations

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
from tscimg.io.formats import FileFormat
from tscimg.io.volume_files import read_itk_file, read_nifti

SEGMENTATION_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"

PathLike = str | os.PathLike[str]


def _existing(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise ImageReadError("no such file or folder", path=p, hint="Check the path")
    if p.is_file() and p.stat().st_size == 0:
        raise ImageReadError("the file is empty", path=p)
    return p


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
        The series to read when a DICOM folder holds several.
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
        With the file and the problem: unreadable, several series, a gap, etc.
    """
    p = _existing(path)
    fmt = FileFormat.of(p)
    if fmt is FileFormat.DICOM_FOLDER:
        return read_dicom_folder(
            p, series_uid=series_uid, allow_resampling=allow_resampling, frame=frame
        )
    if fmt is FileFormat.DICOM_FILE:
        return read_dicom_file(p, allow_resampling=allow_resampling, frame=frame)
    if frame is not None:
        raise InputError("--frame (frame=) selects a frame of a DICOM cine", path=p)
    image = read_nifti(p) if fmt is FileFormat.NIFTI else read_itk_file(p)
    return Scan(image, source=str(p))


def load_mask(path: PathLike, reference: Scan | None = None) -> Mask:
    """Load a label map (NIfTI, NRRD, MHA) or a DICOM SEG as a mask.

    A DICOM SEG needs ``reference``, the scan it was drawn on: it is placed on that scan's
    grid through FrameOfReferenceUID and plane positions. A label map given with a
    reference must already lie on the reference's grid.
    """
    p = _existing(path)
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
        return read_dicom_seg(p, reference)
    if fmt is FileFormat.DICOM_FOLDER:
        raise MaskError("a mask must be one file, not a folder", path=p)
    image = read_nifti(p) if fmt is FileFormat.NIFTI else read_itk_file(p)
    mask = _label_image_as_mask(image, p)
    if reference is not None:
        mask.require_on(reference.geometry, reference.source or "the scan")
    return mask


_UNSIGNED = (sitk.sitkUInt8, sitk.sitkUInt16, sitk.sitkUInt32, sitk.sitkUInt64)


def _label_image_as_mask(image: sitk.Image, p: Path) -> Mask:
    """A label image as a mask: kept as is when already unsigned integer (no copy)."""
    if image.GetPixelID() in _UNSIGNED:
        return Mask(image, source=str(p))
    values = sitk.GetArrayViewFromImage(image)
    if not np.issubdtype(values.dtype, np.integer):
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise MaskError(
                "the mask holds non-integer values; a mask is a label map (0 = background)",
                path=p,
                hint="Threshold or round it into integer labels first",
            )
        values = values.astype(np.int64)
    if values.size and values.min() < 0:
        raise MaskError("the mask holds negative labels", path=p)
    return Mask.from_array(values, Geometry.of(image), source=str(p))


def write_volume(image: sitk.Image | Scan | Mask, path: PathLike) -> Path:
    """Write an image, scan or mask to ``.nii``/``.nii.gz``, ``.nrrd`` or ``.mha`` atomically."""
    p = Path(path)
    fmt = FileFormat.of(p)
    if fmt not in (FileFormat.NIFTI, FileFormat.NRRD, FileFormat.METAIMAGE):
        raise ImageReadError(
            "cannot write this format here",
            path=p,
            hint="Use .nii.gz, .nrrd or .mha (DICOM output has its own writers)",
        )
    img = image if isinstance(image, sitk.Image) else image.image
    with atomic_file(p) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=fmt is not FileFormat.NIFTI)
    return p
