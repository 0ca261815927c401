"""Batch processing: the longitudinal pipeline over a manifest, in parallel, resumable."""

from tscimg.batch.patient import TrackParameters
from tscimg.batch.provenance import software_versions
from tscimg.batch.runner import track

__all__ = ["TrackParameters", "software_versions", "track"]
