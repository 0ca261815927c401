"""Software versions recorded in every report and DICOM output."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

#: The libraries whose behaviour the numbers depend on.
TRACKED_PACKAGES = (
    "tscimg",
    "SimpleITK",
    "numpy",
    "scipy",
    "scikit-image",
    "scikit-learn",
    "PyMaxflow",
    "nibabel",
    "pydicom",
    "highdicom",
)


def software_versions() -> dict[str, str]:
    """Versions of Python, tscimg and the libraries its numbers depend on.

    Examples
    --------
    >>> sorted(software_versions())[:4]
    ['PyMaxflow', 'SimpleITK', 'highdicom', 'nibabel']
    """
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
