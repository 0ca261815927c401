"""Core types: scan, mask, geometry, vocabularies and the error hierarchy."""

from tscimg.core.errors import (
    AssessmentInputError,
    DicomSeriesError,
    GeometryMismatchError,
    ImageReadError,
    InputError,
    MaskError,
    PromptError,
    TscimgError,
)
from tscimg.core.geometry import Geometry, lps_to_ras, ras_to_lps
from tscimg.core.mask import Mask
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import LesionType, Modality, VolumeMethod

__all__ = [
    "AssessmentInputError",
    "DicomSeriesError",
    "Geometry",
    "GeometryMismatchError",
    "ImageReadError",
    "InputError",
    "LesionType",
    "Mask",
    "MaskError",
    "Modality",
    "PromptError",
    "Scan",
    "TscimgError",
    "VolumeMethod",
    "lps_to_ras",
    "ras_to_lps",
]
