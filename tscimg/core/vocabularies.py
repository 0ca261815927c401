"""Closed vocabularies used across tscimg, as enums that accept their string values.

Examples
--------
>>> LesionType("aml") is LesionType.AML
True
>>> Modality.from_dicom("MR")
<Modality.MR: 'MR'>
>>> Modality.from_dicom("PT")
<Modality.OTHER: 'OT'>
"""

from __future__ import annotations

from enum import StrEnum


class LesionType(StrEnum):
    """The tumour types tscimg tracks (DESIGN.md section 3)."""

    AML = "aml"
    SEGA = "sega"
    RHABDOMYOMA = "rhabdomyoma"
    GENERIC = "generic"


class Modality(StrEnum):
    """Imaging modality, with DICOM's (0008,0060) codes as values."""

    CT = "CT"
    MR = "MR"
    US = "US"
    OTHER = "OT"

    @classmethod
    def from_dicom(cls, code: str | None) -> Modality | None:
        """Map a DICOM Modality code to the enum; ``None`` when the code is absent."""
        if code is None or not str(code).strip():
            return None
        try:
            return cls(str(code).strip().upper())
        except ValueError:
            return cls.OTHER
