"""Software versions recorded in every report and DICOM output."""

from __future__ import annotations

import functools
import hashlib
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

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


#: tscimg's own files that only assess or report (a patient's saved measurements do not
#: depend on them: a change there reassesses without measuring again).
NOT_MEASURING = ("report/", "longitudinal/response.py", "longitudinal/criteria.py",
                 "longitudinal/results.py")  # fmt: skip


def measuring_code_sha256(root: Path | None = None) -> str:
    """SHA-256 of the tscimg source files a patient's measurements depend on.

    tscimg's version number stays the same between the commits of a checkout (an editable
    install): a fix to segmentation or registration must still make a resumed batch measure
    its patients again. Every ``.py`` file of the package under ``root`` (tscimg's own folder
    by default) counts, by relative name and content, except :data:`NOT_MEASURING`.

    Examples
    --------
    >>> len(measuring_code_sha256())
    64
    """
    return _code_sha256(Path(__file__).resolve().parents[1] if root is None else root)


@functools.cache
def _code_sha256(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name.startswith(NOT_MEASURING) or "__pycache__" in name:
            continue
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
