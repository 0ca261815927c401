"""Shared fixtures (helpers live in builders.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from builders import phantom_scan

from tscimg import Geometry, Modality, Scan
from tscimg.io import SeriesIdentity, write_dicom_series

SeriesWriter = Callable[..., tuple[Scan, Path]]


@pytest.fixture
def write_series(tmp_path: Path) -> SeriesWriter:
    """Write a phantom as a DICOM series; returns (the scan written, its folder)."""

    def _write(
        geometry: Geometry,
        name: str = "series",
        modality: Modality = Modality.CT,
        seed: str | None = None,
        folder: Path | None = None,
    ) -> tuple[Scan, Path]:
        scan = phantom_scan(geometry, modality)
        target = folder or tmp_path / name
        write_dicom_series(scan, target, SeriesIdentity("TEST-001", seed or name, name))
        return scan, target

    return _write
