"""Test builders: phantom scans, grids, and the real-data path (skipped when absent)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tscimg import Geometry, Modality, Scan
from tscimg.synthetic import Ellipsoid, Layer, RigidPose, render

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
SAMPLE_SCANS = PROJECT_ROOT / "sample_scans"

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def shared_data(*parts: str) -> Path:
    """Path inside ../shared/data; skips the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


#: A lesion-like ellipsoid used by the I/O tests (body = scanner coordinates).
BLOB = Ellipsoid((4.0, -3.0, 6.0), (9.0, 7.0, 11.0), (10.0, 0.0, 25.0))


def phantom_scan(geometry: Geometry, modality: Modality = Modality.CT) -> Scan:
    """A noiseless two-tissue phantom on ``geometry`` (CT: 40 HU body, 300 HU blob)."""
    values = render(
        geometry,
        RigidPose(),
        -1000.0 if modality is Modality.CT else 0.0,
        [Layer(Ellipsoid((0.0, 0.0, 0.0), (22.0, 20.0, 30.0)), 40.0), Layer(BLOB, 300.0)],
        samples_per_axis=(1, 1, 1),
    )
    image = geometry.apply_to(sitk.GetImageFromArray(np.rint(values).astype(np.int16)))
    return Scan(image, modality=modality, slice_thickness_mm=geometry.spacing_mm[2])


def centred_geometry(
    size: tuple[int, int, int],
    spacing: tuple[float, float, float],
    direction: tuple[float, ...] = IDENTITY,
) -> Geometry:
    """A grid whose centre is at the LPS origin."""
    d = np.asarray(direction).reshape(3, 3)
    origin = -d @ ((np.asarray(size) - 1) * np.asarray(spacing) / 2)
    return Geometry(size, spacing, tuple(float(v) for v in origin), tuple(direction))


def run_tscimg(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``tscimg`` command in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "tscimg_cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
