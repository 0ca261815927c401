"""Keeping ITK's own stderr warnings out of the user's terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import SimpleITK as sitk


@contextmanager
def quiet_itk() -> Iterator[None]:
    """Silence ITK's stderr warnings (tscimg reports its own, as scan warnings)."""
    before = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(before)
