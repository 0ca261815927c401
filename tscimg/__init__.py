"""tscimg: longitudinal tumour volumetry for tuberous sclerosis complex.

Research software, not a medical device: not for diagnosis or treatment decisions.

Examples
--------
>>> import tscimg
>>> issubclass(tscimg.DicomSeriesError, tscimg.TscimgError)
True
"""

from importlib.metadata import PackageNotFoundError, version

from tscimg.core import (
    DicomSeriesError,
    Geometry,
    GeometryMismatchError,
    ImageReadError,
    InputError,
    LesionType,
    Mask,
    MaskError,
    Modality,
    PromptError,
    Scan,
    TscimgError,
    lps_to_ras,
    ras_to_lps,
)
from tscimg.io import load_mask, load_scan, write_volume

try:
    __version__ = version("tscimg")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

#: Printed in the README, the CLI and every report.
RESEARCH_USE_DISCLAIMER = (
    "Research software, not a medical device: tscimg's measurements are not validated "
    "for diagnosis or treatment decisions."
)

__all__ = [
    "RESEARCH_USE_DISCLAIMER",
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
    "__version__",
    "load_mask",
    "load_scan",
    "lps_to_ras",
    "ras_to_lps",
    "write_volume",
]
