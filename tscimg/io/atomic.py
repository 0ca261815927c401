"""Atomic output: write to a temporary sibling, then rename over the target."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tscimg.core.errors import InputError


def temporary_pattern(target: str, suffix: str) -> re.Pattern[str]:
    r"""The names :func:`atomic_file` gives the temporary files of targets whose names match the
    regular expression ``target`` and end in ``suffix``: ``.<target>.<8 random characters>
    <suffix>``. A killed write leaves one behind; nothing else is named so (an editor's
    ``.seg.dcm.swp`` is not).

    >>> p = temporary_pattern(r"(?:seg|sr)\.dcm", ".dcm")
    >>> bool(p.fullmatch(".seg.dcm.k2j3h4ab.dcm")), bool(p.fullmatch(".seg.dcm.swp"))
    (True, False)
    """
    return re.compile(rf"\.(?:{target})\.\w{{8}}{re.escape(suffix)}")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _suffixes(path: Path) -> str:
    name = path.name
    for double in (".nii.gz", ".tar.gz"):
        if name.lower().endswith(double):
            return name[-len(double) :]
    return path.suffix


@contextmanager
def atomic_file(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target`` (same extension); rename it over on success.

    ``suffix`` names the temporary file's extension when it must differ from ``target``'s
    (a writer that chooses its format by a lower-case extension: ITK writes ``x.MHA`` as a
    header ``x.mhd`` and a data file beside it, and refuses ``x.NII.GZ``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_file(d / "out.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "out.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('done', ['out.txt'])
    """
    target = Path(target)
    if target.is_dir():
        raise _unwritable(target, "it is a folder; give a file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            prefix=f".{target.name}.",
            suffix=_suffixes(target) if suffix is None else suffix,
            dir=target.parent,
        )
    except OSError as exc:
        raise _unwritable(target, exc.strerror or str(exc)) from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _unwritable(target: Path, why: str) -> InputError:
    return InputError(
        f"cannot write the output here ({why})",
        path=target,
        hint="Choose an output path in a folder you can write to",
    )


def require_writable(target: str | os.PathLike[str], folder: bool = False) -> Path:
    """Refuse, before any work, an output path that cannot be written.

    ``target`` is an output file (or, with ``folder=True``, an output folder, which may exist).
    The nearest existing folder on its path must be writable, and nothing on the way may be a
    file. Permissions are as ``os.access`` sees them (a superuser passes them all: the write
    itself is checked again by :func:`atomic_file`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.txt").write_text("x")
    >>> require_writable(d / "new" / "mask.nii.gz").name
    'mask.nii.gz'
    >>> require_writable(d / "a.txt" / "mask.nii.gz")
    Traceback (most recent call last):
    ...
    tscimg.core.errors.InputError: ...mask.nii.gz: cannot write the output here (...a file...
    """
    target = Path(target)
    if target.exists() and target.is_dir() != folder:
        raise _unwritable(
            target, "it is a folder; give a file name" if not folder else "it is a file"
        )
    ancestor = target if folder and target.is_dir() else target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise _unwritable(target, f"{ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise _unwritable(target, f"the folder {ancestor} is not writable")
    return target


@contextmanager
def atomic_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; it replaces ``target`` on success."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise _unwritable(target, exc.strerror or str(exc)) from exc
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            old.rmdir()
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
