"""Where a sweep's ensembles run: a local process pool, or a Dask cluster.

``execute(run_task, make_tasks, …)`` yields each task's result as it finishes, with a bounded number of
tasks in flight (two a worker), so memory stays flat however many a study has. Workers end when the
coordinating process does, however it ends (``watch_coordinator``). On Dask the scheduler's address is
checked before any connection, a scheduler that does not answer is reported within a timeout, and a cluster
left without workers stops the sweep after another.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import select
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from wattyear.sim.config import ConfigError, Problem

#: seconds to reach a Dask scheduler before the address is reported as unreachable
SCHEDULER_TIMEOUT = 10.0
#: seconds a Dask sweep waits with no worker in the cluster (none yet, or all gone) before it stops
WORKER_TIMEOUT = 60.0


def check_scheduler(address) -> str:
    """A Dask scheduler's address, checked before any connection is tried: a scheme Dask knows
    (``tcp://host:8786``, ``tls://``…; a bare ``host:port`` is TCP) with a host and a port."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise ConfigError([Problem("--scheduler", str(address), "Dask installed: pip install 'wattyear[dask]'",
                                   "no distributed package")])
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address, parse_host_port

    schemes = sorted(registry.backends)
    expected = "a Dask scheduler address such as tcp://host:8786 (" + ", ".join(f"{s}://" for s in schemes) + ")"

    def refuse(found) -> ConfigError:
        return ConfigError([Problem("--scheduler", str(address), expected, found)])

    if not isinstance(address, str) or not address.strip():
        raise refuse(address)
    try:
        scheme, location = parse_address(address, strict=False)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if scheme not in registry.backends:
        raise refuse(f"the unknown scheme {scheme}://")
    if scheme == "inproc":  # a scheduler in this very process (LocalCluster(processes=False))
        return address
    try:
        host, port = parse_host_port(location)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if not host or not 1 <= port <= 65535:
        raise refuse("no host" if not host else f"the port {port} (1-65535)")
    return address


def connect(address: str, timeout: float = SCHEDULER_TIMEOUT):
    """A client of the Dask scheduler at ``address``; one that does not answer within ``timeout``
    seconds is a ConfigError naming the address (not a wait of Dask's own 30 s and an OSError)."""
    check_scheduler(address)
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ConfigError([Problem("--scheduler", address, "a running Dask scheduler at this address (dask scheduler "
                                   "--host …; see docs/studies.md)",
                                   f"no answer within {timeout:g} s ({str(exc)[:200]})")]) from None


def _no_workers(client, timeout: float) -> ConfigError:
    return ConfigError([Problem("--scheduler", client.scheduler.address, "a cluster with at least one worker "
                                f"(dask worker {client.scheduler.address} --nthreads 1)",
                                f"no worker for {timeout:g} s")])


def _dask_results(client, run_task, make_tasks, worker_timeout: float):
    """Yield each ensemble's manifest entries as it finishes on the cluster, two tasks a worker thread
    in flight; stop with a ConfigError when the cluster has had no worker for ``worker_timeout``
    seconds (none came, or all left), rather than wait for ever."""
    from distributed import wait

    try:
        client.wait_for_workers(1, timeout=worker_timeout)
    except TimeoutError:
        raise _no_workers(client, worker_timeout) from None
    threads = max(sum(client.nthreads().values()), 1)
    tasks = iter(make_tasks(threads))
    in_flight = {client.submit(run_task, t, pure=False) for t in itertools.islice(tasks, 2 * threads)}
    idle_since = None
    while in_flight:
        try:
            done, in_flight = wait(in_flight, timeout=min(1.0, worker_timeout / 4), return_when="FIRST_COMPLETED")
        except TimeoutError:  # nothing finished this second: is anyone still working?
            if client.nthreads():
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= worker_timeout:
                raise _no_workers(client, worker_timeout) from None
            continue
        for future in done:
            entries = future.result()
            future.release()
            nxt = next(tasks, None)
            if nxt is not None:
                in_flight.add(client.submit(run_task, nxt, pure=False))
            yield entries


# ----------------------------------------------------------------------------------------- local pool


def watch_coordinator(pid: int) -> None:
    """Pool initializer: end this worker as soon as the sweep's coordinating process ``pid`` ends, however
    it ends. A worker's parent is the forkserver, not the coordinator, and a coordinator killed with
    SIGKILL closes nothing a busy worker waits on: without this, workers (~550 MB) run on, writing
    results nobody records. Once they are gone, the forkserver, which lives while any of them does,
    ends too."""
    threading.Thread(target=_exit_with, args=(pid,), name="wattyear-coordinator-watch", daemon=True).start()


def _exit_with(pid: int) -> None:
    """Block until process ``pid`` ends, then end this process at once (a half-written result keeps its
    temporary name, which the next sweep removes). A pidfd (Linux 5.3+) becomes readable when the
    process ends, even as a zombie; elsewhere, poll once a second."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not poller.poll():
            pass
    else:
        while _alive(pid):
            time.sleep(1.0)
    os._exit(1)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def execute(run_task, make_tasks, workers: int | None, client, worker_timeout: float = WORKER_TIMEOUT):
    """Yield ``run_task(task)`` for each task as it finishes (a sweep's: each ensemble's manifest entries),
    on a Dask cluster (``client``) or a local process pool.

    ``make_tasks(slots)`` packs the study for that many workers (on Dask, the cluster's threads). A
    bounded number of tasks is in flight (two a worker): memory stays flat however many a study has.
    """
    if client is not None:
        yield from _dask_results(client, run_task, make_tasks, worker_timeout)
        return
    workers = workers or os.cpu_count() or 1
    tasks = iter(make_tasks(workers))
    if workers == 1:
        for task in tasks:
            yield run_task(task)
        return
    # forkserver: workers fork from a clean single-threaded server with the model preloaded
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["wattyear.experiments.studies.sweep", "wattyear.sim.model",
                                    "wattyear.experiments.results"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=watch_coordinator,
                             initargs=(os.getpid(),)) as pool:
        pending = {pool.submit(run_task, task) for task in itertools.islice(tasks, 2 * workers)}
        try:
            while pending:  # keep a bounded number of tasks in flight: flat memory
                finished = next(as_completed(pending))
                pending.remove(finished)
                nxt = next(tasks, None)
                if nxt is not None:
                    pending.add(pool.submit(run_task, nxt))
                yield finished.result()
        finally:  # stopped by an error (a full disk): what has not started never starts
            for future in pending:
                future.cancel()
