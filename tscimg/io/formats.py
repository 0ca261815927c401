"""Which reader a path needs, from the path alone (and the DICOM preamble)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from tscimg.core.errors import ImageReadError
from tscimg.io.dicom_headers import DICOM_NAME_SUFFIXES, looks_like_dicom


class FileFormat(StrEnum):
    """File formats tscimg reads or writes.

    Examples
    --------
    >>> FileFormat.of(Path("scan.nii.gz"))
    <FileFormat.NIFTI: 'nifti'>
    >>> FileFormat.of(Path("mask.seg.nrrd"))
    <FileFormat.NRRD: 'nrrd'>
    """

    DICOM_FOLDER = "dicom-folder"
    DICOM_FILE = "dicom"
    NIFTI = "nifti"
    NRRD = "nrrd"
    METAIMAGE = "metaimage"

    @property
    def label(self) -> str:
        """The format's name in messages.

        Examples
        --------
        >>> FileFormat.METAIMAGE.label
        'MetaImage'
        """
        return _LABELS[self]

    @classmethod
    def of(cls, path: Path) -> FileFormat:
        """Detect the format of an existing or future file from its name (and contents)."""
        name = path.name.lower()
        if path.is_dir():
            return cls.DICOM_FOLDER
        if name.endswith((".nii", ".nii.gz")):
            return cls.NIFTI
        if name.endswith((".nrrd", ".nhdr")):
            return cls.NRRD
        if name.endswith((".mha", ".mhd")):
            return cls.METAIMAGE
        if name.endswith(DICOM_NAME_SUFFIXES) or (path.is_file() and looks_like_dicom(path)):
            return cls.DICOM_FILE
        raise ImageReadError(
            "unrecognised image format",
            path=path,
            hint="tscimg reads DICOM folders and files, NIfTI (.nii, .nii.gz), NRRD (.nrrd) "
            "and MetaImage (.mha, .mhd)",
        )


_LABELS = {
    FileFormat.DICOM_FOLDER: "DICOM folder",
    FileFormat.DICOM_FILE: "DICOM",
    FileFormat.NIFTI: "NIfTI",
    FileFormat.NRRD: "NRRD",
    FileFormat.METAIMAGE: "MetaImage",
}
