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
>>> cell_date("2024-01-15", 2, "date", problems, "leave the cell empty")
datetime.date(2024, 1, 15)
>>> cell_date("9999-12-31", 5, "date", problems, "leave the cell empty"), problems.items[-1]
(None, "row 5, column date: '9999-12-31' is after 2199: an open-ended date such as \
9999-12-31 is not a date: leave the cell empty")
"""

from __future__ import annotations

import csv
import datetime
import io
import re
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


#: The years a date in a CSV input may have: a date outside them is a placeholder (9999-12-31 for
#: "open-ended", 0001-01-01 for "unknown") or a typing error, and would break date arithmetic.
PLAUSIBLE_YEARS = (1900, 2199)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def cell_date(
    text: str, row: int, column: str, problems: TableProblems, instead: str
) -> datetime.date | None:
    """The date in a cell: YYYY-MM-DD only, in the years :data:`PLAUSIBLE_YEARS`.

    Parameters
    ----------
    text
        The cell, stripped; empty gives ``None`` without a problem (the caller decides whether
        the cell may be empty).
    row, column
        Where the cell is, for the problem.
    problems
        Where a problem is noted.
    instead
        What to do instead of a placeholder date, in the problem ("leave the cell empty").

    Returns
    -------
    datetime.date or None
        ``None`` when the cell is empty or has a problem (noted in ``problems``). Forms that
        :meth:`datetime.date.fromisoformat` would also take (``20240115``, ``2024-W03-1``,
        a time) are problems.
    """
    if not text:
        return None
    if not _ISO_DATE.fullmatch(text):
        problems.add(row, column, f"{text!r} is not a date in YYYY-MM-DD form (such as 2024-01-15)")
        return None
    try:
        date = datetime.date.fromisoformat(text)
    except ValueError:
        problems.add(row, column, f"{text!r} is not a date (no such month or day; YYYY-MM-DD)")
        return None
    first, last = PLAUSIBLE_YEARS
    if date.year > last:
        problems.add(
            row,
            column,
            f"{text!r} is after {last}: an open-ended date such as 9999-12-31 is not a date: "
            f"{instead}",
        )
        return None
    if date.year < first:
        problems.add(
            row,
            column,
            f"{text!r} is before {first}: a placeholder such as 0001-01-01 is not a date: "
            f"{instead}",
        )
        return None
    return date


#: Separators a spreadsheet may have saved a "CSV" with, in words.
_OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def _require_commas(header: list[str], known: Sequence[str], problems: TableProblems) -> None:
    """Refuse a header of one cell that holds known column names split by another separator.

    A spreadsheet set to a decimal comma saves "CSV" with semicolons; the whole header then
    reads as one unknown column, and every row as one cell.

    Raises
    ------
    InputError
        (``problems.error``) Naming the separator found and how to save the file.
    """
    if len(header) != 1:
        return
    for separator, name in _OTHER_SEPARATORS.items():
        names = [h.strip() for h in header[0].split(separator)]
        if len(names) > 1 and any(n.lower() in known for n in names):
            raise problems.error(
                f"the columns of {problems.what} are separated by {name}, not commas "
                f"(its header row: {header[0][:80]!r})",
                path=problems.path,
                hint="Save it as comma-separated CSV (Excel: 'CSV UTF-8 (Comma delimited)'; "
                "LibreOffice: field delimiter ',')",
            )


def table_rows(
    text: str, known: Sequence[str], required: Sequence[str], problems: TableProblems
) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a CSV text as ``(line number, {column: cell})``, blank lines skipped.

    The line number is the file's line where the row starts (the header is line 1; blank lines
    count; a row whose quoted cell spans several lines is numbered by its first line). The header
    is checked first (unknown, missing or repeated columns): its problems are raised before any
    row is read. A row with more cells than columns is a problem, not a row; a row the CSV
    reader cannot read (a cell over its size limit) is a problem that ends the reading.

    Raises
    ------
    InputError
        (``problems.error``) When the text has no header, or the header has problems.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as exc:
        raise problems.error(
            f"cannot read the header row of {problems.what} ({exc})", path=problems.path
        ) from None
    if not header:
        raise problems.error(
            f"{problems.what} is empty",
            path=problems.path,
            hint=f"Start it with the header row {','.join(required or known)}",
        )
    _require_commas(header, known, problems)
    unknown = [h for h in header if h not in known]
    miscased = [h for h in unknown if h.lower() in known]
    if miscased:
        problems.add(
            1,
            None,
            "column names are lower case: write "
            + ", ".join(f"{h.lower()} for {h}" for h in miscased),
        )
    unknown = [h for h in unknown if h not in miscased]
    if unknown:
        problems.add(1, None, f"unknown column(s) {', '.join(unknown)}; known: {', '.join(known)}")
    missing = [c for c in required if c not in header]
    if missing:
        problems.add(1, None, f"missing column(s) {', '.join(missing)}")
    if len(set(header)) != len(header):
        problems.add(1, None, "a column name appears twice")
    problems.raise_if_any()
    while True:
        first_line = reader.line_num + 1
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            problems.add(first_line, None, f"cannot read the row ({exc}); the rest was not read")
            return
        if cells is None:
            return
        if len(cells) > len(header):
            problems.add(first_line, None, "more cells than the header has columns")
            continue
        if not any(c.strip() for c in cells):
            continue  # blank line
        cells += [""] * (len(header) - len(cells))  # a short row: its last cells are empty
        yield first_line, dict(zip(header, cells, strict=True))
