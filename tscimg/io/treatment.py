"""The treatment file (CSV, one row per event): ``patient_id,date,event,value``.

Events: ``start``, ``stop``, ``pause``, ``resume`` (``value`` empty), ``drug`` (``everolimus``
or ``sirolimus``), ``dose_mg`` (mg, > 0), ``trough_ng_ml`` (blood trough level, ng/mL, >= 0).
:func:`read_treatment` validates the whole file, and its agreement with the manifest's
``treatment_start`` / ``treatment_stop``, before anything runs, and raises one
:class:`TreatmentFileError` listing every problem with its row and column (the manifest's rules).

Examples
--------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "treatment.csv"
>>> _ = path.write_text(
...     "patient_id,date,event,value\\n"
...     "P1,2024-01-15,start,\\n"
...     "P1,2024-01-15,drug,everolimus\\n"
...     "P1,2024-01-15,dose_mg,10\\n"
...     "P1,2024-03-01,trough_ng_ml,4.2\\n"
...     "P1,2024-05-02,pause,\\n"
...     "P1,2024-05-20,resume,\\n")
>>> history = read_treatment(path).patients["P1"]
>>> history.start, history.dose_on(history.start), history.troughs_ng_ml[0][1]
(datetime.date(2024, 1, 15), 10.0, 4.2)
>>> [p.to_dict() for p in history.pauses]
[{'paused': '2024-05-02', 'resumed': '2024-05-20'}]
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tscimg.core.errors import InputError
from tscimg.core.treatment import Drug, TreatmentEventKind, TreatmentHistory, TreatmentPause
from tscimg.io.atomic import atomic_file
from tscimg.io.csv_tables import TableProblems, cell_date, table_rows
from tscimg.io.manifest import Manifest

TREATMENT_COLUMNS = ("patient_id", "date", "event", "value")

Kind = TreatmentEventKind
_NO_VALUE = (Kind.START, Kind.STOP, Kind.PAUSE, Kind.RESUME)
#: Order of events written on one date (a start first, a stop last).
_WRITE_ORDER = {
    k: n
    for n, k in enumerate(
        (Kind.START, Kind.DRUG, Kind.DOSE_MG, Kind.TROUGH_NG_ML, Kind.PAUSE, Kind.RESUME, Kind.STOP)
    )
}


class TreatmentFileError(InputError):
    """The treatment file cannot be used; the message lists each problem with row and column."""


@dataclass(frozen=True)
class TreatmentFile:
    """A validated treatment file: each patient's history, the file's text (for provenance)."""

    path: Path
    patients: Mapping[str, TreatmentHistory]
    text: str

    @property
    def sha256(self) -> str:
        """SHA-256 of the file's text."""
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class _Event:
    row: int | None  # None: from the manifest
    patient_id: str
    date: datetime.date
    kind: TreatmentEventKind
    drug: Drug | None = None
    amount: float | None = None


def _number(text: str, row: int, kind: TreatmentEventKind, problems: TableProblems) -> float | None:
    unit = "mg" if kind is Kind.DOSE_MG else "ng/mL"
    try:
        value = float(text)
    except ValueError:
        problems.add(row, "value", f"{text!r} is not a number ({kind.value}: {unit}, e.g. 4.5)")
        return None
    if not math.isfinite(value) or value < 0 or (kind is Kind.DOSE_MG and value == 0):
        need = "above 0" if kind is Kind.DOSE_MG else "0 or more"
        problems.add(row, "value", f"{kind.value} must be a number {need} ({unit}), not {text!r}")
        return None
    return value


def _parse_row(
    values: Mapping[str, str | None], row: int, problems: TableProblems
) -> _Event | None:
    before = len(problems.items)
    pid = (values.get("patient_id") or "").strip()
    if not pid:
        problems.add(row, "patient_id", "empty")
    date_text = (values.get("date") or "").strip()
    if not date_text:
        problems.add(row, "date", "empty")
    date = cell_date(
        date_text,
        row,
        "date",
        problems,
        "leave the row out (an ongoing treatment has no stop event)",
    )
    event_text = (values.get("event") or "").strip().lower()
    kind = None
    try:
        kind = Kind(event_text)
    except ValueError:
        known = ", ".join(k.value for k in Kind)
        problems.add(row, "event", f"{event_text!r} is not one of {known}")
    value = (values.get("value") or "").strip()
    drug = amount = None
    if kind in _NO_VALUE and value:
        problems.add(row, "value", f"a {kind.value} event takes no value (found {value!r})")
    elif kind is not None and kind not in _NO_VALUE and not value:
        problems.add(row, "value", f"a {kind.value} event needs a value")
    elif kind is Kind.DRUG:
        try:
            drug = Drug(value.lower())
        except ValueError:
            known = ", ".join(d.value for d in Drug)
            problems.add(row, "value", f"{value!r} is not one of {known}")
    elif kind in (Kind.DOSE_MG, Kind.TROUGH_NG_ML):
        amount = _number(value, row, kind, problems)
    if len(problems.items) > before or date is None or kind is None:
        return None
    return _Event(row, pid, date, kind, drug, amount)


def _manifest_dates(
    events: list[_Event], manifest: Manifest | None, problems: TableProblems
) -> list[_Event]:
    """The manifest's treatment_start/stop as events where the file gives none; a problem
    where both give a different date."""
    if manifest is None:
        return events
    plans = {p.patient_id: p for p in manifest.patients}
    out = list(events)
    first_rows: dict[str, int | None] = {}
    for e in events:
        first_rows.setdefault(e.patient_id, e.row)
    for pid, row in first_rows.items():
        plan = plans.get(pid)
        if plan is None:
            problems.add(
                row,
                "patient_id",
                f"patient {pid} is not in the manifest {manifest.path.name} (a typing error?)",
            )
            continue
        for kind, given in ((Kind.START, plan.treatment_start), (Kind.STOP, plan.treatment_stop)):
            mine = [e for e in events if e.patient_id == pid and e.kind is kind]
            if given is None:
                continue
            if not mine:
                out.append(_Event(None, pid, given, kind))
            elif any(e.date != given for e in mine):
                e = next(e for e in mine if e.date != given)
                problems.add(
                    e.row,
                    "date",
                    f"patient {pid}'s treatment {kind.value} is {e.date.isoformat()} here but "
                    f"{given.isoformat()} in the manifest {manifest.path.name} "
                    f"(treatment_{kind.value}); give one date",
                )
    return out


def _history(pid: str, events: Sequence[_Event], problems: TableProblems) -> TreatmentHistory:
    """Check one patient's events in date order and collect them into a history."""
    ordered = sorted(events, key=lambda e: (e.date, e.row or 0))
    starts = [e for e in ordered if e.kind is Kind.START]
    stops = [e for e in ordered if e.kind is Kind.STOP]
    for extra, first in ((starts[1:], starts[:1]), (stops[1:], stops[:1])):
        for e in extra:
            problems.add(
                e.row,
                "event",
                f"patient {pid} has a second {e.kind.value} (the first is on "
                f"{first[0].date.isoformat()}); a temporary interruption is a pause and a resume",
            )
    start = starts[0].date if starts else None
    stop = stops[0].date if stops else None
    if start is None:
        problems.add(
            ordered[0].row,
            "event",
            f"patient {pid} has treatment events but no start (give a start event or the "
            "manifest's treatment_start)",
        )
    if start is not None and stop is not None and stop < start:
        problems.add(stops[0].row, "date", f"patient {pid}: treatment stops before it starts")
    seen: dict[tuple[datetime.date, TreatmentEventKind], int | None] = {}
    pauses: list[TreatmentPause] = []
    open_pause: _Event | None = None
    for e in ordered:
        if e.kind in (Kind.START, Kind.STOP):
            continue
        key = (e.date, e.kind)
        if key in seen:
            problems.add(
                e.row,
                "event",
                f"patient {pid} has two {e.kind.value} events on {e.date.isoformat()} "
                f"(row {seen[key]}); give one",
            )
            continue
        seen[key] = e.row
        if start is not None and e.date < start:
            problems.add(
                e.row,
                "date",
                f"patient {pid}: {e.kind.value} on {e.date.isoformat()} is before the treatment "
                f"start ({start.isoformat()})",
            )
            continue
        if stop is not None and e.date > stop and e.kind is not Kind.TROUGH_NG_ML:
            problems.add(
                e.row,
                "date",
                f"patient {pid}: {e.kind.value} on {e.date.isoformat()} is after the treatment "
                f"stop ({stop.isoformat()})",
            )
            continue
        if e.kind is Kind.PAUSE:
            if open_pause is not None:
                problems.add(
                    e.row,
                    "event",
                    f"patient {pid}: a pause while already paused (since "
                    f"{open_pause.date.isoformat()}); resume first",
                )
            else:
                open_pause = e
        elif e.kind is Kind.RESUME:
            if open_pause is None:
                problems.add(e.row, "event", f"patient {pid}: a resume without a pause before it")
            else:
                pauses.append(TreatmentPause(open_pause.date, e.date))
                open_pause = None
    if open_pause is not None:
        pauses.append(TreatmentPause(open_pause.date, None))
    return TreatmentHistory(
        start=start,
        stop=stop,
        pauses=tuple(pauses),
        drugs=tuple((e.date, e.drug) for e in ordered if e.kind is Kind.DRUG and e.drug),
        doses_mg=tuple(
            (e.date, e.amount) for e in ordered if e.kind is Kind.DOSE_MG and e.amount is not None
        ),
        troughs_ng_ml=tuple(
            (e.date, e.amount)
            for e in ordered
            if e.kind is Kind.TROUGH_NG_ML and e.amount is not None
        ),
    )


def read_treatment(path: str | os.PathLike[str], manifest: Manifest | None = None) -> TreatmentFile:
    """Read and validate a treatment file (and its agreement with ``manifest``).

    Every problem is reported at once: unknown or missing columns, bad dates, unknown events or
    drugs, values that are not numbers (or are negative), a value on an event that takes none,
    a second start or stop, a pause while paused, a resume without a pause, events before the
    start or (except trough levels) after the stop, two events of one kind on one date, a patient
    absent from the manifest, a start or stop that differs from the manifest's.

    Raises
    ------
    TreatmentFileError
        Listing each problem with its row (the CSV line number) and column.
    """
    p = Path(path)
    if not p.is_file():
        raise TreatmentFileError("no such treatment file", path=p, hint="Check the path")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TreatmentFileError(f"cannot read the treatment file ({exc})", path=p) from None
    problems = TableProblems(
        p,
        "the treatment file",
        TreatmentFileError,
        "Fix these rows (events and values: docs/longitudinal.md, 'The treatment file') and "
        "run again",
    )
    events: list[_Event] = []
    for number, values in table_rows(text, TREATMENT_COLUMNS, TREATMENT_COLUMNS, problems):
        event = _parse_row(values, number, problems)
        if event is not None:
            events.append(event)
    if not events and not problems.items:
        problems.add(None, None, "no rows after the header")
    events = _manifest_dates(events, manifest, problems)
    by_patient: dict[str, list[_Event]] = {}
    for e in events:
        by_patient.setdefault(e.patient_id, []).append(e)
    histories = {pid: _history(pid, evs, problems) for pid, evs in by_patient.items()}
    problems.raise_if_any()
    return TreatmentFile(p, histories, text)


def treatment_rows(patient_id: str, history: TreatmentHistory) -> list[dict[str, str]]:
    """A history as the file's rows (the inverse of :func:`read_treatment` for one patient)."""
    events: list[tuple[datetime.date, TreatmentEventKind, str]] = []
    if history.start is not None:
        events.append((history.start, Kind.START, ""))
    if history.stop is not None:
        events.append((history.stop, Kind.STOP, ""))
    for p in history.pauses:
        events.append((p.paused, Kind.PAUSE, ""))
        if p.resumed is not None:
            events.append((p.resumed, Kind.RESUME, ""))
    events += [(d, Kind.DRUG, drug.value) for d, drug in history.drugs]
    events += [(d, Kind.DOSE_MG, f"{mg:g}") for d, mg in history.doses_mg]
    events += [(d, Kind.TROUGH_NG_ML, f"{v:g}") for d, v in history.troughs_ng_ml]
    events.sort(key=lambda e: (e[0], _WRITE_ORDER[e[1]]))
    return [
        {"patient_id": patient_id, "date": d.isoformat(), "event": k.value, "value": v}
        for d, k, v in events
    ]


def write_treatment(
    histories: Sequence[tuple[str, TreatmentHistory]], path: str | os.PathLike[str]
) -> Path:
    """Write patients' histories as a treatment file (atomically)."""
    p = Path(path)
    with atomic_file(p) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TREATMENT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for pid, history in histories:
            writer.writerows(treatment_rows(pid, history))
    return p
