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

from tscimg.io.file_checks import irregularity, require_regular_file
from tscimg.io.volume_files import detached_data_files

_CHUNK = 1 << 20


def _update_with_file(digest: hashlib._Hash, path: Path) -> None:
    """Hash a regular file's bytes, at most as many as it had when hashing began.

    A pipe or device (``/dev/zero``) would be read forever, and a file growing meanwhile
    would never end either: both are bounded.
    """
    remaining = require_regular_file(path)
    with path.open("rb") as handle:
        while remaining > 0 and (chunk := handle.read(min(_CHUNK, remaining))):
            digest.update(chunk)
            remaining -= len(chunk)


def content_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, or of a folder's files (relative names and contents, sorted).

    Entries of a folder that are not regular files (pipes, devices, sockets: the loaders skip
    them too) are left out; hidden files are not (a DICOM folder's ``.IM0025.dcm`` is read as
    a slice: a rerun resumed a patient whose hidden slice had been cut short). A MetaImage or
    NRRD header is hashed with the data files it names (:func:`detached_data_files`).

    Raises
    ------
    ImageReadError
        When ``path`` itself is neither a folder nor a regular file.
    """
    p = Path(path)
    digest = hashlib.sha256()
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if not f.is_dir() and irregularity(f) is None)
        for f in files:
            digest.update(f.relative_to(p).as_posix().encode() + b"\0")
            _update_with_file(digest, f)
            digest.update(b"\0")
    else:
        _update_with_file(digest, p)
        for data in detached_data_files(p):
            digest.update(b"\0" + data.name.encode() + b"\0")
            if irregularity(data) is None:
                _update_with_file(digest, data)
    return digest.hexdigest()
