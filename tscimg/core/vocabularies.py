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
from typing import TypeVar

from tscimg.core.errors import InputError

_Member = TypeVar("_Member", bound=StrEnum)


def member_of(kind: type[_Member], value: object, what: str) -> _Member:
    """``value`` as a member of the enum ``kind``, or an :class:`InputError` listing them.

    Examples
    --------
    >>> member_of(LesionType, "sega", "lesion type")
    <LesionType.SEGA: 'sega'>
    >>> try:
    ...     member_of(LesionType, "kidney", "lesion type")
    ... except InputError as err:
    ...     print(err)
    unknown lesion type 'kidney'. Use one of: aml, sega, rhabdomyoma, generic
    """
    try:
        return kind(value)  # type: ignore[arg-type]  # a non-member is refused below
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InputError(f"unknown {what} {value!r}", hint=f"Use one of: {allowed}") from None


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


class VolumeMethod(StrEnum):
    """How a lesion's ``volume_ml`` was obtained; named in every lesion record.

    Examples
    --------
    >>> VolumeMethod("voxel count (3D)") is VolumeMethod.VOXELS_3D
    True
    """

    VOXELS_3D = "voxel count (3D)"  # voxel count x voxel volume of a 3D mask
    SINGLE_PLANE = "single-plane area-length (2D)"  # 8 A^2 / (3 pi L) from one 2D view
    BIPLANE = "biplane area-length (2D, two views)"  # 8 A1 A2 / (3 pi L) from two 2D views
