"""Content hashes of inputs, for provenance and for resuming a batch.

Examples
--------
>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.dcm").write_bytes(b"abc")
>>> content_sha256(d / "a.dcm")[:12]
'ba7816bf8f01'
>>> len(content_sha256(d))  # a folder: every file's name and content
64
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20


def _update_with_file(digest: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


def content_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, or of a folder's files (relative names and contents, sorted).

    Hidden files (names starting with ``.``) in a folder are left out.
    """
    p = Path(path)
    digest = hashlib.sha256()
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        for f in files:
            digest.update(f.relative_to(p).as_posix().encode() + b"\0")
            _update_with_file(digest, f)
            digest.update(b"\0")
    else:
        _update_with_file(digest, p)
    return digest.hexdigest()
