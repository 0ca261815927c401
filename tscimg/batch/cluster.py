"""Patients on a dask.distributed cluster: a local one for ``jobs``, or an existing scheduler.

This is the library's one module that imports ``distributed``, and it is imported only by runs
that use a cluster (the command line and serial runs start without it).

Fault handling is dask's: when a worker dies (killed, out of memory, its machine lost) the
scheduler gives the patients it was running to another worker, up to
``distributed.scheduler.allowed-failures`` times (3 by default) per patient; a patient that
kills its worker more often fails alone, with a message saying so. Workers write each output
atomically, so a patient computed twice (once by a worker that died, once by its successor)
leaves the same files.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from tscimg.core.errors import TscimgError

if TYPE_CHECKING:
    from distributed import Client, Future

Job = TypeVar("Job")
Outcome = TypeVar("Outcome")

#: The schemes of a scheduler another process can reach without extra libraries.
NETWORK_SCHEMES = ("tcp", "tls")
#: How long to try reaching a scheduler before giving up.
CONNECT_TIMEOUT_S = 30.0


class ClusterError(TscimgError):
    """The dask scheduler cannot be reached, or was lost during the run (exit code 1)."""


def itk_threads_per_worker(workers: int) -> int:
    """ITK threads for each of ``workers`` processes sharing this machine's cores.

    One thread per core in all: ITK's default (every core in every process) oversubscribes the
    machine and is slower (docs/batch.md: 2 workers on 2 cores, 7-11%); the numbers do not
    depend on it.
    """
    return max(1, (os.cpu_count() or 1) // max(1, workers))


@contextmanager
def local_client(workers: int) -> Iterator[Client]:
    """A cluster of ``workers`` processes on this machine (one patient at a time each).

    Parameters
    ----------
    workers
        Worker processes; each is restarted by its nanny if it dies.

    Yields
    ------
    distributed.Client
        Connected to the cluster; the cluster is closed on leaving.
    """
    import dask
    from distributed import Client, LocalCluster

    threads = str(itk_threads_per_worker(workers))
    # dask starts workers with MALLOC_TRIM_THRESHOLD_ set, which turns off glibc's adaptive
    # malloc thresholds: every large array is then a fresh mmap, and this pipeline needs 15%
    # more CPU (docs/batch.md). The workers keep glibc's defaults.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",  # this machine only, on a free port
            silence_logs=logging.ERROR,
            env={"ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": threads, "OMP_NUM_THREADS": threads},
        )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def check_scheduler_address(address: str) -> None:
    """Check that ``address`` is a dask scheduler address (``tcp://HOST:PORT``), without
    connecting.

    Raises
    ------
    ClusterError
        When it is not one (``'foo'``, ``'http://host:8786'``).

    Examples
    --------
    >>> check_scheduler_address("tcp://127.0.0.1:8786")
    >>> check_scheduler_address("http://127.0.0.1:8786")
    Traceback (most recent call last):
    ...
    tscimg.batch.cluster.ClusterError: 'http://127.0.0.1:8786' is not a dask scheduler address ...
    """
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(address)
        if scheme not in NETWORK_SCHEMES:  # inproc:// is this process's own; ucx:// needs ucx-py
            raise ValueError(f"the scheme {scheme}:// is not one of {', '.join(NETWORK_SCHEMES)}")
        get_backend(scheme)
        parse_host_port(location)
    except (TypeError, ValueError) as exc:
        raise ClusterError(
            f"{address!r} is not a dask scheduler address ({exc})",
            hint="Give it as tcp://HOST:PORT (the address 'dask scheduler' prints)",
        ) from None


@contextmanager
def scheduler_client(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Client]:
    """A client of the running dask scheduler at ``address`` (``tcp://host:8786``).

    Raises
    ------
    ClusterError
        When no scheduler answers at ``address`` within ``timeout_s``.
    """
    from distributed import Client

    hint = (
        "Start one with 'dask scheduler' and its workers with 'dask worker ADDRESS' "
        "(docs/batch.md), or check the address"
    )
    # a malformed address is said at once: a Client half-built from one lingered, and its
    # clean-up held the process for 60 s at exit and printed a traceback
    check_scheduler_address(address)
    try:
        client = Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError, ImportError) as exc:
        raise ClusterError(
            f"cannot reach a dask scheduler at {address} ({type(exc).__name__}: {exc})",
            hint=hint,
        ) from None
    with client:
        yield client


def _bokeh_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def dashboard_link(client: Client) -> str | None:
    """The address of the cluster's dashboard; ``None`` when it has none.

    The scheduler serves the dashboard only where bokeh is installed (else its web port shows
    a page asking for bokeh), so the scheduler is asked.
    """
    try:
        services = client.scheduler_info().get("services", {})
        if "dashboard" not in services or not client.run_on_scheduler(_bokeh_installed):
            return None
        link = client.dashboard_link
    except Exception:  # a scheduler that refuses to run code, or without information
        return None
    return None if link is None else str(link)


def worker_count(client: Client) -> int:
    """Workers connected to the client's scheduler now."""
    return len(client.nthreads())


def run_on_cluster(
    client: Client,
    function: Callable[[Job], Outcome],
    jobs: Sequence[Job],
    names: Sequence[str],
) -> Iterator[tuple[Job, Outcome | str]]:
    """Run ``function(job)`` for every job on the cluster; yield each job as it finishes.

    Parameters
    ----------
    client
        Connected to the scheduler.
    function
        Importable on the workers (a module-level function of tscimg).
    jobs
        Its arguments, one task each.
    names
        A readable task name per job (shown on the dashboard; made unique per run).

    Yields
    ------
    tuple
        ``(job, outcome)``, or ``(job, message)`` when the task itself failed on the cluster
        (its worker died too often, or the worker could not run it).

    Raises
    ------
    ClusterError
        When the cluster is lost (the run can be started again: finished patients resume).
    """
    from uuid import uuid4

    from distributed.scheduler import KilledWorker

    run = uuid4().hex[:8]
    with ctrl_c_deferred():
        futures = {
            client.submit(function, job, key=f"{name}-{run}", pure=False): job
            for job, name in zip(jobs, names, strict=True)
        }
    try:
        for future in _as_finished(futures):
            job = futures[future]
            outcome: Outcome | str
            try:
                outcome = future.result()
            except KilledWorker as exc:
                outcome = (
                    "the workers processing this patient died repeatedly (out of memory, or a "
                    f"crash; see the workers' logs): {exc}"
                )
            except (asyncio.CancelledError, concurrent.futures.CancelledError):
                raise ClusterError(
                    "the dask cluster cancelled the work (the scheduler was lost or restarted)",
                    hint="Run the same command again: the patients finished so far resume",
                ) from None
            except Exception as exc:
                outcome = (
                    f"the cluster could not run this patient ({type(exc).__name__}: {exc}); "
                    "check that tscimg is installed on every worker"
                )
            yield job, outcome
    finally:
        client.cancel(list(futures))  # an interrupted run leaves nothing queued on the cluster


def _as_finished(futures: Iterable[Future]) -> Iterator[Future]:
    """``futures`` in the order they finish; Ctrl-C (:func:`ctrl_c_deferred`) stops the wait.

    Not ``distributed.as_completed``: its iterator waits on locks it shares with the client's
    event-loop thread, and a Ctrl-C landing in its locking code left one held: the loop thread
    hung on it once the interrupted run cancelled its patients, and the run never ended.
    This waits in ``time.sleep``; ``Future.done`` takes no lock.
    """
    pending = list(futures)
    while pending:
        with ctrl_c_deferred():
            while not (finished := [future for future in pending if future.done()]):
                if _ctrl_c:  # noted here or by an enclosing ctrl_c_deferred
                    _ctrl_c.clear()
                    raise KeyboardInterrupt
                time.sleep(0.1)
        pending = [future for future in pending if future not in finished]
        yield from finished


#: Set by :func:`ctrl_c_deferred`'s handler; a list, as the handler must take no lock.
_ctrl_c: list[bool] = []


@contextmanager
def ctrl_c_deferred() -> Iterator[None]:
    """Ctrl-C inside is noted, and raised as ``KeyboardInterrupt`` on leaving (a second one at
    once), outside the dask client's code.

    Raised where it lands, a ``KeyboardInterrupt`` could leave a lock that the client's
    event-loop thread needs held, or be swallowed by a finaliser running at that moment (a
    generator's, a ``__del__``): the run then waited forever for workers. Nothing changes off
    the main thread, or where the program has its own SIGINT handler; nested, only the
    outermost installs its handler (a wait inside it, :func:`_as_finished`, raises as soon as
    it sees the note).
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def note(signum: int, frame: object) -> None:
        if _ctrl_c:
            raise KeyboardInterrupt
        _ctrl_c.append(True)

    _ctrl_c.clear()
    signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if _ctrl_c:
        _ctrl_c.clear()
        raise KeyboardInterrupt
