"""Calendar dates as the library takes them: a :class:`datetime.date`, a
:class:`datetime.datetime` (its date) or ``YYYY-MM-DD`` text, one rule everywhere."""

from __future__ import annotations

import datetime


def iso_date(value: object) -> datetime.date | None:
    """``value`` as a date, or ``None`` when it is none of the forms taken.

    Examples
    --------
    >>> iso_date("2024-01-15"), iso_date(datetime.datetime(2024, 1, 15, 9, 30))
    (datetime.date(2024, 1, 15), datetime.date(2024, 1, 15))
    >>> iso_date("15/01/2024") is None, iso_date("20240115") is None, iso_date(20240115) is None
    (True, True, True)
    """
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and len(value) == 10 and value[4] == value[7] == "-":
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return None
    return None
