"""File formats: the only layer that reads or writes them.

Load with :func:`load_scan` and :func:`load_mask`; write with :func:`write_volume`
and :func:`write_dicom_series`.
"""

from tscimg.io.dicom_headers import FolderContents, SeriesSummary, discover_series, summarize
from tscimg.io.dicom_writer import SeriesIdentity, write_dicom_series, write_ultrasound_cine
from tscimg.io.formats import FileFormat
from tscimg.io.loading import load_mask, load_scan, write_volume

__all__ = [
    "FileFormat",
    "FolderContents",
    "SeriesIdentity",
    "SeriesSummary",
    "discover_series",
    "load_mask",
    "load_scan",
    "summarize",
    "write_dicom_series",
    "write_ultrasound_cine",
    "write_volume",
]
