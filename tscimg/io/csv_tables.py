"""What the CSV inputs (the manifest, the treatment file) share: every problem collected with
its row and column and reported at once, and the header checked before any row is read.

Examples
--------
>>> from pathlib import Path
>>> from tscimg.core.errors import InputError
>>> problems = TableProblems(Path("t.csv"), "the table", InputError, "Fix these rows")
>>> rows = list(table_rows("a,b\\n1,2\\n,\\n3,4,5\\n", ("a", "b"), ("a",), problems))
>>> rows, problems.items
([(2, {'a': '1', 'b': '2'})], ['row 4: more cells than the header has columns'])
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tscimg.core.errors import InputError


@dataclass
class TableProblems:
    """The problems of one CSV input, each with its row (the CSV line number) and column.

    Parameters
    ----------
    path
        The file, named in the error.
    what
        The file's name in messages ("the manifest").
    error
        The error type raised.
    hint
        What to do, in the error.
    """

    path: Path
    what: str
    error: type[InputError]
    hint: str
    items: list[str] = field(default_factory=list)

    def add(self, row: int | None, column: str | None, problem: str) -> None:
        """Note a problem at a row and column (``None``: the file as a whole)."""
        where = []
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column}")
        prefix = ", ".join(where)
        self.items.append(f"{prefix}: {problem}" if prefix else problem)

    def raise_if_any(self) -> None:
        """Raise ``error`` listing the problems (the first 20 and how many more), if any."""
        if self.items:
            shown = self.items[:20]
            more = len(self.items) - len(shown)
            listing = "; ".join(shown) + (f"; and {more} more" if more else "")
            raise self.error(
                f"{len(self.items)} problem(s) in {self.what}: {listing}",
                path=self.path,
                hint=self.hint,
            )


def table_rows(
    text: str, known: Sequence[str], required: Sequence[str], problems: TableProblems
) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a CSV text as ``(line number, {column: cell})``, blank lines skipped.

    The header is checked first (unknown, missing or repeated columns): its problems are
    raised before any row is read. A row with more cells than columns is a problem, not a row.

    Raises
    ------
    InputError
        (``problems.error``) When the text has no header, or the header has problems.
    """
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise problems.error(
            f"{problems.what} is empty",
            path=problems.path,
            hint=f"Start it with the header row {','.join(required or known)}",
        )
    unknown = [h for h in header if h not in known]
    if unknown:
        problems.add(1, None, f"unknown column(s) {', '.join(unknown)}; known: {', '.join(known)}")
    missing = [c for c in required if c not in header]
    if missing:
        problems.add(1, None, f"missing column(s) {', '.join(missing)}")
    if len(set(header)) != len(header):
        problems.add(1, None, "a column name appears twice")
    problems.raise_if_any()
    reader.fieldnames = header
    for number, values in enumerate(reader, start=2):
        if None in values:  # more cells than columns
            problems.add(number, None, "more cells than the header has columns")
            continue
        if not any((v or "").strip() for v in values.values()):
            continue  # blank line
        yield number, {k: v or "" for k, v in values.items()}
