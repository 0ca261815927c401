"""Reading volume files: NIfTI (nibabel, for its sform/qform rules), NRRD and MHA/MHD (ITK)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from tscimg.core.errors import ImageReadError
from tscimg.core.geometry import Geometry
from tscimg.io.itk_messages import quiet_itk

#: Largest deviation from orthonormal direction cosines accepted in a NIfTI affine.
SHEAR_TOLERANCE = 1e-4

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def affine_ras_to_geometry(affine: np.ndarray, shape: tuple[int, ...], path: Path) -> Geometry:
    """Geometry (LPS) of a NIfTI voxel-to-RAS affine for an array of ``shape`` ``(i, j, k)``.

    Examples
    --------
    >>> a = np.array([[-0.7, 0, 0, 90], [0, -0.7, 0, 120], [0, 0, 5, -60], [0, 0, 0, 1.0]])
    >>> g = affine_ras_to_geometry(a, (4, 4, 3), Path("x.nii"))
    >>> g.spacing_mm, g.origin_lps, g.direction
    ((0.7, 0.7, 5.0), (-90.0, -120.0, -60.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    """
    lps = _RAS_TO_LPS @ np.asarray(affine, dtype=float)
    m = lps[:3, :3]
    spacing = np.linalg.norm(m, axis=0)
    if np.any(spacing <= 0):
        raise ImageReadError(
            "the NIfTI affine has a zero voxel size",
            path=path,
            hint="Fix the header (pixdim / sform) before loading",
        )
    direction = m / spacing
    error = np.abs(direction.T @ direction - np.eye(3)).max()
    if error > SHEAR_TOLERANCE:
        raise ImageReadError(
            f"the NIfTI affine is sheared (axes not perpendicular, deviation {error:.2g})",
            path=path,
            hint="Resample the image onto an orthogonal grid (e.g. with dcm2niix or "
            "nibabel.processing.resample_from_to) before loading",
        )
    return Geometry(
        size=tuple(int(v) for v in shape),
        spacing_mm=tuple(float(v) for v in spacing),
        origin_lps=tuple(float(v) for v in lps[:3, 3]),
        direction=tuple(float(v) for v in direction.ravel()),
    )


def read_nifti(path: Path) -> sitk.Image:
    """Read a NIfTI-1/2 file with the standard's affine choice (sform if set, else qform).

    The header and affine come from nibabel (the standard's rule); the pixels are decoded by
    ITK when it can (several times faster on .nii.gz), else by nibabel. Scaling
    (scl_slope / scl_inter) is applied. The 4th and later dimensions must be 1.
    """
    try:
        img = nib.load(str(path))
        shape = tuple(int(n) for n in img.shape)  # type: ignore[attr-defined]
    except Exception as exc:  # nibabel raises many types for broken headers
        raise ImageReadError(f"not a readable NIfTI file ({exc})", path=path) from exc
    if len(shape) > 3 and any(n != 1 for n in shape[3:]):
        raise ImageReadError(
            f"the NIfTI holds a {len(shape)}D array of shape {shape}; tscimg reads one 3D volume",
            path=path,
            hint="Extract one volume first (e.g. with nibabel's image slicer or fslroi)",
        )
    shape3 = (shape + (1, 1))[:3]
    geometry = affine_ras_to_geometry(img.affine, shape3, path)  # type: ignore[attr-defined]
    fast = _pixels_by_itk(path, shape3)
    if fast is not None:
        return geometry.apply_to(fast, copy=False)
    try:
        data = np.asanyarray(img.dataobj)  # type: ignore[attr-defined]
    except Exception as exc:
        raise ImageReadError(f"not a readable NIfTI file ({exc})", path=path) from exc
    data = data.reshape(shape3)
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(data, (2, 1, 0))))
    return geometry.apply_to(image, copy=False)


def _pixels_by_itk(path: Path, shape3: tuple[int, ...]) -> sitk.Image | None:
    """ITK's decoding of the NIfTI pixels (same values and order), or None if it cannot."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO("NiftiImageIO")
    try:
        with quiet_itk():
            image = reader.Execute()
    except RuntimeError:
        return None
    if image.GetNumberOfComponentsPerPixel() != 1:
        return None
    if image.GetDimension() == 4:
        image = image[:, :, :, 0]
    if image.GetDimension() != 3 or tuple(image.GetSize()) != tuple(shape3):
        return None
    if image.GetPixelID() == sitk.sitkFloat64:
        image = sitk.Cast(image, sitk.sitkFloat32)
    return image


def read_itk_file(path: Path) -> sitk.Image:
    """Read NRRD, MHA/MHD (or any format ITK knows) with SimpleITK."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise ImageReadError(f"could not be read as an image ({last})", path=path) from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(
            f"the image has {image.GetNumberOfComponentsPerPixel()} components per pixel; "
            "tscimg reads grey-level images",
            path=path,
            hint="Convert it to a single channel first",
        )
    if image.GetDimension() == 4:
        if image.GetSize()[3] != 1:
            raise ImageReadError(
                f"4D image of size {image.GetSize()}", path=path, hint="Extract one 3D volume first"
            )
        image = image[:, :, :, 0]
    return image
