"""Reading DICOM headers (no pixels) and grouping the image files of a folder into series."""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from tscimg.core.errors import DicomSeriesError, ImageReadError

#: SOP classes that are DICOM but not images to stack (SEG, SR, RT structures, presentation...).
NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.66",  # segmentation, registration, surface...
    "1.2.840.10008.5.1.4.1.1.88",  # structured reports
    "1.2.840.10008.5.1.4.1.1.481",  # RT objects
    "1.2.840.10008.5.1.4.1.1.11",  # presentation states
    "1.2.840.10008.1.3.10",  # DICOMDIR (media storage directory)
)

#: File-name endings that say "DICOM" (files without an ending are sniffed for the preamble).
DICOM_NAME_SUFFIXES = (".dcm", ".dicom", ".ima")


def looks_like_dicom(path: Path) -> bool:
    """Whether a file carries the DICOM Part 10 preamble ("DICM" at byte 128)."""
    try:
        with path.open("rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def parse_dicom_date(value: object) -> datetime.date | None:
    """Parse a DICOM DA value (YYYYMMDD); ``None`` when absent or malformed."""
    text = str(value or "").strip()
    if len(text) >= 8 and text[:8].isdigit():
        try:
            return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            return None
    return None


def _floats(value: object, count: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return out if len(out) == count else None


@dataclass(frozen=True)
class ImageHeader:
    """The header facts of one DICOM image file that stacking and metadata need."""

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

    @classmethod
    def from_dataset(cls, ds: Dataset, path: Path) -> ImageHeader:
        """Extract the header facts from a pydicom dataset read from ``path``."""

        def text(keyword: str) -> str | None:
            v = ds.get(keyword)
            return None if v is None or str(v).strip() == "" else str(v).strip()

        thickness = ds.get("SliceThickness")
        tilt = ds.get("GantryDetectorTilt")
        date = (
            parse_dicom_date(ds.get("AcquisitionDate"))
            or parse_dicom_date(ds.get("SeriesDate"))
            or parse_dicom_date(ds.get("StudyDate"))
            or parse_dicom_date(ds.get("ContentDate"))
        )
        inst = ds.get("InstanceNumber")
        return cls(
            path=path,
            series_uid=text("SeriesInstanceUID") or "",
            study_uid=text("StudyInstanceUID"),
            sop_class_uid=text("SOPClassUID") or "",
            modality=text("Modality"),
            series_description=text("SeriesDescription") or "",
            image_type=tuple(str(v).upper() for v in (ds.get("ImageType") or ())),
            rows=int(ds.get("Rows") or 0),
            columns=int(ds.get("Columns") or 0),
            number_of_frames=int(ds.get("NumberOfFrames") or 1),
            orientation=_floats(ds.get("ImageOrientationPatient"), 6),
            position=_floats(ds.get("ImagePositionPatient"), 3),
            pixel_spacing=_floats(ds.get("PixelSpacing"), 2),
            slice_thickness_mm=None if thickness in (None, "") else float(thickness),
            gantry_tilt_deg=None if tilt in (None, "") else float(tilt),
            frame_of_reference_uid=text("FrameOfReferenceUID"),
            manufacturer=text("Manufacturer"),
            acquisition_date=date,
            instance_number=None if inst in (None, "") else int(inst),
            has_per_frame_groups="PerFrameFunctionalGroupsSequence" in ds,
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


def read_header(path: Path) -> ImageHeader:
    """Read one file's header without pixels; raises :class:`ImageReadError` if not DICOM."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise ImageReadError(
            f"not a readable DICOM file ({exc})", path=path, hint="Check the file is complete"
        ) from exc
    return ImageHeader.from_dataset(ds, path)


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
    """The image series of a folder, and the DICOM-named files that could not be read."""

    series: dict[str, list[ImageHeader]]
    unreadable: tuple[Path, ...]

    def unreadable_note(self) -> str:
        """A sentence naming unreadable files (empty when there are none)."""
        if not self.unreadable:
            return ""
        names = ", ".join(p.name for p in self.unreadable[:5])
        more = f" and {len(self.unreadable) - 5} more" if len(self.unreadable) > 5 else ""
        return f"{len(self.unreadable)} unreadable DICOM file(s) skipped ({names}{more})"


def discover_series(folder: Path) -> FolderContents:
    """Group the DICOM image files below ``folder`` by SeriesInstanceUID.

    Files that are not DICOM, and DICOM objects that are not images (SEG, SR, ...), are
    ignored; files named like DICOM (``.dcm``) that cannot be read are listed as unreadable.
    Raises :class:`DicomSeriesError` when the folder holds no DICOM image.
    """
    groups: dict[str, list[ImageHeader]] = defaultdict(list)
    unreadable: list[Path] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        named_dicom = path.suffix.lower() in DICOM_NAME_SUFFIXES
        if not named_dicom and path.suffix and not looks_like_dicom(path):
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=path.suffix.lower() == ".dcm")
        except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError):
            if named_dicom:
                unreadable.append(path)
            continue
        if "SOPClassUID" not in ds and "Rows" not in ds:
            if named_dicom:
                unreadable.append(path)  # forced read found no DICOM content
            continue
        header = ImageHeader.from_dataset(ds, path)
        if header.is_image:
            groups[header.series_uid].append(header)
    contents = FolderContents(dict(groups), tuple(unreadable))
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
