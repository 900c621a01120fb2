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
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from wattyear.sim.config import ConfigError, Problem

#: seconds to reach a Dask scheduler before the address is reported as unreachable
SCHEDULER_TIMEOUT = 10.0
#: seconds a Dask sweep waits with no worker in the cluster (none yet, or all gone) before it stops
WORKER_TIMEOUT = 60.0


#: local workers a sweep may start per core: a sweep steps numpy arrays, so more workers than cores only
#: share the cores (and each holds its memory budget); a few per core leave room for a machine's own count
WORKERS_PER_CORE = 4


def max_workers() -> int:
    """The most local workers a sweep starts on this machine: ``WORKERS_PER_CORE`` per core it may use."""
    cores = os.process_cpu_count() if hasattr(os, "process_cpu_count") else os.cpu_count()
    return WORKERS_PER_CORE * (cores or 1)


def check_workers(workers) -> int | None:
    """``workers`` if it is None (all cores) or a whole number from 1 to ``max_workers()``; else a
    ConfigError naming ``--workers`` (10⁶ workers were accepted, and 10²⁰ ended in an OverflowError)."""
    limit = max_workers()
    if workers is None or (type(workers) is int and 1 <= workers <= limit):
        return workers
    raise ConfigError([Problem("--workers", "workers", f"a whole number from 1 to {limit:,} ({WORKERS_PER_CORE} "
                               f"per core of this machine's {limit // WORKERS_PER_CORE:,})", workers)])


def _security():
    """The security Dask's client has when given none: its ``distributed.comm.tls`` settings."""
    from distributed.security import Security

    return Security()


def _tls_context():
    """The TLS context of Dask's settings (None: no TLS files configured)."""
    return _security().get_connection_args("client")["ssl_context"]


def _usable(scheme: str, location: str = "") -> str | None:
    """Why a transport Dask lists cannot carry a sweep from here (None: it can). Dask registers
    ``tls``, ``wss`` and ``ucx`` whatever is installed or configured, and ``inproc`` reaches only
    this very process: tried anyway, they fail deep inside Dask with a TypeError."""
    if scheme in ("tls", "wss"):
        if _tls_context() is None:
            return f"{scheme}:// with no TLS files in Dask's settings (distributed.comm.tls)"
    elif scheme == "ucx":
        import importlib.util

        if importlib.util.find_spec("distributed_ucxx") is None:
            return "ucx:// without its transport installed (pip install distributed-ucxx)"
    elif scheme == "inproc":
        from distributed.comm.inproc import global_manager

        try:
            listening = global_manager.get_listener_for(location) is not None
        except ValueError:  # another host or process, or not ip/pid/n
            listening = False
        if not listening:
            return "inproc://, which reaches only a scheduler started in this same process (use tcp://)"
    return None


def check_scheduler(address) -> str:
    """A Dask scheduler's address, checked before any connection is tried: a transport installed and usable
    here (``tcp://host:8786``; ``tls://`` and ``wss://`` with TLS files configured; ``ucx://`` with its
    package; ``inproc://`` only for a scheduler in this process; a bare ``host:port`` is TCP) with a host
    and a port."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise ConfigError([Problem("--scheduler", str(address), "Dask installed: pip install 'wattyear[dask]'",
                                   "no distributed package")])
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address, parse_host_port

    schemes = [s for s in sorted(registry.backends) if s != "inproc" and _usable(s) is None]
    expected = "a Dask scheduler address such as tcp://host:8786 (" + ", ".join(f"{s}://" for s in schemes) + ")"

    def refuse(found) -> ConfigError:
        return ConfigError([Problem("--scheduler", str(address), expected, found)])

    if not isinstance(address, str) or not address.strip():
        raise refuse(address if isinstance(address, str) else type(address).__name__)
    try:
        scheme, location = parse_address(address, strict=False)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if scheme not in registry.backends:
        raise refuse(f"the unknown scheme {scheme}://")
    why = _usable(scheme, location)
    if why:
        raise refuse(why)
    if scheme == "inproc":  # a scheduler in this very process (LocalCluster(processes=False)): no host or port
        return address
    try:
        host, port = parse_host_port(location)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if not host or not 1 <= port <= 65535:
        raise refuse("no host" if not host else f"the port {port} (1-65535)")
    return address


async def _identity(address: str, timeout: float, connection_args: dict) -> dict:
    """What the server at ``address`` says it is (a Dask scheduler says ``{"type": "Scheduler", …}``)."""
    from distributed.comm import connect as open_comm
    from distributed.core import send_recv

    comm = await open_comm(address, timeout=timeout, **connection_args)
    try:
        return await send_recv(comm, op="identity")
    finally:
        comm.abort()


def _probe(address: str, timeout: float, connection_args: dict) -> dict:
    """``_identity`` within ``timeout`` seconds overall, on a loop of its own in a thread of its own (the
    caller's thread may run a loop already: a Jupyter kernel does). A server that accepts and then says
    nothing (an HTTP port) is a TimeoutError, not a wait for ever."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def bounded():
        return await asyncio.wait_for(_identity(address, timeout, connection_args), timeout)

    pool = ThreadPoolExecutor(1, thread_name_prefix="wattyear-scheduler-probe")
    try:
        return pool.submit(asyncio.run, bounded()).result(timeout + 5)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def connect(address: str, timeout: float = SCHEDULER_TIMEOUT):
    """A client of the Dask scheduler at ``address``. Within ``timeout`` seconds overall, the server must
    answer as a Dask scheduler; anything else (no answer, a server that says nothing or speaks another
    protocol, an error inside Dask) is one ConfigError naming the address, never a traceback or a wait."""
    check_scheduler(address)
    from distributed import Client

    def refuse(found: str) -> ConfigError:
        return ConfigError([Problem("--scheduler", address, "a running Dask scheduler at this address (dask "
                                    "scheduler --host …; see docs/studies.md)", found)])

    def said(exc: BaseException) -> str:
        return ((str(exc).splitlines() or [""])[0][:200] or type(exc).__name__)

    security = _security()
    try:
        if not address.startswith("inproc://"):  # an inproc scheduler is this process's own
            identity = _probe(address, timeout, security.get_connection_args("client"))
            if not isinstance(identity, dict) or identity.get("type") != "Scheduler":
                kind = identity.get("type") if isinstance(identity, dict) else None
                raise refuse(f"a Dask {kind}, not its scheduler" if isinstance(kind, str)
                             else "an answer that is not a Dask scheduler's")
        return Client(address, timeout=timeout, security=security)
    except ConfigError:
        raise
    except (OSError, TimeoutError) as exc:
        raise refuse(f"no answer within {timeout:g} s ({said(exc)})") from None
    except Exception as exc:  # a banner read as a frame length, a protocol mismatch: Dask's errors vary
        raise refuse(f"an answer that is not a Dask scheduler's ({type(exc).__name__})") from None


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
    A pool worker killed mid-task (the out-of-memory killer) is a ``WorkerLost`` naming the runs in flight.
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
        pending = {pool.submit(run_task, task): task for task in itertools.islice(tasks, 2 * workers)}
        try:
            while pending:  # keep a bounded number of tasks in flight: flat memory
                finished = next(as_completed(pending))
                task = pending.pop(finished)
                try:
                    result = finished.result()
                except BrokenProcessPool:
                    raise WorkerLost([task, *pending.values()]) from None
                nxt = next(tasks, None)
                if nxt is not None:
                    pending[pool.submit(run_task, nxt)] = nxt
                yield result
        finally:  # stopped by an error (a full disk): what has not started never starts
            for future in pending:
                future.cancel()


class WorkerLost(ConfigError):
    """A pool worker ended mid-task, killed by a signal (the kernel's out-of-memory killer sends SIGKILL):
    the pool is broken and every task in flight lost with it. Nothing recorded is lost, and a sweep run
    again resumes exactly; one message says so, names the runs, and points at memory."""

    def __init__(self, tasks: list):
        ids = [run["run_id"] for task in tasks if isinstance(task, dict) for run in task.get("runs", ())]
        named = ", ".join(ids[:5]) + (f" and {len(ids) - 5:,} more" if len(ids) > 5 else "")
        self.run_ids = ids
        super().__init__([Problem(
            "--workers", f"{len(ids):,} run(s) in flight, not recorded ({named})" if ids else "the runs in flight",
            "each worker to finish its runs: run the same command again to resume (finished runs are kept); "
            "if memory ran out, use fewer --workers or a smaller --memory",
            "a worker process killed mid-run (by a signal, as the out-of-memory killer sends)")])

    @property
    def kind(self) -> str:
        return "a worker process was killed; nothing finished is lost"
