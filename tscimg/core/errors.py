"""The tscimg exception hierarchy.

Every error the toolkit raises on purpose derives from :class:`TscimgError`.
Each message says what was wrong, with which file, and what to do about it,
so the command line can print it as one line and exit with code 1.

Examples
--------
>>> err = DicomSeriesError("a slice is missing", path="/data/ct", hint="re-export the series")
>>> str(err)
'/data/ct: a slice is missing. re-export the series'
>>> isinstance(err, InputError) and isinstance(err, TscimgError)
True
"""

from __future__ import annotations

import errno
from os import PathLike


class TscimgError(Exception):
    """Root of every error tscimg raises on purpose.

    Parameters
    ----------
    problem
        What was wrong, in one sentence without a trailing period.
    path
        The file or folder the problem is in, when there is one.
    hint
        What the user should do about it.
    """

    def __init__(
        self, problem: str, *, path: str | PathLike[str] | None = None, hint: str | None = None
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.hint = hint
        super().__init__(self._compose())

    def _compose(self) -> str:
        text = self.problem.rstrip(".")
        if self.path is not None:
            text = f"{self.path}: {text}"
        if self.hint:
            text = f"{text}. {self.hint}"
        return text


class InputError(TscimgError):
    """The input (a file, a manifest, a prompt, a parameter) is not usable.

    The command line exits with code 1 for these.
    """


class AssessmentInputError(InputError, ValueError):
    """Figures or dates given to the response assessment are not usable (a NaN volume, two
    visits on one date, a date that is not a date). Also a :class:`ValueError`, what these
    raised before."""


class ImageReadError(InputError):
    """A file could not be read as an image, or its format is not supported."""


class DicomSeriesError(InputError):
    """A DICOM folder or series cannot be turned into one consistent volume."""


class GeometryMismatchError(InputError):
    """Two images (or an image and a mask) that must share a grid do not."""


class MaskError(InputError):
    """A mask file is unusable (not a label map, or not placeable on its image)."""


class PromptError(InputError):
    """Segmentation prompts are unusable (outside the image, contradictory, or give nothing)."""


#: OSError numbers that say the machine, not tscimg or its input, stopped the work.
_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "input/output error",
}


def environment_problem(exc: BaseException) -> str | None:
    """What a full disk, a read-only or forbidden path or an I/O error stopped, naming the
    file and what to do; ``None`` for any other exception (a bug, to be reported as one).

    A full disk read "internal error: OSError: [Errno 28] No space left on device", naming no
    file, exit 4 and "please report it".

    Examples
    --------
    >>> environment_problem(OSError(errno.ENOSPC, "No space left on device", "/out/a.nii.gz"))
    '/out/a.nii.gz: no space left on the device; free space there, or choose another folder'
    >>> environment_problem(ValueError("x")) is None
    True
    """
    if not isinstance(exc, OSError) or exc.errno not in _ENVIRONMENT_ERRNOS:
        return None
    where = exc.filename if exc.filename is not None else "the output folder"
    what = _ENVIRONMENT_ERRNOS[exc.errno]
    fix = (
        "free space there, or choose another folder"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT)
        else "check that this user may read and write there, or choose another folder"
    )
    return f"{where}: {what}; {fix}"
