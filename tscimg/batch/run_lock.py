"""One ``track`` run at a time per output folder: a lock file that survives its holder's crash.

The lock is ``OUTDIR/.tscimg.lock``, a small JSON record (pid, host, process start time, when
the run started, its command line, a random token) created atomically: the record is written
to a private file first and hard-linked to the lock's name, which fails when the name exists
(``O_CREAT | O_EXCL`` where hard links are not supported). A second run finds the file and is
refused with :class:`OutputFolderLockedError`, naming the folder and the running process.

A lock whose holder is provably gone is stale and taken over: on the same host, when its pid
no longer exists, or exists with another start time (the pid was reused). A lock from another
host is never taken over automatically (nothing here can see whether that process still
runs): the error says which host and process hold it and that the file may be deleted once
that run is known to be over. Breaking a stale lock renames it aside and checks that the
record moved is the one judged stale (by its token), so two runs breaking the same stale lock
cannot both end up holding the folder.

Inside one thread the lock is re-entrant (``tscimg.track`` holds it across the batch and the
report writing, and the batch takes it again); another thread of the same process is refused
like any other run.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from tscimg.core.errors import InputError
from tscimg.io.atomic import require_writable

LOCK_NAME = ".tscimg.lock"

#: A holder's process start time may be read back a little differently (clock ticks).
_START_TOLERANCE_S = 1.0

#: (resolved lock path, thread) -> (token, depth): the locks this process holds, per thread
_held: dict[tuple[Path, int], tuple[str, int]] = {}
_held_guard = threading.Lock()


class OutputFolderLockedError(InputError):
    """Another ``track`` run is writing into the same output folder (exit code 1)."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds an output folder: the record in its lock file."""

    pid: int
    host: str
    process_started: float
    started: str
    command: str
    token: str
    #: The holder's PID namespace (Linux; "" elsewhere, or in a lock of an earlier version):
    #: a pid means nothing outside its namespace
    pid_namespace: str = ""

    def describe(self) -> str:
        """The holder in a sentence: process, host, since when, command."""
        return (
            f"process {self.pid} on host {self.host}, running since {self.started}: {self.command}"
        )


def _own_record() -> LockHolder:
    process = psutil.Process()
    return LockHolder(
        pid=os.getpid(),
        host=socket.gethostname(),
        process_started=process.create_time(),
        started=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        command=" ".join(sys.argv) or sys.executable,
        token=secrets.token_hex(16),
        pid_namespace=_pid_namespace(),
    )


def _other_namespace(namespace: str) -> bool:
    """Whether a lock's PID namespace is known and not this process's (a lock written without
    one, by an earlier version, is judged as before)."""
    return bool(namespace) and namespace != _pid_namespace()


def _pid_namespace() -> str:
    """This process's PID namespace (``pid:[4026531836]``); "" where it cannot be read."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _read(path: Path) -> LockHolder | None:
    """The record of a lock file; ``None`` when it is gone. Raises ValueError when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    try:
        return LockHolder(
            pid=int(data["pid"]),
            host=str(data["host"]),
            process_started=float(data["process_started"]),
            started=str(data["started"]),
            command=str(data["command"]),
            token=str(data["token"]),
            pid_namespace=str(data.get("pid_namespace", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"missing or bad field {exc}") from None


def _create(path: Path, record: LockHolder) -> bool:
    """Create the lock file with ``record`` in one step; ``False`` when it already exists."""
    text = json.dumps(asdict(record), indent=1)
    private = path.with_name(f"{path.name}.{record.token}")
    private.write_text(text, encoding="utf-8")
    try:
        os.link(private, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links on this filesystem: exclusive creation, then the record
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return True
    finally:
        private.unlink(missing_ok=True)


def holder_is_gone(holder: LockHolder) -> bool:
    """Whether the process that wrote ``holder`` has certainly ended (same host only, and the
    same PID namespace: a run in a container sharing the host's name is pid 1 there, and
    another process here; its live lock was taken over as stale)."""
    if holder.host != socket.gethostname():
        return False
    if _other_namespace(holder.pid_namespace):
        return False
    try:
        started = psutil.Process(holder.pid).create_time()
    except psutil.NoSuchProcess:
        return True
    except (psutil.Error, ValueError):  # cannot be inspected (or no valid pid): never taken
        return False
    return abs(started - holder.process_started) > _START_TOLERANCE_S


def _break_stale(path: Path, stale: LockHolder) -> None:
    """Remove the stale lock judged from ``stale``, never a live lock that replaced it."""
    aside = path.with_name(f"{path.name}.stale-{secrets.token_hex(8)}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # another run broke it first
    try:
        moved = _read(aside)
    except ValueError:
        moved = None
    try:
        if moved is None or moved.token != stale.token:
            # A run took the lock over between our reading and our renaming: put it back
            # (if a third run has taken the free name meanwhile, that run keeps it).
            try:
                os.link(aside, path)
            except FileExistsError:
                pass
            except OSError:  # no hard links on this filesystem
                if not path.exists():
                    os.rename(aside, path)
    finally:
        aside.unlink(missing_ok=True)


def _refuse(folder: Path, problem: str) -> OutputFolderLockedError:
    return OutputFolderLockedError(
        problem,
        path=folder,
        hint="Wait for that run to finish, or write to another folder with -o",
    )


def _acquire(folder: Path, path: Path) -> str:
    record = _own_record()
    for _ in range(10):
        if _create(path, record):
            return record.token
        try:
            holder = _read(path)
        except ValueError as exc:
            raise OutputFolderLockedError(
                f"the lock file {path.name} is unreadable ({exc})",
                path=folder,
                hint=f"If no tscimg run writes into this folder, delete {path} and run again",
            ) from None
        if holder is None:
            continue  # released between our attempt and our reading: try again
        if holder.host != record.host or _other_namespace(holder.pid_namespace):
            where = "another host" if holder.host != record.host else "another PID namespace "
            where += "" if holder.host != record.host else "(a container sharing this host's name)"
            raise OutputFolderLockedError(
                f"another tscimg track run is writing into this folder ({holder.describe()}); "
                f"it runs on {where}, so whether it is still running cannot be checked here",
                path=folder,
                hint=f"Wait for it to finish; if it is known to have ended (a crashed node), "
                f"delete {path} and run again",
            )
        if not holder_is_gone(holder):
            raise _refuse(
                folder,
                f"another tscimg track run is writing into this folder ({holder.describe()})",
            )
        _break_stale(path, holder)
        time.sleep(0.01 * secrets.randbelow(5))  # spread runs that broke it together
    raise _refuse(folder, "the folder's lock kept changing hands; another run is starting")


@contextmanager
def output_folder_lock(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``folder``'s run lock for the duration of the block (re-entrant in one thread).

    Parameters
    ----------
    folder
        The output folder (created when missing).

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    OutputFolderLockedError
        When another live run holds the folder.
    InputError
        When ``folder`` is a file, or cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> with output_folder_lock(out) as lock:
    ...     with output_folder_lock(out):  # the same process may take it again
    ...         print(lock.name, lock.exists())
    .tscimg.lock True
    >>> lock.exists()
    False
    """
    out = require_writable(folder, folder=True)  # a file there, or no write access: said
    out.mkdir(parents=True, exist_ok=True)
    path = out.resolve() / LOCK_NAME
    key = (path, threading.get_ident())
    with _held_guard:
        token, depth = _held.get(key, ("", 0))
        if depth == 0:
            token = _acquire(out, path)
        _held[key] = (token, depth + 1)
    try:
        yield path
    finally:
        with _held_guard:
            token, depth = _held.pop(key)
            if depth > 1:
                _held[key] = (token, depth - 1)
            else:
                _release(path, token)


def _release(path: Path, token: str) -> None:
    try:
        holder = _read(path)
    except ValueError:
        return
    if holder is not None and holder.token == token:  # never remove a lock that is not ours
        path.unlink(missing_ok=True)


class RunSupersededError(InputError):
    """The run this work belongs to no longer holds its output folder (it was stopped and
    another run took the folder over): nothing more may be written there."""


def held_token(folder: str | os.PathLike[str]) -> str | None:
    """The token of the lock this thread holds on ``folder`` (``None``: it holds none)."""
    path = Path(folder).resolve() / LOCK_NAME
    with _held_guard:
        token, depth = _held.get((path, threading.get_ident()), ("", 0))
    return token if depth > 0 else None


def require_run_holds(folder: str | os.PathLike[str], token: str | None) -> None:
    """Refuse to write into ``folder`` unless its lock still holds the run of ``token``.

    A patient sent to a cluster worker runs on after its run is killed (kill -9, Ctrl-C): its
    client, which held the lock, is gone, and a new run takes the folder over. The old task
    then overwrote the new run's masks, SEG, SR and saved state (a report of 6.01 mL beside
    a mask of 12.13 mL). Work checks this before each file it writes. ``token`` ``None``: no
    run to check (a library call without an output folder's lock).

    Raises
    ------
    RunSupersededError
        When the lock file is gone or holds another run.
    """
    if token is None:
        return
    try:
        holder = _read(Path(folder) / LOCK_NAME)
    except ValueError:  # unreadable: not provably this run's
        holder = None
    if holder is None or holder.token != token:
        raise RunSupersededError(
            "the run this patient belonged to no longer holds the output folder (it was "
            "stopped, and another run may have taken the folder over): nothing more is written",
            path=folder,
        )


#: The output folder and run token the work of this context writes for (see
#: :func:`writing_for`); ``None``: no run to check.
_current_run: contextvars.ContextVar[tuple[Path, str] | None] = contextvars.ContextVar(
    "tscimg_current_run", default=None
)


@contextmanager
def writing_for(folder: Path | None, token: str | None) -> Iterator[None]:
    """Within the block, :func:`require_current_run` checks that ``folder``'s lock still holds
    the run of ``token`` (nothing is checked when either is ``None``)."""
    reset = _current_run.set(None if folder is None or token is None else (folder, token))
    try:
        yield
    finally:
        _current_run.reset(reset)


def require_current_run() -> None:
    """:func:`require_run_holds` for the run of :func:`writing_for`'s block, before a write."""
    current = _current_run.get()
    if current is not None:
        require_run_holds(*current)
