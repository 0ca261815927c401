"""Reading volume files: NIfTI (nibabel, for its sform/qform rules), NRRD and MHA/MHD (ITK)."""

from __future__ import annotations

import logging
import math
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from nibabel.openers import ImageOpener

from tscimg.core.errors import ImageReadError
from tscimg.core.geometry import Geometry
from tscimg.io.file_checks import (
    gzip_payload_bytes,
    irregularity,
    require_payload,
    require_within_limit,
    zlib_payload_bytes,
)
from tscimg.io.itk_messages import itk_reason, quiet_itk

#: Largest deviation from orthonormal direction cosines accepted in a NIfTI affine.
SHEAR_TOLERANCE = 1e-4
_NIFTI1_BYTES = 348
_NIFTI2_BYTES = 540

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
    if not np.all(np.isfinite(affine)):
        raise ImageReadError(
            "the NIfTI affine holds values that are not numbers (NaN or infinity)",
            path=path,
            hint="Fix the header (pixdim / qform / sform) before loading",
        )
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


@contextmanager
def _quiet_nibabel() -> Iterator[None]:
    """Keep nibabel's header-repair messages off stderr (tscimg checked the header itself).

    nibabel's own LoggingOutputSuppressor loses the handler it removes, after which Python's
    last-resort handler prints every message; disabling the logger has no such effect.
    """
    logger = logging.getLogger("nibabel.global")
    before = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = before


def _reason(exc: BaseException) -> str:
    """An exception as words for a message (its type when it carries no text)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__


def _require_named_compression(path: Path) -> None:
    """Refuse a NIfTI whose name says the opposite of its compression (a renamed file):
    the readers choose gzip by the name, and failed with 'Not a gzipped file' or 'no n+1
    magic', saying nothing of the name."""
    with path.open("rb") as handle:
        start = handle.read(_NIFTI1_BYTES)
    gzipped = start[:2] == b"\x1f\x8b"
    named = path.name.lower().endswith(".gz")
    plain_nifti = start[344:347] == b"n+1" or start[4:7] == b"n+2"
    if gzipped == named or (named and not plain_nifti):
        return  # as named, or damaged whatever its name (the header check says how)
    right = path.name[: -len(".gz")] if named else f"{path.name}.gz"
    raise ImageReadError(
        f"the file is {'not ' if named else ''}gzip-compressed, but its name ends in "
        f"{'.nii.gz' if named else '.nii'}",
        path=path,
        hint=f"Rename it {right!r} (readers choose decompression by the name)",
    )


def _raw_nifti_header(path: Path) -> nib.Nifti1Header:
    """The header exactly as stored (nibabel's fixes not applied), NIfTI-1 or NIfTI-2."""
    _require_named_compression(path)
    try:
        with ImageOpener(str(path)) as handle:
            block = handle.read(_NIFTI2_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise ImageReadError(f"not a readable NIfTI file ({_reason(exc)})", path=path) from exc
    if len(block) < _NIFTI1_BYTES:
        raise ImageReadError(
            f"the file is truncated: it ends inside its NIfTI header ({len(block)} of "
            f"{_NIFTI1_BYTES} bytes)",
            path=path,
            hint="Copy or download the file again, or re-export it",
        )
    klass: type[nib.Nifti1Header]
    if block[344:347] == b"n+1":
        klass = nib.Nifti1Header
    elif block[4:7] == b"n+2" and len(block) >= _NIFTI2_BYTES:
        klass = nib.Nifti2Header
    else:
        raise ImageReadError(
            "not a single-file NIfTI: no 'n+1' (NIfTI-1) or 'n+2' (NIfTI-2) magic; the header "
            "is damaged, or it is another format (an .hdr/.img pair renamed, Analyze)",
            path=path,
            hint="Re-export the image as NIfTI",
        )
    sizes = {int.from_bytes(block[:4], order) for order in ("little", "big")}
    if klass.sizeof_hdr not in sizes:
        stored = int.from_bytes(block[:4], "little")
        raise ImageReadError(
            f"damaged NIfTI header: its size field sizeof_hdr is {stored} where "
            f"{'NIfTI-1' if klass is nib.Nifti1Header else 'NIfTI-2'} has {klass.sizeof_hdr}",
            path=path,
            hint="Re-export the image as NIfTI",
        )
    try:
        header = klass(block[: klass.sizeof_hdr], check=False)
    except Exception as exc:  # nibabel raises several types for a damaged block
        raise ImageReadError(f"not a readable NIfTI header ({_reason(exc)})", path=path) from exc
    return header


def _nifti_header_problems(header: nib.Nifti1Header) -> tuple[list[str], list[str]]:
    """(refusals, warnings) about a raw NIfTI header: what readers would disagree on."""
    problems: list[str] = []
    warnings: list[str] = []
    dim = [int(v) for v in header["dim"]]
    ndim = dim[0]
    if not 1 <= ndim <= 7:
        return [f"dim[0] (the number of dimensions) is {ndim}, not 1 to 7"], warnings
    if any(n < 1 for n in dim[1 : ndim + 1]):
        problems.append(f"the sizes {dim[1 : ndim + 1]} include an empty or negative axis")
    spatial = min(ndim, 3)
    pixdim = [round(float(v), 6) for v in header["pixdim"][1 : spatial + 1]]
    qform_code, sform_code = int(header["qform_code"]), int(header["sform_code"])
    if not all(math.isfinite(v) for v in pixdim):
        problems.append(f"the voxel sizes pixdim[1:{spatial + 1}] {pixdim} are not all numbers")
    elif sform_code <= 0 and any(v <= 0 for v in pixdim):
        source = "through the qform" if qform_code > 0 else "alone (no qform, no sform)"
        problems.append(
            f"the voxel sizes pixdim[1:{spatial + 1}] {pixdim} are not all positive and define "
            f"the geometry {source}: readers disagree on what that means (nibabel takes "
            "absolute values or 1, ITK its own reading)"
        )
    if sform_code > 0:
        srows = np.array([header["srow_x"], header["srow_y"], header["srow_z"]], dtype=float)
        if not np.all(np.isfinite(srows)):
            problems.append("the sform (srow_x/y/z) holds values that are not numbers")
        elif all(math.isfinite(v) for v in pixdim):
            norms = np.linalg.norm(srows[:, :3], axis=0)[:spatial]
            if np.abs(norms - np.asarray(pixdim)).max() > 1e-3 * max(1.0, float(norms.max())):
                warnings.append(
                    f"pixdim {[round(v, 6) for v in pixdim]} disagrees with the sform's voxel "
                    f"sizes {[round(float(v), 6) for v in norms]}: the sform is used (NIfTI "
                    "standard); ITK-based tools read this file with the pixdim sizes"
                )
            if qform_code > 0:
                warnings += _forms_disagree(header, dim[1 : spatial + 1])
    elif qform_code > 0:
        quatern = [float(header[k]) for k in ("quatern_b", "quatern_c", "quatern_d")]
        offsets = [float(header[k]) for k in ("qoffset_x", "qoffset_y", "qoffset_z")]
        qfac = float(header["pixdim"][0])
        if not all(math.isfinite(v) for v in quatern + offsets + [qfac]):
            problems.append(
                "the qform (quaternion, offsets or qfac) holds values that are not numbers"
            )
        elif sum(v * v for v in quatern) > 1.0 + 1e-4:
            problems.append(f"the qform quaternion (b, c, d) = {quatern} is longer than 1")
        elif qfac not in (-1.0, 0.0, 1.0):
            problems.append(
                f"qfac (pixdim[0]) is {qfac:g}, not 1 or -1: readers disagree on the handedness"
            )
    slope, inter = float(header["scl_slope"]), float(header["scl_inter"])
    if math.isfinite(slope) and slope != 0 and not math.isfinite(inter):
        problems.append(
            f"scl_inter is {inter} with scl_slope {slope:g}: the values cannot be scaled"
        )
    offset = float(header["vox_offset"])
    if not math.isfinite(offset) or offset < header.sizeof_hdr:
        problems.append(f"vox_offset {offset:g} lies inside the header")
    try:
        header.get_data_dtype()
    except Exception as exc:  # nibabel: HeaderDataError for unknown data type codes
        problems.append(f"the data type is unknown ({_reason(exc)})")
    return problems, warnings


#: Largest distance (mm) between a voxel placed by the sform and by the qform taken as the same:
#: above the float32 rounding of real headers (0.016 mm over an oblique 3D FLAIR of
#: ../shared/data/ms_pair), far below a voxel.
FORMS_AGREE_MM = 0.1


def _forms_disagree(header: nib.Nifti1Header, sizes: list[int]) -> list[str]:
    """A warning when a header's sform and qform (both set) place the image differently.

    The sform is used (the standard's choice), but ITK reads some such files by the qform
    (an sform code 2 'aligned' beside a qform code 1 'scanner'): ITK-SNAP or 3D Slicer would then
    show the image elsewhere, and points taken from them in LPS or RAS would miss.
    """
    try:
        qform = np.asarray(header.get_qform(), dtype=float)
        sform = np.asarray(header.get_sform(), dtype=float)
    except Exception:  # a damaged quaternion: its own check names it
        return []
    if not (np.all(np.isfinite(qform)) and np.all(np.isfinite(sform))):
        return []
    sizes3 = (list(sizes) + [1, 1, 1])[:3]
    corners = np.array(
        [(i, j, k, 1.0) for i in (0, sizes3[0] - 1) for j in (0, sizes3[1] - 1)
         for k in (0, sizes3[2] - 1)]
    )  # fmt: skip
    apart = float(np.linalg.norm((corners @ (sform - qform).T)[:, :3], axis=1).max())
    if apart <= FORMS_AGREE_MM:
        return []
    return [
        f"the sform and the qform place the image differently (corners up to {apart:.3g} mm "
        "apart): the sform is used (NIfTI standard), but ITK-based tools (ITK-SNAP, 3D Slicer) "
        "may read this file by the qform, and points taken from them in LPS or RAS would miss"
    ]


def _require_whole_nifti(path: Path, header: nib.Nifti1Header) -> None:
    """Refuse a NIfTI file that holds less pixel data than its header promises."""
    dim = [int(v) for v in header["dim"]]
    shape = tuple(dim[1 : dim[0] + 1])
    payload = int(np.prod(shape, dtype=object)) * header.get_data_dtype().itemsize
    require_within_limit(path, payload, list(shape))
    needed = int(float(header["vox_offset"])) + payload
    if path.name.lower().endswith(".gz"):
        available = gzip_payload_bytes(path, needed)
    else:
        available = os.stat(path).st_size
    require_payload(path, needed, available, "header and pixel data")


def read_nifti(path: Path) -> tuple[sitk.Image, tuple[str, ...]]:
    """Read a NIfTI-1/2 file with the standard's affine choice (sform if set, else qform).

    The header is checked as stored before nibabel (which repairs some damage silently) or ITK
    read it: a header that readers interpret differently (non-positive or non-numeric voxel
    sizes where they define the geometry, a non-numeric affine, an odd qfac) is refused, and so
    is a file shorter than its header promises (ITK would fill the rest with zeros). The affine
    comes from nibabel; the pixels are decoded by ITK when it can (several times faster on
    .nii.gz), else by nibabel, and always by nibabel for floating-point data (ITK turns NaN into
    0, which would hide it). Scaling (scl_slope / scl_inter) is applied. The 4th and later
    dimensions must be 1.

    Returns
    -------
    image, warnings
        The image with its LPS geometry, and what was read despite a doubt.
    """
    raw = _raw_nifti_header(path)
    problems, warnings = _nifti_header_problems(raw)
    if problems:
        raise ImageReadError(
            f"damaged NIfTI header: {'; '.join(problems)}",
            path=path,
            hint="Fix the header or re-export the image (e.g. with dcm2niix from the DICOM)",
        )
    _require_whole_nifti(path, raw)
    try:
        # Opened as the file it is: nib.load looks for 'scan.nii' when given 'scan.Nii'
        kind = nib.Nifti2Image if isinstance(raw, nib.Nifti2Header) else nib.Nifti1Image
        with _quiet_nibabel():
            img = kind.from_file_map({"image": nib.FileHolder(filename=str(path))})
        shape = tuple(int(n) for n in img.shape)
        affine = np.asarray(img.affine, dtype=np.float64)
        units = img.header.get_xyzt_units()[0]
    except Exception as exc:  # nibabel raises many types for broken headers
        raise ImageReadError(f"not a readable NIfTI file ({_reason(exc)})", path=path) from exc
    warnings = list(warnings)
    if int(raw["qform_code"]) <= 0 and int(raw["sform_code"]) <= 0:
        # NIfTI's method 1 (no qform, no sform): ITK, and the viewers built on it, place the
        # voxels at the origin along the stored axes (nibabel centres them and flips one):
        # read it as they do, so a mask written here overlays the scan in them
        spacing = np.abs(np.asarray(raw["pixdim"][1:4], dtype=np.float64))
        spacing[spacing == 0] = 1.0
        affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
        warnings.append(
            "the NIfTI has neither a qform nor an sform: its voxels are placed at the origin "
            "along the stored axes, as ITK-based tools place them; LPS/RAS points on it are "
            "only as meaningful as that"
        )
    # xyzt_units: positions in metres or micrometres are converted to mm, as ITK does
    scale = {"meter": 1000.0, "micron": 0.001}.get(units, 1.0)
    if scale != 1.0:
        affine[:3, :] *= scale
        warnings.append(f"the NIfTI's positions are in {units}s: converted to mm")
    if len(shape) > 3 and any(n != 1 for n in shape[3:]):
        raise ImageReadError(
            f"the NIfTI holds a {len(shape)}D array of shape {shape}; tscimg reads one 3D volume",
            path=path,
            hint="Extract one volume first (e.g. with nibabel's image slicer or fslroi)",
        )
    shape3 = (shape + (1, 1))[:3]
    geometry = affine_ras_to_geometry(affine, shape3, path)
    stored = raw.get_data_dtype()
    # ITK's NIfTI reader here fails on NIfTI-2 and on mixed-case names (scan.Nii), printing
    # "** ERROR: nifti_convert_nhdr2nim: bad dim[0]" or "** mixed case extension '.Nii' is not
    # valid" on stderr from C: nibabel reads those pixels
    by_itk = (
        stored.kind in "biu"
        and not isinstance(raw, nib.Nifti2Header)
        and path.name.endswith((".nii", ".nii.gz", ".NII", ".NII.GZ"))
    )
    fast = _pixels_by_itk(path, shape3) if by_itk else None
    if fast is not None:
        return geometry.apply_to(fast, copy=False), tuple(warnings)
    if stored.kind not in "biuf":
        raise ImageReadError(
            f"the NIfTI holds {'complex numbers' if stored.kind == 'c' else 'colour (RGB) pixels'}"
            "; tscimg reads grey-level, real-valued images",
            path=path,
            hint="Convert it to a single grey channel first",
        )
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:
        raise ImageReadError(f"not a readable NIfTI file ({_reason(exc)})", path=path) from exc
    data = data.reshape(shape3)
    if data.dtype == np.float64 and not _needs_double(data):
        data = data.astype(np.float32)
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(data, (2, 1, 0))))
    return geometry.apply_to(image, copy=False), tuple(warnings)


def _needs_double(data: np.ndarray) -> bool:
    """Whether float64 values would change in float32: whole numbers beyond 2^24 (a label map
    stored as doubles; two labels 16777216 and 16777217 became one).

    >>> _needs_double(np.array([1.0, 16777217.0])), _needs_double(np.array([0.5, 3e9]))
    (True, False)
    >>> _needs_double(np.array([np.nan, 16777217.0])), _needs_double(np.array([np.inf, 2.0]))
    (True, False)
    """
    low, high = float(data.min(initial=0.0)), float(data.max(initial=0.0))
    if np.isfinite(low) and np.isfinite(high) and max(-low, high) <= 2.0**24:
        return False  # the usual case, in two passes and no copy (a 512 x 512 x 172 label: 3 s)
    finite = data[np.isfinite(data)]
    if not finite.size or float(np.abs(finite).max()) <= 2.0**24:
        return False
    return bool(np.all(finite == np.round(finite)))


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


#: Bytes of a MetaImage or NRRD text header read at most while looking for its end.
_TEXT_HEADER_LIMIT = 1 << 16


@dataclass(frozen=True)
class _TextHeader:
    """The fields of a MetaImage or NRRD header that say where the pixel data is and how big."""

    fields: dict[str, str]
    data_offset: int


def _text_header(path: Path, nrrd: bool) -> _TextHeader | None:
    """Parse an attached MetaImage (``key = value``) or NRRD (``key: value``) header.

    ``None`` when the header does not end within :data:`_TEXT_HEADER_LIMIT` bytes (left to ITK).
    """
    with path.open("rb") as handle:
        block = handle.read(_TEXT_HEADER_LIMIT)
    fields: dict[str, str] = {}
    at = 0
    while True:
        end = block.find(b"\n", at)
        if end < 0:
            return None
        line = block[at:end].decode("latin-1").rstrip("\r")
        at = end + 1
        if nrrd:
            if not line.strip():
                return _TextHeader(fields, at)
            key, sep, value = line.partition(":")
            if sep and not value.startswith("="):
                fields[key.strip().lower()] = value.strip()
        else:
            key, sep, value = line.partition("=")
            if sep:
                fields[key.strip()] = value.strip()
            if key.strip() == "ElementDataFile":
                return _TextHeader(fields, at)


#: MetaImage header fields that place the voxels, and how many numbers each holds (per NDims).
_META_GEOMETRY = {
    "DimSize": 1,
    "ElementSpacing": 1,
    "ElementSize": 1,
    "Offset": 1,
    "Origin": 1,
    "Position": 1,
    "TransformMatrix": 2,
    "Rotation": 2,
    "Orientation": 2,
}
#: NRRD header fields that place the voxels ("none" stands for a non-spatial axis).
_NRRD_GEOMETRY = ("sizes", "spacings", "space origin", "space directions")


def _text_header_problems(header: _TextHeader, nrrd: bool) -> list[str]:
    """Geometry fields of a MetaImage or NRRD header that are not all finite numbers, or (for
    MetaImage) hold the wrong count of them: ITK's MetaImage reader reads such a field as
    zeros without a word (an ``Offset = nan ...`` becomes the origin 0, 0, 0)."""
    problems = []
    if nrrd:
        for key in _NRRD_GEOMETRY:
            text = header.fields.get(key)
            if text is None:
                continue
            tokens = [t for t in text.replace("(", " ").replace(")", " ").replace(",", " ").split()]
            if not all(t == "none" or _is_finite_number(t) for t in tokens):
                problems.append(f"'{key}: {text}' holds values that are not finite numbers")
            elif key == "sizes" and not all(_is_positive_whole(t) for t in tokens):
                # teem reads a negative size as zero ("axis 1 size is zero!")
                problems.append(f"'{key}: {text}' holds a size that is not a whole number >= 1")
        return problems
    try:
        ndims = int(header.fields.get("NDims", "0"))
    except ValueError:
        return [f"NDims = {header.fields.get('NDims')} is not a number"]
    for key, power in _META_GEOMETRY.items():
        text = header.fields.get(key)
        if text is None:
            continue
        tokens = text.split()
        if not all(_is_finite_number(t) for t in tokens):
            problems.append(f"'{key} = {text}' holds values that are not finite numbers")
        elif key == "DimSize" and not all(_is_positive_whole(t) for t in tokens):
            problems.append(f"'{key} = {text}' holds a size that is not a whole number >= 1")
        elif ndims and len(tokens) != ndims**power:
            problems.append(f"'{key} = {text}' holds {len(tokens)} numbers, not {ndims**power}")
    return problems


def _is_positive_whole(text: str) -> bool:
    """Whether ``text`` is a whole number >= 1 (``none``, NRRD's non-spatial value, is not a
    size)."""
    return _is_finite_number(text) and float(text) >= 1 and float(text) == int(float(text))


def _is_finite_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def detached_data_files(path: Path) -> tuple[Path, ...]:
    """The data files a MetaImage (``.mhd``) or NRRD (``.nhdr``) header names beside itself:
    one file, a ``LIST`` of files, or a numbered pattern (``slice%03d.raw 1 40 1``); none for
    another format or data in the same file. Whatever the image's content depends on, for
    provenance and resuming (a rerun reused figures of a ``.raw`` that had changed).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.mhd").write_text("NDims = 3\\nElementDataFile = a.raw\\n")
    >>> [p.name for p in detached_data_files(d / "a.mhd")]
    ['a.raw']
    """
    name = path.name.lower()
    nrrd = name.endswith((".nrrd", ".nhdr"))
    if not (nrrd or name.endswith((".mha", ".mhd"))) or irregularity(path) is not None:
        return ()
    header = _text_header(path, nrrd)
    if header is None:
        return ()
    f = header.fields
    detached = (f.get("data file") or f.get("datafile")) if nrrd else f.get("ElementDataFile")
    if detached is None or detached == "LOCAL":
        return ()
    words = detached.split()
    if words[0].upper() == "LIST":
        text = path.read_bytes()[header.data_offset :].decode("latin-1")
        names = [line.strip() for line in text.splitlines() if line.strip()]
    elif "%" in words[0] and len(words) >= 4:
        try:
            first, last, step = (int(v) for v in words[1:4])
            names = [words[0] % n for n in range(first, last + 1, step)] if step > 0 else []
        except (TypeError, ValueError):
            names = [detached]
    else:
        names = [detached]
    return tuple(Path(n) if Path(n).is_absolute() else path.parent / n for n in names)


def _bytes_per_pixel(reader: sitk.ImageFileReader) -> int:
    probe = sitk.Image([1, 1], reader.GetPixelID(), reader.GetNumberOfComponents())
    return int(sitk.GetArrayViewFromImage(probe).nbytes)


def _data_file(path: Path, name: str) -> Path:
    """A detached data file named in a header, which must be a regular file."""
    data = Path(name)
    data = data if data.is_absolute() else path.parent / data
    problem = irregularity(data)
    if problem is not None:
        raise ImageReadError(
            f"its pixel data file {name!r} ({data}): {problem}",
            path=path,
            hint="Keep the header and its data file together, as regular files",
        )
    return data


def _require_whole_itk_file(
    path: Path, reader: sitk.ImageFileReader, header: _TextHeader | None, nrrd: bool
) -> None:
    """Refuse a MetaImage or NRRD file holding less pixel data than its header promises.

    ``header``: the file's text header (``None`` for another format, or when it could not be
    parsed), ``nrrd``: whether it is NRRD's (else MetaImage's).

    Uncompressed data (attached or detached) is measured by file size, gzip data by its own
    length record, MetaImage compressed data by ``CompressedDataSize``. Encodings whose length
    cannot be known without decoding (ASCII, bzip2, multi-file lists) are left to ITK, which
    fails on them when they are short.
    """
    shape = list(reader.GetSize())
    payload = int(np.prod(shape, dtype=object)) * _bytes_per_pixel(reader)
    require_within_limit(path, payload, shape)
    if header is None:
        return
    f = header.fields
    skip = 0
    if nrrd:
        detached = f.get("data file") or f.get("datafile")
        encoding = f.get("encoding", "raw").lower()
        if f.get("line skip", "0") != "0" or encoding not in ("raw", "gzip", "gz"):
            return
        skip_text = f.get("byte skip", "0")
        compressed_size = None
    else:
        detached = f.get("ElementDataFile", "LOCAL")
        if detached == "LOCAL":
            detached = None
        encoding = "zlib" if f.get("CompressedData", "False").lower() == "true" else "raw"
        if f.get("BinaryData", "True").lower() != "true":
            return
        skip_text = f.get("HeaderSize", "0")
        compressed_size = f.get("CompressedDataSize")
    if detached is not None and (
        "%" in detached or detached.upper().startswith("LIST") or " " in detached.strip()
    ):
        if not nrrd:  # ITK's MetaImage reader takes short slice files as whole: check them
            _require_meta_slice_files(path, header, detached, shape, payload, encoding)
        return
    try:
        skip = int(skip_text)
    except ValueError:
        return
    if skip < 0:
        return  # data at the end of the file, whatever precedes it
    data = path if detached is None else _data_file(path, detached)
    start = (header.data_offset if detached is None else 0) + skip
    available = os.stat(data).st_size - start
    what = "pixel data" + ("" if detached is None else f" in {data.name}")
    if encoding == "raw":
        require_payload(path, payload, available, what)
    elif encoding in ("gzip", "gz"):
        require_payload(path, payload, gzip_payload_bytes(data, payload, start), what)
    elif compressed_size is not None and compressed_size.isdigit():
        require_payload(path, int(compressed_size), available, f"compressed {what}")
    if not nrrd and encoding == "zlib":  # its length says nothing of what it decompresses to
        require_payload(path, payload, zlib_payload_bytes(data, payload, start), what)


def _require_meta_slice_files(
    path: Path,
    header: _TextHeader,
    detached: str,
    shape: list[int],
    payload: int,
    encoding: str,
) -> None:
    """Refuse a MetaImage whose ``ElementDataFile`` list (``LIST``: one file name per line
    after the header) or pattern (``slice%03d.raw first last step``) names fewer slice files
    than the image has slices, a missing one, or less raw data than the header promises.
    ITK's MetaImage reader read such files with the missing voxels left as uninitialised
    memory: another volume at each read."""
    words = detached.split()
    if words[0].upper() == "LIST":
        text = path.read_bytes()[header.data_offset :].decode("latin-1")
        names = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        try:
            first, last, step = (int(v) for v in words[1:4]) if len(words) >= 4 else (0, -1, 1)
            names = [words[0] % n for n in range(first, last + 1, step)] if step > 0 else []
        except (TypeError, ValueError):
            return  # a pattern ITK may read another way: left to it
    # one file per slice: ITK read "LIST 3D" (a volume per file) as another volume each time
    slices = shape[-1]
    if len(names) < slices:
        raise ImageReadError(
            f"the header's ElementDataFile names {len(names)} data file(s) where the image "
            f"needs {slices}: the image is incomplete",
            path=path,
            hint="Keep every slice file beside the header, or re-export the image as one file",
        )
    files = [_data_file(path, name) for name in names[:slices]]
    if encoding == "raw":
        total = sum(os.stat(f).st_size for f in files)
        require_payload(path, payload, total, f"pixel data in {slices} data files")


#: NRRD ``space`` values that name the patient's axes (ITK turns each into LPS).
PATIENT_SPACES = frozenset(
    name + time
    for name in (
        "left-posterior-superior", "lps", "right-anterior-superior", "ras",
        "left-anterior-superior", "las",
    )
    for time in ("", "-time")
)  # fmt: skip


def _space_warnings(header: _TextHeader | None) -> tuple[str, ...]:
    """What an NRRD header leaves in doubt: a ``space`` that is not the patient's.

    ITK reads the positions of a ``scanner-xyz`` or ``3D-right-handed`` NRRD as if they were
    LPS millimetres; the voxel sizes (and so the volumes) are right, but points given in LPS
    or RAS, and the placement of a DICOM SEG, need patient coordinates.
    """
    space = None if header is None else header.fields.get("space")
    if space is None or space.strip().lower() in PATIENT_SPACES:
        return ()
    return (
        f"the NRRD space {space.strip()!r} is not a patient space (LPS, RAS, LAS): its "
        "positions are taken as LPS mm; volumes are right, but LPS/RAS points and a DICOM "
        "SEG's placement may not match the patient",
    )


#: ITK's reader for each extension read by :func:`read_itk_file`, in any case.
_ITK_READERS = {
    ".nrrd": "NrrdImageIO",
    ".nhdr": "NrrdImageIO",
    ".mha": "MetaImageIO",
    ".mhd": "MetaImageIO",
}


def read_itk_file(path: Path) -> tuple[sitk.Image, tuple[str, ...]]:
    """Read NRRD, MHA/MHD (or any format ITK knows) with SimpleITK; the image and warnings
    (an NRRD whose ``space`` is not the patient's).

    The header is read first: an image promising more than
    :data:`~tscimg.io.file_checks.MAX_PIXEL_BYTES`, a file (or detached data file) shorter than
    its header promises, or a detached data file that is not a regular file is refused before
    the pixels are read. The extension is matched in any case (``SCAN.MHA``). A 2D image is
    returned as one plane of a 3D grid, size ``[i, j, 1]`` with 1 mm along ``k`` (as a 2D
    NIfTI is read), so that every scan and mask has three axes.
    """
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    suffix = path.suffix
    if suffix != suffix.lower() and suffix.lower() in _ITK_READERS:
        # ITK picks its reader by a lower-case extension: it found none for SCAN.MHA
        reader.SetImageIO(_ITK_READERS[suffix.lower()])
    name = path.name.lower()
    nrrd = name.endswith((".nrrd", ".nhdr"))
    header = _text_header(path, nrrd) if nrrd or name.endswith((".mha", ".mhd")) else None
    # before ITK reads it: ITK takes a negative size for zero (NRRD) or for 4 billion (MetaImage)
    problems = [] if header is None else _text_header_problems(header, nrrd)
    if problems:
        raise ImageReadError(
            f"damaged header: {'; '.join(problems)}",
            path=path,
            hint="Fix the header or re-export the image",
        )
    try:
        with quiet_itk():
            reader.ReadImageInformation()
    except RuntimeError as exc:
        raise ImageReadError(
            f"could not be read as an image ({itk_reason(exc)})", path=path
        ) from exc
    _require_whole_itk_file(path, reader, header, nrrd)
    try:
        with quiet_itk():
            image = reader.Execute()
    except RuntimeError as exc:
        raise ImageReadError(
            f"could not be read as an image ({itk_reason(exc)})", path=path
        ) from exc
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
    if image.GetDimension() == 2:  # one plane, as a 2D NIfTI or an echo frame: [i, j, 1]
        image = sitk.JoinSeries(image)
    return image, _space_warnings(header) if nrrd else ()
