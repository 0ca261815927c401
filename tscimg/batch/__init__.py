"""Batch processing: the longitudinal pipeline over a manifest, in parallel (local worker
processes or a dask.distributed cluster), resumable, one run per output folder."""

from tscimg.batch.patient import TrackParameters
from tscimg.batch.provenance import software_versions
from tscimg.batch.run_lock import OutputFolderLockedError, output_folder_lock
from tscimg.batch.runner import track

__all__ = [
    "OutputFolderLockedError",
    "TrackParameters",
    "output_folder_lock",
    "software_versions",
    "track",
]
