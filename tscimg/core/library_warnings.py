"""Warnings the libraries tscimg calls raise, turned into tscimg's own warnings.

Python prints a library's warning raw (file, line, source line) on stderr, in the middle of a
command's output or a batch worker's. tscimg records them instead: warnings about the data
(``UserWarning``, ``RuntimeWarning``) become lines of tscimg's warnings, named by the library
that raised them; warnings about the software itself (deprecations, resources) concern its
developers, not the reader of a report, and are dropped.

Examples
--------
>>> import warnings
>>> with captured_library_warnings() as notes:
...     warnings.warn("spacing looks odd", UserWarning)
...     warnings.warn("old API", DeprecationWarning)
>>> notes
['python: spacing looks odd']
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Categories that say something about the data (the others are about the software).
REPORTED = (UserWarning, RuntimeWarning)


def _library(filename: str) -> str:
    parts = Path(filename).parts
    if "site-packages" in parts:
        after = parts[parts.index("site-packages") + 1 :]
        if after:
            return after[0].removesuffix(".py")
    return "python"


@contextmanager
def captured_library_warnings() -> Iterator[list[str]]:
    """Record the warnings raised inside the block; the list yielded is filled on exit
    (an error leaving the block still fills it).

    Each reported warning appears once, as ``"<library>: <message>"``.
    """
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield notes
        finally:  # also when the block ends in an error (or sys.exit)
            seen: dict[str, None] = {}
            for w in caught:
                if issubclass(w.category, REPORTED):
                    seen.setdefault(f"{_library(w.filename)}: {w.message}")
            notes.extend(seen)
