"""Progress of a ``track`` run on stderr: a bar on a terminal, plain lines in a log."""

from __future__ import annotations

import datetime
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)


def _clock(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


class BatchProgress:
    """Patients done out of the total, failures, elapsed and remaining time.

    On a terminal a rich progress bar (removed when the run ends); otherwise (a log file, a
    batch system's output) one plain line per finished patient.

    Parameters
    ----------
    total
        Patients in the run.
    console
        Where to write (stderr: stdout holds the results).
    bar
        Show the bar (a terminal); lines otherwise.
    """

    def __init__(self, total: int, console: Console, bar: bool) -> None:
        self.total = total
        self.console = console
        self.done = 0
        self.failed = 0
        self.computed = 0  # finished and not resumed: what the remaining time is estimated from
        self.started = time.monotonic()
        self._bar: Progress | None = None
        if bar:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("patients, {task.fields[failed]} failed,"),
                TimeElapsedColumn(),
                TextColumn("elapsed, {task.fields[remaining]} remaining"),
                console=console,
                transient=True,
            )
            self._task = self._bar.add_task("tracking", total=total, failed=0, remaining="?")

    def __enter__(self) -> BatchProgress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, value, traceback)

    def note(self, text: str) -> None:
        """A line for the user (shown above the bar on a terminal)."""
        self.console.print(f"tscimg: {text}", markup=False, highlight=False, soft_wrap=True)

    def remaining(self) -> str:
        """Time left at the pace of the patients computed so far (resumed ones take none)."""
        if self.done == self.total:
            return "0:00:00"
        if self.computed == 0:
            return "unknown"
        elapsed = time.monotonic() - self.started
        return "~" + _clock(elapsed / self.computed * (self.total - self.done))

    def advance(self, patient_id: str, failed: bool, resumed: bool) -> None:
        """Record a finished patient (the batch's progress callback)."""
        self.done += 1
        self.failed += failed
        self.computed += not resumed
        state = "failed" if failed else "resumed" if resumed else "done"
        if self._bar is not None:
            self._bar.update(
                self._task,
                advance=1,
                description=f"{patient_id} {state}",
                failed=self.failed,
                remaining=self.remaining(),
            )
            return
        self.note(
            f"{self.done}/{self.total} patients, {self.failed} failed, elapsed "
            f"{_clock(time.monotonic() - self.started)}, remaining {self.remaining()} "
            f"({patient_id} {state})"
        )
