"""Keeping ITK's own stderr warnings out of the user's terminal, and its exceptions' C++
plumbing (source paths, object addresses) out of tscimg's messages and reports."""

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


def itk_reason(exc: BaseException) -> str:
    """The informative line of an ITK exception (not the C++ file and line, nor the object's
    memory address, which differs from run to run and made two identical runs' reports
    differ); with the last line of the reader library's own trace when ITK's line only says it
    had trouble (NRRD: "Read: Error reading x.nrrd:" then "[nrrd] ...: bzip2 encoding not
    available").

    >>> itk_reason(RuntimeError("Exception thrown in SimpleITK X: /b/itkM.hxx:307:\\n"
    ...     "ITK ERROR: MattesMutualInformation(0x55aec3255f50): All samples map outside"))
    'All samples map outside'
    """
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    for n in range(len(lines) - 1, -1, -1):
        if "ITK ERROR" in lines[n]:
            reason = lines[n].split(":", 2)[-1].strip()
            detail = lines[-1].split(":")[-1].strip() if n < len(lines) - 1 else ""
            return f"{reason.rstrip(':')}: {detail}" if detail else reason
    return lines[-1] if lines else "unknown error"
