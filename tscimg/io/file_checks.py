"""Checks before and after reading a file: regular files only, and files as long as promised.

A named pipe (FIFO) or a device (``/dev/zero``) can block a read forever or never end it, so
nothing is opened before :func:`require_regular_file` has looked at what the path is. A file
cut short (an interrupted copy or download) is refused when it holds less pixel data than its
header promises: some readers (ITK's NIfTI reader among them) fill the missing part with zeros
and return a plausible image.

Examples
--------
>>> import gzip, pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.gz").write_bytes(gzip.compress(b"x" * 1000))
>>> gzip_payload_bytes(d / "a.gz", 1000)
1000
>>> _ = (d / "cut.gz").write_bytes(gzip.compress(bytes(range(256)) * 40)[:200])
>>> gzip_payload_bytes(d / "cut.gz", 10240) < 10240
True
>>> require_regular_file(pathlib.Path("/dev/null"))
Traceback (most recent call last):
...
tscimg.core.errors.ImageReadError: /dev/null: this is a character device, not a regular file...
"""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path

from tscimg.core.errors import ImageReadError

#: Largest pixel payload (bytes) a header may promise; larger images are refused before any
#: allocation (a damaged size field, or a decompression bomb, would otherwise exhaust memory).
MAX_PIXEL_BYTES = 8 * 2**30

_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


def kind_of(mode: int) -> str:
    """What a ``st_mode`` describes, in words.

    Examples
    --------
    >>> kind_of(stat.S_IFIFO), kind_of(stat.S_IFREG)
    ('named pipe (FIFO)', 'regular file')
    """
    if stat.S_ISREG(mode):
        return "regular file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def irregularity(path: Path) -> str | None:
    """Why ``path`` (followed through symbolic links) is not a regular file; ``None`` if it is.

    Looks at the file system entry only: nothing is opened, so a pipe cannot block.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file (or a broken symbolic link)"
    except OSError as exc:  # a name too long, a loop of links, no permission
        return f"cannot be examined ({exc.strerror or type(exc).__name__})"
    except ValueError as exc:  # a NUL byte in the name
        return f"not a usable path ({exc})"
    if stat.S_ISREG(mode):
        return None
    return f"this is a {kind_of(mode)}, not a regular file"


def require_regular_file(path: Path) -> int:
    """Raise :class:`ImageReadError` unless ``path`` is a regular file; return its size in bytes."""
    problem = irregularity(path)
    if problem is not None:
        raise ImageReadError(
            problem,
            path=path,
            hint="Pass the image file itself: tscimg reads regular files only (a pipe or a "
            "device could block or never end)",
        )
    return os.stat(path).st_size


def require_within_limit(path: Path, payload_bytes: int, shape: object) -> None:
    """Refuse a header that promises more than :data:`MAX_PIXEL_BYTES` of pixels."""
    if payload_bytes > MAX_PIXEL_BYTES:
        raise ImageReadError(
            f"the header promises {payload_bytes / 2**30:.3g} GiB of pixel data (size {shape}); "
            f"tscimg reads at most {MAX_PIXEL_BYTES / 2**30:g} GiB",
            path=path,
            hint="The size fields are probably damaged; if the image is really this large, "
            "crop it around the region of interest first",
        )


def require_payload(path: Path, needed_bytes: int, available_bytes: int, what: str) -> None:
    """Refuse a file that holds fewer bytes than its header promises (a truncated file)."""
    if available_bytes < needed_bytes:
        raise ImageReadError(
            f"the file is truncated: its header promises {needed_bytes} bytes of {what}, "
            f"the file holds {max(available_bytes, 0)}",
            path=path,
            hint="Copy or download the file again, or re-export it",
        )


def zlib_payload_bytes(path: Path, expected_bytes: int, start: int = 0) -> int:
    """How many bytes the zlib stream of ``path`` from byte ``start`` decompresses to (at most
    ``expected_bytes``; the output is counted, not kept). A MetaImage's compressed data is one
    zlib stream whose length says nothing of what it holds: a short stream read as the whole
    image left the rest of the voxels as uninitialised memory."""
    inflater = zlib.decompressobj()
    total = 0
    with path.open("rb") as handle:
        handle.seek(start)
        while total < expected_bytes and not inflater.eof:
            data = inflater.unconsumed_tail or handle.read(_CHUNK)
            if not data:
                break
            try:
                total += len(inflater.decompress(data, expected_bytes - total))
            except zlib.error:
                break
    return total


def gzip_payload_bytes(path: Path, expected_bytes: int, start: int = 0) -> int:
    """How many bytes the gzip data of ``path`` decompresses to (at most ``expected_bytes``).

    The gzip data starts at byte ``start`` (after an attached text header) and runs to the end
    of the file.

    A whole gzip stream ends with its uncompressed size modulo 2**32 (ISIZE): when that equals
    ``expected_bytes`` the stream is taken as whole without decompressing it (a truncated
    stream ends in compressed data, which matches by chance with probability 2**-32). Otherwise
    the stream is decompressed, without keeping the output, up to ``expected_bytes`` or to
    where it ends (a cut stream stops early; concatenated members are followed).
    """
    size = os.stat(path).st_size
    if size - start >= 18 and expected_bytes < 2**32:
        with path.open("rb") as handle:
            handle.seek(size - 4)
            if int.from_bytes(handle.read(4), "little") == expected_bytes:
                return expected_bytes
    total = 0
    inflater: zlib._Decompress | None = None
    pending = b""
    with path.open("rb") as handle:
        handle.seek(start)
        while total < expected_bytes:
            data = pending or handle.read(_CHUNK)
            pending = b""
            if not data:
                break
            if inflater is None:  # the start of a gzip member, or trailing bytes
                if not data.startswith(_GZIP_MAGIC[: len(data)]):
                    break
                inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
            try:
                total += len(inflater.decompress(data, _CHUNK))
            except zlib.error:
                break  # damaged compressed data: only what came before it counts
            if inflater.eof:
                pending, inflater = inflater.unused_data, None
            else:
                pending = inflater.unconsumed_tail
    return min(total, expected_bytes)
