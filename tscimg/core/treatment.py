"""A patient's mTOR-inhibitor treatment: start, stop, pauses, drug, doses and trough levels.

The values a treatment file (``tscimg.io.treatment``) or the manifest's ``treatment_start`` /
``treatment_stop`` give. The response engine reads it to count months on treatment (pauses
excluded) and to put trough levels beside the non-response recommendations.

Examples
--------
>>> import datetime as dt
>>> h = TreatmentHistory(
...     start=dt.date(2024, 1, 15),
...     pauses=(TreatmentPause(dt.date(2024, 10, 7), dt.date(2024, 10, 28)),),
...     drugs=((dt.date(2024, 1, 15), Drug.EVEROLIMUS),),
...     doses_mg=((dt.date(2024, 1, 15), 10.0), (dt.date(2024, 7, 12), 7.5)),
...     troughs_ng_ml=((dt.date(2024, 7, 10), 17.6),),
... )
>>> h.dose_on(dt.date(2024, 8, 1)), h.drug_on(dt.date(2024, 8, 1)).value
(7.5, 'everolimus')
>>> h.paused_on(dt.date(2024, 10, 10)), h.paused_on(dt.date(2024, 10, 28))
(True, False)
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class TreatmentEventKind(StrEnum):
    """The events of a treatment file's ``event`` column."""

    START = "start"
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    DRUG = "drug"
    DOSE_MG = "dose_mg"
    TROUGH_NG_ML = "trough_ng_ml"


class Drug(StrEnum):
    """The mTOR inhibitors used in TSC."""

    EVEROLIMUS = "everolimus"
    SIROLIMUS = "sirolimus"


@dataclass(frozen=True)
class TreatmentPause:
    """An interruption of treatment (for surgery, an infection, a side effect).

    ``resumed`` is the first day back on the drug; ``None`` while still paused (or when the
    treatment stopped during the pause).
    """

    paused: datetime.date
    resumed: datetime.date | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "paused": self.paused.isoformat(),
            "resumed": None if self.resumed is None else self.resumed.isoformat(),
        }


@dataclass(frozen=True)
class TreatmentHistory:
    """One patient's treatment over time (every sequence in date order).

    Parameters
    ----------
    start, stop
        First and last day of treatment (``None``: not given / still on treatment).
    pauses
        Interruptions between start and stop.
    drugs
        ``(date, drug)`` from which date the drug was given.
    doses_mg
        ``(date, mg)`` from which date the dose applies.
    troughs_ng_ml
        ``(date, ng/mL)`` blood trough levels measured.
    """

    start: datetime.date | None = None
    stop: datetime.date | None = None
    pauses: tuple[TreatmentPause, ...] = ()
    drugs: tuple[tuple[datetime.date, Drug], ...] = ()
    doses_mg: tuple[tuple[datetime.date, float], ...] = ()
    troughs_ng_ml: tuple[tuple[datetime.date, float], ...] = ()

    def drug_on(self, date: datetime.date) -> Drug | None:
        """The drug given on ``date`` (the latest ``drug`` event on or before it)."""
        current = [d for when, d in self.drugs if when <= date]
        return current[-1] if current else None

    def dose_on(self, date: datetime.date) -> float | None:
        """The dose (mg) in force on ``date`` (the latest ``dose_mg`` event on or before it)."""
        current = [mg for when, mg in self.doses_mg if when <= date]
        return current[-1] if current else None

    def pause_on(self, date: datetime.date) -> TreatmentPause | None:
        """The pause in force on ``date`` (the latest to start, should two overlap), or
        ``None``."""
        current = [
            p for p in self.pauses if p.paused <= date and (p.resumed is None or date < p.resumed)
        ]
        return current[-1] if current else None

    def paused_on(self, date: datetime.date) -> bool:
        """Whether treatment was interrupted on ``date``."""
        return self.pause_on(date) is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "start": None if self.start is None else self.start.isoformat(),
            "stop": None if self.stop is None else self.stop.isoformat(),
            "pauses": [p.to_dict() for p in self.pauses],
            "drugs": [{"date": d.isoformat(), "drug": drug.value} for d, drug in self.drugs],
            "doses_mg": [{"date": d.isoformat(), "dose_mg": mg} for d, mg in self.doses_mg],
            "troughs_ng_ml": [
                {"date": d.isoformat(), "trough_ng_ml": v} for d, v in self.troughs_ng_ml
            ],
        }
