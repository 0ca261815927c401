"""Reading DICOM headers (no pixels) and grouping the image files of a folder into series."""

from __future__ import annotations

import datetime
import math
import os
import warnings
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from tscimg.core.errors import DicomSeriesError, ImageReadError
from tscimg.io.file_checks import irregularity

#: SOP classes that are DICOM but not images to stack (SEG, SR, RT structures, presentation...).
NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.66",  # segmentation, registration, surface...
    "1.2.840.10008.5.1.4.1.1.88",  # structured reports
    "1.2.840.10008.5.1.4.1.1.481",  # RT objects
    "1.2.840.10008.5.1.4.1.1.11",  # presentation states
    "1.2.840.10008.1.3.10",  # DICOMDIR (media storage directory)
)

#: The SOP class of a DICOMDIR (media storage directory).
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"

#: Transfer syntaxes whose pixel data is stored uncompressed (implicit / explicit VR, either
#: byte order): their files are at least as long as the pixel data their header promises.
UNCOMPRESSED_TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
)

#: File-name endings that say "DICOM" (files without an ending are sniffed for the preamble).
DICOM_NAME_SUFFIXES = (".dcm", ".dicom", ".ima")


def looks_like_dicom(path: Path) -> bool:
    """Whether a file carries the DICOM Part 10 preamble ("DICM" at byte 128)."""
    if irregularity(path) is not None:
        return False  # never open a pipe or a device
    try:
        with path.open("rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Keep pydicom's warnings about invalid values off stderr (tscimg reports its own)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _as_list(value: object) -> list[object]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | MultiValue):
        return list(value)
    return [value]


def joined_values(value: object) -> str | None:
    """A multi-valued text attribute (ConvolutionKernel ``['B70f', 'sharp']``) as one text,
    its non-blank values joined by ``/``; ``None`` when it has none.

    >>> joined_values(["B70f", " sharp "]), joined_values("FC13"), joined_values(["", " "])
    ('B70f/sharp', 'FC13', None)
    """
    return "/".join(str(v).strip() for v in _as_list(value) if str(v).strip()) or None


def parse_dicom_date(value: object) -> datetime.date | None:
    """Parse a DICOM DA value (YYYYMMDD); ``None`` when absent or malformed."""
    text = str(value or "").strip()
    if len(text) >= 8 and text[:8].isdigit():
        try:
            return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            return None
    return None


def finite_number(value: object) -> float | None:
    """A finite number from a DICOM value (DS, IS, US...), ``None`` when malformed or absent."""
    if value is None or value == "":
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _floats(value: object, count: int) -> tuple[float, ...] | None:
    """``count`` finite numbers from a multi-valued DICOM element; ``None`` otherwise."""
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    if len(out) != count or not all(math.isfinite(v) for v in out):
        return None
    return out


def _shown(value: object) -> str:
    """A DICOM value as it is stored, for a message (backslash-separated, abridged)."""
    if isinstance(value, list | tuple | MultiValue):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    return "'" + (text if len(text) <= 60 else text[:57] + "...") + "'"


@dataclass(frozen=True)
class ImageHeader:
    """The header facts of one DICOM image file that stacking and metadata need.

    ``problems`` lists what is malformed in the facts that place or scale the pixels (a
    position that is not three finite numbers, a rescale slope of 0, ...): such a file is
    never stacked silently.
    """

    path: Path
    series_uid: str
    study_uid: str | None
    sop_class_uid: str
    modality: str | None
    series_description: str
    image_type: tuple[str, ...]
    rows: int
    columns: int
    number_of_frames: int
    orientation: tuple[float, ...] | None
    position: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    slice_thickness_mm: float | None
    gantry_tilt_deg: float | None
    frame_of_reference_uid: str | None
    manufacturer: str | None
    acquisition_date: datetime.date | None
    instance_number: int | None
    has_per_frame_groups: bool = False
    photometric: str = ""
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    problems: tuple[str, ...] = ()
    bits_allocated: int = 16
    samples_per_pixel: int = 1
    transfer_syntax: str = ""
    reconstruction_kernel: str | None = None  # CT ConvolutionKernel (its values joined by /)
    field_strength_t: float | None = None  # MR MagneticFieldStrength

    @classmethod
    def from_dataset(cls, ds: Dataset, path: Path) -> ImageHeader:
        """Extract the header facts from a pydicom dataset read from ``path``.

        Malformed values (pydicom keeps them as text, with a warning) never raise here: a
        value nothing depends on is dropped, a value that places or scales pixels is recorded
        in ``problems``.
        """
        with quiet_pydicom():  # pydicom warns for each invalid value it keeps
            return cls._from_dataset(ds, path)

    @classmethod
    def _from_dataset(cls, ds: Dataset, path: Path) -> ImageHeader:
        problems: list[str] = []

        def text(keyword: str) -> str | None:
            v = ds.get(keyword)
            return None if v is None or str(v).strip() == "" else str(v).strip()

        def count(keyword: str, default: int) -> int:
            raw = ds.get(keyword)
            if raw is None or raw == "":
                return default
            value = finite_number(raw)
            if value is None or value != int(value) or value < 0:
                problems.append(f"{keyword} {_shown(raw)} is not a whole number")
                return default
            return int(value)

        def vector(keyword: str, size: int) -> tuple[float, ...] | None:
            raw = ds.get(keyword)
            if raw is None or raw == "":
                return None
            values = _floats(raw, size)
            if values is None:
                problems.append(f"{keyword} {_shown(raw)} is not {size} finite numbers")
            return values

        meta = getattr(ds, "file_meta", None) or Dataset()
        date = (
            parse_dicom_date(ds.get("AcquisitionDate"))
            or parse_dicom_date(ds.get("SeriesDate"))
            or parse_dicom_date(ds.get("StudyDate"))
            or parse_dicom_date(ds.get("ContentDate"))
        )
        thickness = finite_number(ds.get("SliceThickness"))
        field = finite_number(ds.get("MagneticFieldStrength"))
        instance = finite_number(ds.get("InstanceNumber"))
        slope_raw, intercept_raw = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
        slope, intercept = finite_number(slope_raw), finite_number(intercept_raw)
        if slope_raw not in (None, "") and (slope is None or slope == 0):
            problems.append(
                f"RescaleSlope {_shown(slope_raw)} "
                + ("maps every pixel to one value" if slope == 0 else "is not a finite number")
            )
        if intercept_raw not in (None, "") and intercept is None:
            problems.append(f"RescaleIntercept {_shown(intercept_raw)} is not a finite number")
        return cls(
            path=path,
            series_uid=text("SeriesInstanceUID") or "",
            study_uid=text("StudyInstanceUID"),
            sop_class_uid=text("SOPClassUID")
            or str(meta.get("MediaStorageSOPClassUID", "") or "").strip(),
            modality=text("Modality"),
            series_description=text("SeriesDescription") or "",
            image_type=tuple(str(v).upper() for v in _as_list(ds.get("ImageType"))),
            rows=count("Rows", 0),
            columns=count("Columns", 0),
            number_of_frames=max(count("NumberOfFrames", 1), 1),
            orientation=vector("ImageOrientationPatient", 6),
            position=vector("ImagePositionPatient", 3),
            pixel_spacing=vector("PixelSpacing", 2),
            slice_thickness_mm=thickness if thickness is not None and thickness > 0 else None,
            gantry_tilt_deg=finite_number(ds.get("GantryDetectorTilt")),
            frame_of_reference_uid=text("FrameOfReferenceUID"),
            manufacturer=text("Manufacturer"),
            acquisition_date=date,
            instance_number=None if instance is None else int(instance),
            has_per_frame_groups="PerFrameFunctionalGroupsSequence" in ds,
            photometric=(text("PhotometricInterpretation") or "").upper(),
            rescale_slope=1.0 if slope is None or slope == 0 else slope,
            rescale_intercept=0.0 if intercept is None else intercept,
            problems=tuple(problems),
            bits_allocated=count("BitsAllocated", 16),
            samples_per_pixel=max(count("SamplesPerPixel", 1), 1),
            transfer_syntax=str(meta.get("TransferSyntaxUID", "") or ""),
            reconstruction_kernel=joined_values(ds.get("ConvolutionKernel")),
            field_strength_t=field if field is not None and field > 0 else None,
        )

    @property
    def pixel_bytes(self) -> int:
        """The pixel data the header promises, stored uncompressed, in bytes (4:2:2 colour
        stores a pixel pair's two chroma samples once: 2 samples per pixel, PS3.3 C.7.6.3.1.2)."""
        samples = self.samples_per_pixel
        if self.photometric in ("YBR_FULL_422", "YBR_PARTIAL_422") and samples == 3:
            samples = 2
        bits = self.rows * self.columns * samples * max(self.bits_allocated, 1)
        return (bits * self.number_of_frames + 7) // 8

    @property
    def is_uncompressed(self) -> bool:
        """Whether the pixel data is stored as is (so the file holds at least its size)."""
        return self.transfer_syntax in UNCOMPRESSED_TRANSFER_SYNTAXES

    @property
    def has_any_geometry(self) -> bool:
        """Whether the file carries (or tries to carry) a position, orientation or spacing."""
        geometry_words = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")
        malformed = any(p.startswith(geometry_words) for p in self.problems)
        return malformed or any(
            v is not None for v in (self.position, self.orientation, self.pixel_spacing)
        )

    @property
    def is_image(self) -> bool:
        """Whether this file holds image pixels that belong in a volume."""
        if self.rows == 0 or self.columns == 0:
            return False
        return not self.sop_class_uid.startswith(NON_IMAGE_SOP_PREFIXES)

    @property
    def is_localizer(self) -> bool:
        """Whether the file is a localizer / scout (by ImageType)."""
        return "LOCALIZER" in self.image_type or "SCOUT" in self.image_type


def _read_dataset(path: Path, force: bool = False) -> Dataset:
    """The header of one file, pixels left out; raises :class:`ImageReadError` naming why not.

    pydicom raises many unrelated exception types for damaged files (InvalidDicomError,
    EOFError, ValueError, struct.error, ...): any of them means the file is unreadable.
    """
    problem = irregularity(path)
    if problem is not None:
        raise ImageReadError(problem, path=path)
    try:
        with quiet_pydicom():
            return pydicom.dcmread(path, stop_before_pixels=True, force=force)
    except InvalidDicomError as exc:
        raise ImageReadError(
            f"not a DICOM file ({exc})", path=path, hint="Check the file is complete"
        ) from exc
    except Exception as exc:  # a damaged file: see the docstring
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageReadError(
            f"not a readable DICOM file ({reason})", path=path, hint="Check the file is complete"
        ) from exc


def read_header(path: Path) -> ImageHeader:
    """Read one file's header without pixels; raises :class:`ImageReadError` if not DICOM."""
    return ImageHeader.from_dataset(_read_dataset(path), path)


@dataclass(frozen=True)
class SeriesSummary:
    """One image series found in a folder."""

    series_uid: str
    description: str
    modality: str | None
    file_count: int

    def describe(self) -> str:
        """One-line description for error messages and listings."""
        desc = self.description or "(no description)"
        return f"{self.series_uid} '{desc}' {self.modality or '?'} {self.file_count} files"


@dataclass(frozen=True)
class FolderContents:
    """The image series of a folder, and the DICOM-named files that could not be read (why)."""

    series: dict[str, list[ImageHeader]]
    unreadable: dict[Path, str]
    #: The header (no pixels) of each image file, when :func:`discover_series` was asked to
    #: keep them (``keep_datasets=True``): a DICOM SEG or SR derived from the series copies
    #: them without reading every file a second time.
    datasets: dict[Path, Dataset] = field(default_factory=dict)

    def unreadable_note(self) -> str:
        """A sentence naming unreadable files and why (empty when there are none)."""
        if not self.unreadable:
            return ""
        shown = list(self.unreadable.items())[:5]
        names = "; ".join(f"{p.name}: {why}" for p, why in shown)
        more = f"; and {len(self.unreadable) - 5} more" if len(self.unreadable) > 5 else ""
        return f"{len(self.unreadable)} unreadable DICOM file(s) skipped ({names}{more})"


def discover_series(folder: str | os.PathLike[str], keep_datasets: bool = False) -> FolderContents:
    """Group the DICOM image files below ``folder`` by SeriesInstanceUID.

    Files that are not DICOM, and DICOM objects that are not images (SEG, SR, DICOMDIR, ...),
    are ignored. Files named like DICOM (``.dcm``) that cannot be read, are not regular files
    (a pipe would block the read) or whose size fields are malformed are listed as unreadable
    with the reason. Raises :class:`DicomSeriesError` when the folder holds no DICOM image.
    With ``keep_datasets`` the image files' pydicom headers are kept too
    (:attr:`FolderContents.datasets`).
    """
    folder = Path(folder)
    groups: dict[str, list[ImageHeader]] = defaultdict(list)
    unreadable: dict[Path, str] = {}
    datasets: dict[Path, Dataset] = {}
    for path in sorted(folder.rglob("*")):
        named_dicom = path.suffix.lower() in DICOM_NAME_SUFFIXES
        if path.is_dir():
            continue
        problem = irregularity(path)
        if problem is not None:
            if named_dicom:
                unreadable[path] = problem
            continue
        if not named_dicom and path.suffix and not looks_like_dicom(path):
            continue
        try:
            ds = _read_dataset(path, force=path.suffix.lower() == ".dcm")
        except ImageReadError as exc:
            if named_dicom:
                unreadable[path] = exc.problem
            continue
        if "SOPClassUID" not in ds and "Rows" not in ds:
            if named_dicom:  # forced read found no DICOM content
                unreadable[path] = "no DICOM image header (not DICOM, or cut short)"
            continue
        header = ImageHeader.from_dataset(ds, path)
        size_problems = [p for p in header.problems if p.startswith(("Rows", "Columns"))]
        if size_problems:
            unreadable[path] = "; ".join(size_problems)
        elif header.is_image:
            groups[header.series_uid].append(header)
            if keep_datasets:
                datasets[path] = ds
    contents = FolderContents(dict(groups), unreadable, datasets)
    if not groups:
        raise DicomSeriesError(
            "no DICOM image files found in this folder"
            + (f" ({contents.unreadable_note()})" if unreadable else ""),
            path=folder,
            hint="Point to the folder that holds the series' .dcm files",
        )
    return contents


def summarize(series: dict[str, list[ImageHeader]]) -> list[SeriesSummary]:
    """Summaries of discovered series, largest first."""
    out = [
        SeriesSummary(uid, hs[0].series_description, hs[0].modality, len(hs))
        for uid, hs in series.items()
    ]
    return sorted(out, key=lambda s: (-s.file_count, s.series_uid))
