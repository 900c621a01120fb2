"""Sweeps that cannot mix or lose results: a folder's identity, its lock, resume verifying each run's
file, an append-safe manifest, workers that end with their coordinator, Dask addresses and
timeouts, write errors, and every study-file mistake a clear error."""

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow.parquet as pq
import pytest

import wattyear
from wattyear.experiments.studies import folder_files, store as store_module
from wattyear.experiments.studies import executors
from wattyear.experiments.cli import main
from wattyear.experiments.studies.folder_files import WriteError
from wattyear.experiments.studies.store import ResultStore
from wattyear.experiments.studies.study import MAX_RUNS, load_study
from wattyear.experiments.studies.result_folder import LOCK, study_folder
from wattyear.experiments.studies.sweep import expected_rows, run_sweep
from wattyear.sim.config import CONFIG_DIR, ConfigError
from tests.sweeps import assert_same_results, results

BASE = CONFIG_DIR / "baseline.toml"
TINY = """months = 3
replicates = 2

[grid]
"open_weights.quality_fraction" = [0.7, 0.9]

[outputs]
keep = "every"
every_months = 2
kinds = ["lab", "fringe"]
"""


def study_file(tmp_path: Path, body: str = TINY, *, base: Path = BASE, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'[study]\nname = "s"\nbase = "{base}"\nseed = 7\n' + body)
    return path


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The tiny study swept once, untouched: the reference the damaged and resumed folders must equal."""
    folder = tmp_path_factory.mktemp("clean")
    path = study_file(folder)
    run_sweep(load_study(path), folder / "out", workers=1, progress=False)
    return SimpleNamespace(study=path, out=folder / "out")


def copy_of(clean, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(clean.out, out)
    return out


# ------------------------------------------------------------------------------------------ 1. identity


def test_a_resume_after_the_base_config_was_edited_is_refused_and_writes_nothing(tmp_path, capsys):
    base = tmp_path / "base.toml"
    shutil.copyfile(BASE, base)
    path = study_file(tmp_path, base=base)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    identity = json.loads((out / "identity.json").read_text())
    assert identity["wattyear"] == wattyear.__version__ and len(identity["config_sha256"]) == 64
    (out / "runs" / "p00001-r001.parquet").unlink()  # an unfinished run the resume would do
    before = snapshot(out)
    base.write_text(base.read_text().replace("energy_usd_per_mwh = 77.5", "energy_usd_per_mwh = 80.0"))
    capsys.readouterr()
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{out}: base config: expected the base config its runs were made with ({base}" in err
    assert "new folder (--out) or delete this one" in err and "resolves to another config now" in err
    assert snapshot(out) == before
    with pytest.raises(ConfigError, match="base config"):  # run_sweep checks too, under the lock
        run_sweep(load_study(path), out, workers=1, progress=False)
    assert snapshot(out) == before


def test_a_resume_by_another_wattyear_version_is_refused(clean, tmp_path, monkeypatch):
    out = copy_of(clean, tmp_path)
    before = snapshot(out)
    monkeypatch.setattr(wattyear, "__version__", "99.0")
    with pytest.raises(ConfigError) as info:
        study_folder(load_study(clean.study), out)
    assert [(p.key, p.found) for p in info.value.problems] == [("wattyear version", "wattyear 99.0")]
    assert f"wattyear {json.loads((out / 'identity.json').read_text())['wattyear']}, which made its runs" in \
        str(info.value)
    assert snapshot(out) == before


def test_a_folder_whose_runs_have_no_identity_is_refused_unless_adopted(clean, tmp_path):
    """identity.json removed (or a folder from before it): a sweep went on and mixed runs of an edited base
    config with the old ones. It is refused, naming the flag that adopts the runs; adopted, the folder
    gets this study's identity; a folder whose study.toml is another study's is refused even then."""
    out = copy_of(clean, tmp_path)
    (out / "identity.json").unlink()
    before = snapshot(out)
    with pytest.raises(ConfigError, match=r"identity.json: expected the record of what the folder's runs came "
                                          r"from .*--adopt.*found 'runs with no record'"):
        run_sweep(load_study(clean.study), out, workers=1, progress=False)
    assert snapshot(out) == before
    report = run_sweep(load_study(clean.study), out, workers=1, progress=False, adopt=True)
    assert (report.done, report.skipped) == (0, 4)
    assert json.loads((out / "identity.json").read_text())["wattyear"] == wattyear.__version__
    (out / "identity.json").unlink()
    other = study_file(tmp_path, TINY.replace("0.9]", "0.8]"), name="other.toml")
    with pytest.raises(ConfigError, match="study.toml: expected the same study as other.toml"):
        study_folder(load_study(other), out, adopt=True)


# ---------------------------------------------------------------------------------------------- 2. lock


def test_a_second_sweep_into_a_folder_being_written_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / LOCK, "a+") as held:  # as a running sweep holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write(f"{os.getpid()} somehost\n")
        held.flush()
        before = snapshot(out)
        code = main(["sweep", str(study_file(tmp_path)), "--out", str(out), "--workers", "1", "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2
        assert f"{out}: sweep.lock: expected a folder no other sweep is writing to" in err
        assert f"another sweep is writing there (pid {os.getpid()} on somehost)" in err
        assert snapshot(out) == before
    report = run_sweep(load_study(study_file(tmp_path)), out, workers=1, progress=False)  # released: it runs
    assert report.done == 4


# ------------------------------------------------------------------------------ 3. resume verifies files


def test_resume_redoes_cut_and_empty_run_files(clean, tmp_path):
    out = copy_of(clean, tmp_path)
    cut, empty = out / "runs" / "p00000-r001.parquet", out / "runs" / "p00001-r000.parquet"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    empty.write_bytes(b"")
    report = run_sweep(load_study(clean.study), out, workers=1, progress=False)
    assert (report.done, report.skipped, report.failed) == (2, 2, 0)
    assert_same_results(clean.out, out)
    manifest = ResultStore(out).manifest().set_index("run_id")
    assert manifest.loc[cut.stem, "note"].startswith("redone on resume: its file did not read")
    assert manifest.loc[empty.stem, "note"].startswith("redone on resume: its file did not read")
    assert (manifest["status"] == "ok").all()


def test_a_resume_trusts_files_with_the_stamp_their_record_holds_and_reads_the_others(clean, tmp_path, monkeypatch):
    """Each ``ok`` record holds its files' stamp (size, time, inode). A resume in the folder the runs were
    written to reads no footer at all; a file cut in place, or another run's file moved over it (its own
    inode, time and size), no longer has its stamp, so its footer is read and the run redone."""
    study = load_study(clean.study)
    out = tmp_path / "out"
    run_sweep(study, out, workers=1, progress=False)
    rows, stamps = ResultStore(out).recorded_runs()
    assert sorted(stamps) == sorted(rows) and all(s.count(";") == 0 and s.count(":") == 2 for s in stamps.values())
    reads = []
    real = pq.read_metadata
    monkeypatch.setattr(store_module.pq, "read_metadata", lambda *a, **k: reads.append(a) or real(*a, **k))
    table = (out / "manifest.parquet").stat().st_mtime_ns
    report = run_sweep(study, out, workers=1, progress=False)
    assert (report.done, report.skipped, reads) == (0, 4, [])
    assert (out / "manifest.parquet").stat().st_mtime_ns == table  # current: not written again
    cut, moved = out / "runs" / "p00000-r001.parquet", out / "runs" / "p00001-r001.parquet"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    os.replace(out / "runs" / "p00001-r000.parquet", moved)  # p00001-r000 is gone: not finished, simply redone
    finished = sorted(ResultStore(out).finished())
    assert len(finished) == 3
    damaged = ResultStore(out).verify({r: rows[r] for r in finished}, study.tables, stamps)
    assert sorted(damaged) == sorted([cut.stem, moved.stem]) and sorted(reads) == [(cut,), (moved,)]
    report = run_sweep(study, out, workers=1, progress=False)
    assert (report.done, report.skipped) == (3, 1)
    assert (out / "manifest.parquet").stat().st_mtime_ns != table
    assert set(pd.read_parquet(out / "manifest.parquet")["note"].fillna("")) == set(
        ResultStore(out).manifest()["note"].fillna(""))
    manifest = ResultStore(out).manifest().set_index("run_id")
    assert manifest.loc[cut.stem, "note"].startswith("redone on resume: its file did not read")
    assert manifest.loc[moved.stem, "note"] == "redone on resume: its file is run 'p00001-r000''s"
    assert_same_results(clean.out, out)


def test_a_file_with_the_wrong_row_count_is_redone_and_unrecorded_files_are_counted(clean, tmp_path):
    out = copy_of(clean, tmp_path)
    study = load_study(clean.study)
    rows = ResultStore(out).recorded_rows()
    assert set(rows.values()) == {expected_rows(study, study.runs[0].params)} == {2 * 5}  # 2 months x 5 agents
    short = out / "runs" / "p00000-r000.parquet"
    pd.read_parquet(short).iloc[:3].to_parquet(short, index=False)  # whole, but short of its rows
    (out / "manifest.jsonl").write_text("")  # as if every run was stored just before a crash
    report = run_sweep(study, out, workers=1, progress=False)
    assert (report.done, report.skipped) == (1, 3)
    manifest = ResultStore(out).manifest().set_index("run_id")
    assert manifest.loc["p00000-r000", "note"] == "redone on resume: its file held 3 rows, not 10"
    assert set(manifest.drop(index="p00000-r000")["note"]) == {"found finished on resume"}
    assert set(manifest["rows"]) == {10}
    assert_same_results(clean.out, out)


def test_a_file_copied_over_another_runs_is_redone(clean, tmp_path):
    """Each run file names its run in its footer: one run's file copied over another's (same rows, other
    numbers) is found on resume and that run is redone."""
    out = copy_of(clean, tmp_path)
    source, target = out / "runs" / "p00000-r000.parquet", out / "runs" / "p00001-r001.parquet"
    shutil.copyfile(source, target)
    report = run_sweep(load_study(clean.study), out, workers=1, progress=False)
    assert (report.done, report.skipped) == (1, 3)
    manifest = ResultStore(out).manifest().set_index("run_id")
    assert manifest.loc[target.stem, "note"] == "redone on resume: its file is run 'p00000-r000''s"
    assert_same_results(clean.out, out)


@pytest.mark.parametrize("locked", [False, True])
def test_loading_refuses_a_run_file_copied_over_another_runs(clean, tmp_path, locked):
    """Before: with no packed file, the copy was read as its target: p00000-r000's rows twice, p00000-r001's
    lost, silently. Whether the load packs (no sweep there) or reads the run files (a sweep holds the lock)."""
    out = copy_of(clean, tmp_path)
    (out / "runs.parquet").unlink()
    shutil.copyfile(out / "runs" / "p00000-r000.parquet", out / "runs" / "p00000-r001.parquet")
    with open(out / LOCK, "a+") as held:
        if locked:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ConfigError) as info:
            ResultStore(out).load()
    assert f"{out / 'runs' / 'p00000-r001.parquet'}: (file): expected the rows of run p00000-r001" in str(info.value)
    assert "found \"run p00000-r000's rows (a file copied over another run's?)\"" in str(info.value)
    assert not (out / "runs.parquet").exists()


# ------------------------------------------------------------------------------ 4. append-safe manifest


def test_a_torn_last_line_does_not_swallow_the_next_record(tmp_path):
    store = ResultStore(tmp_path)
    store.record({"run_id": "a", "status": "ok"})
    with store.manifest_path.open("ab") as fh:
        fh.write(b'{"run_id": "b", "sta')  # a crash mid-write
    store.record({"run_id": "c", "status": "ok"})
    lines = store.manifest_path.read_bytes().splitlines()
    assert [json.loads(line)["run_id"] for line in lines] == ["a", "c"]
    with store.manifest_path.open("ab") as fh:
        fh.write(b'{"run_id": "d", "status": "ok"}')  # whole, but its line break was never written
    store.record({"run_id": "e", "status": "ok"})
    assert [json.loads(line)["run_id"] for line in store.manifest_path.read_bytes().splitlines()] == \
        ["a", "c", "d", "e"]


def test_resume_after_a_torn_line_and_lines_that_are_not_records(clean, tmp_path):
    out = copy_of(clean, tmp_path)
    for run_id in ("p00000-r001", "p00001-r001"):
        (out / "runs" / f"{run_id}.parquet").unlink()
    with (out / "manifest.jsonl").open("a") as fh:
        fh.write('42\n[1, 2]\n"text"\n{"run_id": 5}\n{}\nnull\n{"run_id": "p00000-r001", "sta')
    report = run_sweep(load_study(clean.study), out, workers=1, progress=False)
    assert (report.done, report.skipped) == (2, 2)
    manifest = ResultStore(out).manifest()
    assert sorted(manifest["run_id"]) == sorted(results(clean.out)) and (manifest["status"] == "ok").all()
    assert not (out / "manifest.jsonl").read_text().endswith('"sta')
    assert pd.read_parquet(out / "manifest.parquet")["run_id"].is_unique
    assert_same_results(clean.out, out)


@pytest.mark.parametrize("field, value", [("rows", "12"), ("seed", "7"), ("point", 0.5), ("status", 1),
                                          ("error", None), ("wall_seconds", "0.1"), ("params", [1]), ("rows", -1),
                                          ("replicate", True)])
def test_a_manifest_record_with_a_wrongly_typed_field_is_skipped_as_a_torn_line_is(clean, tmp_path, field, value):
    """Before: ``"rows": "12"`` (or a text seed…) ended the finished sweep in an ArrowTypeError. The line is
    not a record: the run keeps its last good record, and its file is verified as usual."""
    out = copy_of(clean, tmp_path)
    first = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    with (out / "manifest.jsonl").open("a") as fh:
        fh.write(json.dumps({**first, field: value, "note": "edited"}) + "\n")
    report = run_sweep(load_study(clean.study), out, workers=1, progress=False)
    assert (report.done, report.skipped) == (0, 4)
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert manifest.equals(pd.read_parquet(clean.out / "manifest.parquet"))
    assert_same_results(clean.out, out)


def test_a_manifest_key_of_mixed_types_is_kept_as_text(tmp_path):
    store = ResultStore(tmp_path)
    for run_id, extra in (("a", 1), ("b", "x"), ("c", True), ("d", None)):
        store.record({"run_id": run_id, "status": "ok", "extra": extra})
    assert pq.read_table(store.write_manifest_table()).column("extra").to_pylist() == ["1", "x", "true", None]


@pytest.mark.parametrize("target, found", [("/dev/zero", "a symbolic link"), (None, "a symbolic link"),
                                           ("fifo", "not a regular file (a device, pipe or socket)"),
                                           ("folder", "a folder")])
def test_a_manifest_that_is_not_a_regular_file_is_refused(clean, tmp_path, target, found):
    """Before: a link to the zero device was read until memory ran out (a MemoryError), a pipe waited on
    for ever, and a record through a link pointing nowhere created its target outside the folder."""
    out = copy_of(clean, tmp_path)
    manifest = out / "manifest.jsonl"
    manifest.unlink()
    if target == "fifo":
        os.mkfifo(manifest)
    elif target == "folder":
        manifest.mkdir()
    else:
        manifest.symlink_to(target or tmp_path / "nowhere.jsonl")
    for read in (ResultStore(out).manifest, lambda: ResultStore(out).record({"run_id": "x"}),
                 lambda: run_sweep(load_study(clean.study), out, workers=1, progress=False)):
        with pytest.raises(ConfigError) as info:
            read()
        assert str(info.value) == f"{manifest}: (file): expected a sweep's manifest, a regular file, found {found!r}"
    assert not (tmp_path / "nowhere.jsonl").exists()


def test_a_manifest_line_without_end_is_not_held_whole(tmp_path, monkeypatch):
    from wattyear.experiments.studies import manifest

    monkeypatch.setattr(manifest, "MAX_RECORD_BYTES", 64)
    store = ResultStore(tmp_path)
    store.record({"run_id": "a", "status": "ok"})
    with store.manifest_path.open("ab") as fh:
        fh.write(b"x" * 1000 + b"\n")  # a line longer than any record
    store.record({"run_id": "b", "status": "ok"})
    assert sorted(store.manifest()["run_id"]) == ["a", "b"]


def test_a_parquet_path_that_is_a_device_is_refused():
    with pytest.raises(ConfigError, match="not a regular file"):
        folder_files.read_table("/dev/zero", "an outcomes table")


# --------------------------------------------------------------------- 5. workers end with the coordinator


@pytest.mark.slow
def test_workers_end_when_the_coordinator_is_killed(tmp_path):
    psutil = pytest.importorskip("psutil")
    path = study_file(tmp_path, "months = 60\nreplicates = 14\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "wattyear.experiments.cli", "sweep", str(path), "--out", str(out), "--workers", "2",
           "--memory", "1MiB", "--no-progress"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children = []
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not list((out / "runs").glob("*.parquet")):
            time.sleep(0.05)
        children = psutil.Process(proc.pid).children(recursive=True)  # forkserver, workers, resource tracker
        assert len(children) >= 3
        os.kill(proc.pid, signal.SIGKILL)  # the coordinator alone
        proc.wait()

        def running(p) -> bool:
            try:
                return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return False

        deadline = time.time() + 10
        while time.time() < deadline and any(running(p) for p in children):
            time.sleep(0.1)
        assert not [p.pid for p in children if running(p)]
        files = sorted(p.name for p in (out / "runs").iterdir())
        time.sleep(1.5)
        assert sorted(p.name for p in (out / "runs").iterdir()) == files  # nothing is written any more
        assert len(list((out / "runs").glob("*.parquet"))) < 14
    finally:  # nothing this test started outlives it, whatever failed
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for p in children:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass


def die_on_b(task: dict) -> list[dict]:
    """A pool task: task ``b`` kills its worker, as the out-of-memory killer would (SIGKILL)."""
    if task["runs"][0]["run_id"] == "b":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.5)
    return task["runs"]


def test_a_killed_pool_worker_is_one_message_naming_the_runs_lost(capsys):
    """Before: a BrokenProcessPool traceback (exit 1), though a rerun resumes exactly."""
    tasks = [{"runs": [{"run_id": "a"}]}, {"runs": [{"run_id": "b"}]}]
    with pytest.raises(executors.WorkerLost) as info:
        list(executors.execute(die_on_b, lambda slots: iter(tasks), workers=2, client=None))
    assert "b" in info.value.run_ids and set(info.value.run_ids) <= {"a", "b"}
    assert info.value.kind == "a worker process was killed; nothing finished is lost"
    assert "run the same command again to resume" in str(info.value) and "fewer --workers" in str(info.value)
    assert isinstance(info.value, ConfigError)  # the command line prints it as one message, exit 2


@pytest.mark.parametrize("workers", ["1000000", "99999999999999999999"])
def test_workers_beyond_the_machine_are_refused_before_anything_is_written(tmp_path, capsys, workers):
    """Before: 10⁶ workers were accepted, 10²⁰ ended in an OverflowError traceback. The command line refuses
    them as it parses (argparse's exit 2), and run_sweep (the API's path) again before anything is written."""
    limit = executors.max_workers()
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["sweep", str(study_file(tmp_path)), "--out", str(out), "--workers", workers, "--no-progress"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"argument --workers: expected a whole number from 1 to {limit:,}" in err
    with pytest.raises(ConfigError, match=f"workers: expected a whole number from 1 to {limit:,}"):
        wattyear.sweep(str(study_file(tmp_path)), out, workers=int(workers))
    assert not out.exists()


def test_the_workers_bound_is_four_a_core(monkeypatch):
    import argparse

    from wattyear.experiments.arguments import worker_count

    monkeypatch.setattr(executors.os, "process_cpu_count", lambda: 3)
    assert executors.max_workers() == 12 and worker_count("12") == 12 and executors.check_workers(12) == 12
    for text in ("13", "0", "9" * 5000, "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected a whole number from 1 to 12"):
            worker_count(text)
    for value in (13, 0, 2.0, True):
        with pytest.raises(ConfigError, match="from 1 to 12"):
            executors.check_workers(value)


def test_memory_sizes_in_terabytes_are_read():
    """Before: --memory 1TiB was refused as outside 'from 1 MiB to 1 PiB'."""
    import argparse

    from wattyear.experiments.studies import memory_size

    assert memory_size("1TiB") == 2**40 and memory_size("1.5 TB") == 1_500_000_000_000
    assert memory_size("1PiB") == 2**50
    for text in ("2PiB", "1EiB", "512KiB"):
        with pytest.raises(argparse.ArgumentTypeError, match="from 1 MiB to 1 PiB"):
            memory_size(text)


# ------------------------------------------------------------------------------------------------- 6. Dask


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address, found", [("garbage://x:1", "the unknown scheme garbage://"),
                                            ("tcp://host", "missing port number"),
                                            ("tcp://host:99999", "the port 99999"),
                                            ("", "''"),
                                            ("inproc://x", "inproc://, which reaches only a scheduler started in "
                                                           "this same process"),
                                            ("inproc://127.0.0.1/1/1", "inproc://, which reaches only"),
                                            ("tls://127.0.0.1:1", "tls:// with no TLS files in Dask's settings"),
                                            ("wss://127.0.0.1:1", "wss:// with no TLS files in Dask's settings"),
                                            ("ucx://127.0.0.1:1", "ucx:// without its transport installed")])
def test_a_malformed_scheduler_address_is_refused_before_connecting(tmp_path, capsys, address, found):
    """Before: '' ran locally, inproc:// a ValueError, tls:// a TypeError (no ssl_context), ucx:// a TypeError
    (abstract UCXConnector), each a traceback."""
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    t0 = time.perf_counter()
    assert main(["sweep", str(study_file(tmp_path)), "--out", str(out), "--scheduler", address, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--scheduler: {address}: expected a Dask scheduler address such as tcp://host:8786" in err and found in err
    assert time.perf_counter() - t0 < 5 and not out.exists()


def test_the_schemes_offered_are_those_usable_here():
    pytest.importorskip("distributed")
    with pytest.raises(ConfigError) as info:
        executors.check_scheduler("garbage://x:1")
    assert "(tcp://, ws://)" in str(info.value)  # no TLS files, no UCX transport, inproc only in-process


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "localhost:8786", "tcp://[::1]:8786", "ws://head:8786"])
def test_scheduler_addresses_dask_accepts_pass_the_check(address):
    pytest.importorskip("distributed")
    assert executors.check_scheduler(address) == address


def test_tls_passes_the_check_once_tls_files_are_configured(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(executors, "_tls_context", lambda: object())
    assert executors.check_scheduler("tls://head.example:8786") == "tls://head.example:8786"


def test_an_inproc_scheduler_of_this_process_passes_the_check():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("inproc://") and executors.check_scheduler(address) == address
    with pytest.raises(ConfigError, match="reaches only a scheduler started in this same process"):
        executors.check_scheduler(address)  # gone with its cluster


@contextlib.contextmanager
def fake_server(greeting: bytes | None):
    """A TCP port on loopback that accepts and sends ``greeting`` (None: nothing, as an HTTP server waiting
    for a request), then keeps the connection open."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def serve():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        accepted.append(conn)
        if greeting is not None:
            conn.sendall(greeting)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
        thread.join(5)


@pytest.mark.parametrize("greeting, found", [(None, "no answer within 1 s"),
                                             (b"SSH-2.0-OpenSSH_9.6 banner line\r\n",
                                              "an answer that is not a Dask scheduler's (MemoryError)")])
def test_a_server_that_is_not_a_dask_scheduler_is_one_line(greeting, found):
    """Before: a silent server (an HTTP port) was waited on for ever, a banner read as a frame length a
    MemoryError traceback (2.82 EiB)."""
    pytest.importorskip("distributed")
    with fake_server(greeting) as address, pytest.raises(ConfigError) as info:
        executors.connect(address, timeout=1)
    assert f"--scheduler: {address}: expected a running Dask scheduler at this address" in str(info.value)
    assert found in str(info.value)


def test_an_unreachable_scheduler_is_named_within_the_timeout(tmp_path):
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        run_sweep(load_study(study_file(tmp_path)), tmp_path / "out", scheduler=address, progress=False,
                  connect_timeout=1)
    assert time.perf_counter() - t0 < 8
    assert f"--scheduler: {address}: expected a running Dask scheduler at this address" in str(info.value)
    assert "no answer within 1 s" in str(info.value) and not (tmp_path / "out").exists()


def test_a_cluster_without_workers_stops_the_sweep_after_the_timeout(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        t0 = time.perf_counter()
        with pytest.raises(ConfigError, match="no worker for 1 s") as info:
            run_sweep(load_study(study_file(tmp_path)), tmp_path / "out", scheduler=cluster.scheduler_address,
                      progress=False, worker_timeout=1)
        assert time.perf_counter() - t0 < 10
    assert "expected a cluster with at least one worker" in str(info.value)


def test_workers_that_all_leave_mid_sweep_stop_it_after_the_timeout(monkeypatch):
    """The waiting loop alone: the cluster had a worker, then none; nothing finishes any more."""
    distributed = pytest.importorskip("distributed")

    class Cluster:
        scheduler = SimpleNamespace(address="tcp://10.0.0.1:8786")
        workers = [{"w": 1}]  # one worker when the sweep starts, then none

        def wait_for_workers(self, n, timeout):
            pass

        def nthreads(self):
            return self.workers.pop(0) if self.workers else {}

        def submit(self, *args, **kwargs):
            return object()

    def nothing_finishes(futures, timeout, return_when):
        time.sleep(timeout)
        raise TimeoutError

    monkeypatch.setattr(distributed, "wait", nothing_finishes)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="tcp://10.0.0.1:8786: expected a cluster with at least one worker"):
        list(executors._dask_results(Cluster(), lambda task: task, lambda slots: iter([{}, {}]), worker_timeout=0.4))
    assert 0.4 <= time.perf_counter() - t0 < 5


# ------------------------------------------------------------------------------------------ 7. write errors


def test_a_full_disk_leaves_no_partial_file_and_names_the_file(tmp_path, monkeypatch, capsys):
    def full_disk(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.pq, "write_table", full_disk)
    out = tmp_path / "out"
    with pytest.raises(WriteError) as info:
        run_sweep(load_study(study_file(tmp_path)), out, workers=1, progress=False)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(out / "runs" / "p00000-r000.parquet")
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert not list((out / "runs").glob("*.parquet"))
    assert not (out / "manifest.jsonl").exists()  # no run is recorded as failed: the disk failed, not the run
    assert main(["sweep", str(study_file(tmp_path)), "--out", str(out), "--workers", "1", "--no-progress"]) == 2
    assert f"cannot write {out / 'runs' / 'p00000-r000.parquet'}: No space left on device" in capsys.readouterr().err


# -------------------------------------------------------------------------------------------- 8. studies


def long_list(n: int, start: float, step: float) -> str:
    return "[" + ", ".join(f"{start + i * step:.6f}" for i in range(n)) + "]"


HEAD = '[study]\nname = "bad"\nmonths = 2\n'
RANGE = '[sample.ranges]\n"world.pue" = "bounds"\n'
BAD_STUDIES = {
    "base-a-number": ('[study]\nbase = 5\n', "study.base"),
    "base-a-folder": ('[study]\nbase = "."\n', "study.base"),
    "name-escapes": ('[study]\nname = "../../x"\n', "study.name"),
    "name-absolute": ('[study]\nname = "/tmp/x"\n', "study.name"),
    "name-a-number": ('[study]\nname = 5\n', "study.name"),
    "name-leading-space": ('[study]\nname = " x"\n', "study.name"),
    "grid-over-seeds": ('[study]\nname = "s"\n[grid]\n"run.seed" = [1, 2]\n', "grid.run.seed"),
    "grid-over-starts": ('[study]\nname = "s"\n[grid]\n"run.start" = ["2026-01", "2027-01"]\n', "grid.run.start"),
    "no-columns": ('[study]\nname = "s"\n[grid]\n"open_weights.lag_months" = [6]\n[outputs]\ncolumns = []\n',
                   "outputs.columns"),
    "name-right-to-left": ('[study]\nname = "report\\u202egnp"\n', "study.name"),
    "study-not-a-table": ('study = 5\n', "study"),
    "grid-not-a-table": ("grid = 5\n" + HEAD, "grid"),
    "sample-not-a-table": ("sample = 5\n" + HEAD, "sample"),
    "outputs-not-a-table": ("outputs = 5\n" + HEAD, "outputs"),
    "unknown-study-key": (HEAD + 'bogus = 1\n', "study.bogus"),
    "replicates-zero": ('[study]\nreplicates = 0\n', "study.replicates"),
    "seed-a-float": ('[study]\nseed = 1.5\n', "study.seed"),
    "common-seeds-a-number": ('[study]\ncommon_seeds = 1\n', "study.common_seeds"),
    "months-a-boolean": ('[study]\nmonths = true\n', "study.months"),
    "months-too-many": ('[study]\nmonths = 5000\n', "study.months"),
    "grid-a-number": (HEAD + '[grid]\n"world.pue" = 1.2\n', "grid.world.pue"),
    "grid-nested": (HEAD + '[grid]\n"world.pue" = [[1.2]]\n', "grid.world.pue"),
    "method-a-list": (HEAD + '[sample]\nmethod = ["lhs"]\n', "sample.method"),
    "n-a-boolean": (HEAD + '[sample]\nn = true\n' + RANGE, "sample.n"),
    "levels-a-float": (HEAD + '[sample]\nmethod = "morris"\nn = 2\nlevels = 2.0\n' + RANGE, "sample.levels"),
    "ranges-a-number": (HEAD + '[sample]\nn = 2\nranges = 5\n', "sample.ranges"),
    "range-infinite": (HEAD + '[sample]\nn = 2\n[sample.ranges]\n"world.pue" = [1.0, inf]\n',
                       "sample.ranges.world.pue"),
    "path-a-number": (HEAD + '[sample]\nmethod = "file"\npath = 5\n', "sample.path"),
    "keep-a-list": (HEAD + '[outputs]\nkeep = ["monthly"]\n', "outputs.keep"),
    "every-a-boolean": (HEAD + '[outputs]\nevery_months = true\n', "outputs.every_months"),
    "kinds-nested": (HEAD + '[outputs]\nkinds = [["lab"]]\n', "outputs.kinds"),
    "tables-text": (HEAD + '[outputs]\ntables = "market"\n', "outputs.tables"),
    "columns-a-number": (HEAD + '[outputs]\ncolumns = 5\n', "outputs.columns"),
    "columns-unknown": (HEAD + '[outputs]\ncolumns = ["nope"]\n', "outputs.columns"),
    "grid-of-2e8-points": (HEAD + '[grid]\n"world.pue" = ' + long_list(20_000, 1.1, 1e-5) +
                           '\n"open_weights.quality_fraction" = ' + long_list(10_000, 0.5, 1e-5) + "\n", "grid"),
    "sample-of-1e9-runs": ('[study]\nreplicates = 10\n[sample]\nn = 100000000\n' + RANGE,
                           "sample.n × study.replicates"),
    "replicates-2e6": ('[study]\nreplicates = 2000000\n', "study.replicates"),
    "not-utf8": (b'[study]\nname = "\xff"\n', "(encoding)"),
    "a-folder": (None, "(file)"),
}


@pytest.mark.parametrize("case", list(BAD_STUDIES))
def test_every_study_file_mistake_is_a_clear_error(tmp_path, capsys, case):
    text, key = BAD_STUDIES[case]
    path = tmp_path / f"{case}.toml"
    if text is None:
        path.mkdir()
    elif isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    code = main(["sweep", str(path), "--out", str(out), "--workers", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{path}: {key}: expected" in err, err
    assert "Traceback" not in err and not out.exists()
    assert time.perf_counter() - t0 < 10  # the size limits are checked before anything is made
    if "runs" in case or "points" in case or case == "replicates-2e6":
        assert f"at most {MAX_RUNS:,} runs" in err


def test_a_device_is_not_a_study_file(capsys):
    assert main(["sweep", "/dev/zero", "--workers", "1"]) == 2
    assert "/dev/zero: (file): expected a study file (TOML, UTF-8), found 'not a regular file" in \
        capsys.readouterr().err


def test_a_study_name_never_leads_outside_the_output_folder(tmp_path, monkeypatch):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    for name in ("../../x", "/tmp/wattyear-escape", ".."):
        with pytest.raises(ConfigError, match="study.name: expected a plain folder name"):
            wattyear.sweep({"study": {"name": name, "months": 2}}, workers=1)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b"]
    assert not Path("/tmp/wattyear-escape").exists()


def test_analysing_a_study_that_kept_no_rows_says_why(tmp_path, capsys):
    done = wattyear.sweep({"study": {"name": "k", "months": 2}, "outputs": {"kinds": []}}, tmp_path / "k", workers=1)
    assert len(done.manifest) == 1
    assert main(["analyze", str(tmp_path / "k")]) == 2
    assert "the study keeps no agent's rows (kinds = [] in its [outputs])" in capsys.readouterr().err


# ------------------------------------------------------------------------- 7. the packed file of a study


def packed_rows(out: Path, table: str = "metrics") -> pd.DataFrame:
    return pd.read_parquet(ResultStore(out).packed_path(table))


def test_a_sweep_packs_its_runs_into_one_file_that_reads_as_the_run_files(clean):
    """runs.parquet holds every run file's rows in run order, bit for bit, names no single run in its
    footer, and is what a study's metrics are read from."""
    store = ResultStore(clean.out)
    path = store.packed_path()
    assert path == clean.out / "runs.parquet" and store.packed() == path
    packed = packed_rows(clean.out)
    pd.testing.assert_frame_equal(packed, pd.read_parquet(clean.out / "runs"), check_exact=True)
    assert list(packed["run_id"].unique()) == ["p00000-r000", "p00000-r001", "p00001-r000", "p00001-r001"]
    footer = pq.read_schema(path)
    assert store_module.RUN_ID_KEY not in footer.metadata and footer.metadata[b"wattyear.run_files"] == b"4"
    assert footer.field("revenue_usd_per_mtok").metadata[b"unit"] == b"$/Mtok"  # the units travel with the rows
    pd.testing.assert_frame_equal(wattyear.load_results(clean.out).metrics, packed, check_exact=True)


@pytest.mark.parametrize("change", ["removed", "rewritten", "added"])
def test_a_packed_file_is_never_read_once_the_run_files_changed(clean, tmp_path, change):
    """A run file removed, rewritten (here a copy of itself put in its place, its time kept as cp -p keeps
    it) or added makes the packed file stale: the study is read from its run files and packed again. (A
    file copied over another run's is refused: test_loading_refuses_a_run_file_copied_over_another_runs.)"""
    out = copy_of(clean, tmp_path)
    runs = out / "runs"
    if change == "removed":
        (runs / "p00001-r001.parquet").unlink()
    elif change == "rewritten":
        shutil.copy2(runs / "p00000-r001.parquet", tmp_path / "copy.parquet")
        os.replace(tmp_path / "copy.parquet", runs / "p00000-r001.parquet")
    else:  # a run of its own name
        table = pq.read_table(runs / "p00000-r000.parquet")
        pq.write_table(table.replace_schema_metadata({**table.schema.metadata,
                                                      store_module.RUN_ID_KEY: b"p00002-r000"}),
                       runs / "p00002-r000.parquet")
    store = ResultStore(out)
    assert store.packed() is None
    metrics = wattyear.load_results(out).metrics
    pd.testing.assert_frame_equal(metrics, pd.read_parquet(runs), check_exact=True)
    assert store.packed() == out / "runs.parquet"
    pd.testing.assert_frame_equal(packed_rows(out), metrics, check_exact=True)


def test_a_resume_drops_the_packed_file_and_packs_the_redone_runs(clean, tmp_path):
    out = copy_of(clean, tmp_path)
    cut = out / "runs" / "p00000-r001.parquet"
    cut.write_bytes(cut.read_bytes()[:100])
    store = ResultStore(out)
    assert store.packed() is None
    report = run_sweep(load_study(clean.study), out, workers=1, progress=False)
    assert (report.done, report.skipped) == (1, 3)
    assert store.packed() == out / "runs.parquet"
    pd.testing.assert_frame_equal(packed_rows(out), packed_rows(clean.out), check_exact=True)


def test_a_study_is_read_from_its_run_files_while_a_sweep_writes_there(clean, tmp_path):
    out = copy_of(clean, tmp_path)
    (out / "runs.parquet").unlink()
    with open(out / LOCK, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        metrics = wattyear.load_results(out).metrics
    assert not (out / "runs.parquet").exists()  # nothing written into a folder a sweep holds
    pd.testing.assert_frame_equal(metrics, packed_rows(clean.out), check_exact=True)


def test_each_kept_table_is_packed_beside_its_folder(tmp_path):
    done = wattyear.sweep({"study": {"name": "t", "months": 2, "replicates": 2},
                           "outputs": {"tables": ["market"]}}, tmp_path / "t", workers=1, progress=False)
    assert ResultStore(done.folder).packed("market") == tmp_path / "t" / "market.parquet"
    pd.testing.assert_frame_equal(done.market, pd.read_parquet(tmp_path / "t" / "market"), check_exact=True)
    assert done.market["run_id"].nunique() == 2
