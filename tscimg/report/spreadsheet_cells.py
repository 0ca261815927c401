"""Text cells that a spreadsheet will show as text, never run as a formula (CSV injection).

report.csv carries text from the manifest (patient and lesion IDs, paths) and messages built
from it. A spreadsheet that opens the CSV runs any cell starting with ``=``, ``+``, ``-`` or
``@`` as a formula (``=HYPERLINK(...)`` becomes a link, others can run commands), and a leading
tab or carriage return can hide such a start. Following the OWASP guidance on CSV injection,
such a text cell is prefixed with a single quote, which spreadsheets take as "this is text" and
do not display. Numbers are written as numbers (a change of -31.0% stays a number); only text
is changed.

Examples
--------
>>> neutral_cell('=HYPERLINK("http://x.example","click")')
'\\'=HYPERLINK("http://x.example","click")'
>>> neutral_cell("-31.0"), neutral_cell(-31.0), neutral_cell("TSC-001")
("'-31.0", -31.0, 'TSC-001')
>>> neutral_cell("\\t=1+1")
"'\\t=1+1"
"""

from __future__ import annotations

#: First characters that make a spreadsheet read a cell as a formula (or hide one).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutral_cell(value: object) -> object:
    """``value`` as it should go into a CSV cell: text starting a formula gets a leading ``'``.

    Anything that is not text (numbers, booleans, ``None``) is returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
