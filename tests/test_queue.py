"""The queue: one training at a time, Start and Stop pressed twice, a restarted server, and Stop ending the whole
process tree (checked with psutil)."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from conftest import short_run_config, wait_for, worker_processes
from engine.runs.events import read_events
from engine.runs.process import launch_record, process_group_members
from engine.runs.scheduler import RunHandle, advance, queued_runs, stop_and_wait, stop_run, submit
from engine.runs.status import run_status
from engine.runs.store import list_runs


def training(handle) -> bool:
    return any(e["event"] == "log" for e in handle.events())


# ---------------------------------------------------------------------------------------------------------


def test_start_twice_queues_the_second_and_stop_twice_is_harmless(studio_dirs, tiny_model):
    handles = []
    presses = [threading.Thread(target=lambda: handles.append(submit(short_run_config(400)))) for _ in range(2)]
    for press in presses:
        press.start()
    for press in presses:
        press.join()
    statuses = sorted(handle.status() for handle in handles)
    assert statuses in (["queued", "starting"], ["queued", "running"])
    first, second = sorted(handles, key=lambda h: h.status() == "queued")
    assert len(worker_processes(os.environ["STUDIO_SAVES_DIR"])) == 1
    assert queued_runs() == [second.run_dir]

    # A fresh process (a restarted server) reads the same queue from the files.
    listing = subprocess.run([sys.executable, "-m", "engine", "runs"], capture_output=True, text=True, timeout=60)
    assert f"{second.run_dir.name}" in listing.stdout and "queued" in listing.stdout

    wait_for(lambda: training(first))
    assert stop_run(first.run_dir) == "stopping"
    assert stop_run(first.run_dir) == "stopping"  # pressed twice: still one clean stop
    assert first.wait(timeout=120) == "stopped"
    # The stopped worker itself started the next run: no UI needed to move the queue on.
    wait_for(lambda: run_status(second.run_dir) in ("starting", "running"), timeout=30)
    first.process.wait(timeout=30)  # its last act was starting the next one; then it exits
    assert len(worker_processes(os.environ["STUDIO_SAVES_DIR"])) == 1
    assert stop_run(second.run_dir) == "stopping"
    assert second.wait(timeout=120) == "stopped"
    assert stop_run(second.run_dir) == "not running"
    gone, alive = psutil.wait_procs(worker_processes(os.environ["STUDIO_SAVES_DIR"]), timeout=30)
    assert alive == []


def test_stopping_a_queued_run_cancels_it(studio_dirs, tiny_model):
    first, second = submit(short_run_config(400)), submit(short_run_config(2))
    assert second.status() == "queued"
    assert stop_run(second.run_dir) == "cancelled"
    assert second.status() == "cancelled"
    assert read_events(second.run_dir)[-1]["status"] == "cancelled"
    assert stop_and_wait(first.run_dir) == "stopped"
    advance()
    assert second.status() == "cancelled" and not (second.run_dir / "train.log").exists()  # it never started


def test_the_queue_survives_a_server_restart(studio_dirs, tiny_model):
    first, second = submit(short_run_config(400)), submit(short_run_config(2))
    wait_for(lambda: training(first))
    # The whole worker group dies without a word, so nothing moves the queue on ...
    os.killpg(launch_record(first.run_dir)["pgid"], signal.SIGKILL)
    wait_for(lambda: first.status() == "failed (killed)", timeout=10)
    assert second.status() == "queued"
    # ... until a freshly started server polls once.
    poll = "from engine.runs.scheduler import advance; print(advance().run_dir)"
    started = subprocess.run([sys.executable, "-c", poll], capture_output=True, text=True, timeout=60, cwd=os.getcwd())
    assert started.stdout.strip() == str(second.run_dir), started.stderr
    assert second.wait(timeout=180) == "completed"


def test_a_run_outlives_the_server_that_started_it(studio_dirs, tiny_model, tmp_path):
    config_path = tmp_path / "run.yaml"
    short_run_config(6).save(config_path)
    server = textwrap.dedent(f"""
        import time
        from engine.config.schema import RunConfig
        from engine.runs.scheduler import submit
        print(submit(RunConfig.load({str(config_path)!r})).run_dir, flush=True)
        time.sleep(600)
    """)
    process = subprocess.Popen([sys.executable, "-c", server], stdout=subprocess.PIPE, text=True)
    run_dir = process.stdout.readline().strip()
    wait_for(lambda: run_status(run_dir) == "running")
    process.kill()  # the UI server dies hard, pipe and all
    process.wait()
    (summary,) = list_runs()  # the "restarted" server lists it as running and follows its events
    assert summary.status in ("running", "completed")
    assert RunHandle(Path(run_dir)).wait(timeout=180) == "completed"
    assert [e["step"] for e in read_events(run_dir) if e["event"] == "log"] == [1, 2, 3, 4, 5, 6]


# ---------------------------------------------------------------------------------------------------------
# Stop ends the whole process tree

CHILD_SPAWNING_HOOK = """
import os, subprocess, sys
if os.environ.pop("STUDIO_TEST_SPAWN_CHILD", None):
    # A child that ignores SIGTERM, like a stuck data loader or torchrun worker.
    subprocess.Popen([sys.executable, "-c",
                      "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
"""


@pytest.fixture
def worker_with_a_child(tmp_path, monkeypatch):
    """Workers started from here spawn a SIGTERM-ignoring child at interpreter start (sitecustomize)."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(CHILD_SPAWNING_HOOK)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("STUDIO_TEST_SPAWN_CHILD", "1")


def test_stop_leaves_no_process_behind(studio_dirs, tiny_model, worker_with_a_child):
    handle = submit(short_run_config(400))
    wait_for(lambda: training(handle))
    worker = psutil.Process(handle.process.pid)
    tree = [worker, *worker.children(recursive=True)]
    assert len(tree) >= 2
    assert stop_and_wait(handle.run_dir) == "stopped"
    gone, alive = psutil.wait_procs(tree, timeout=5)
    assert alive == []
    assert process_group_members(launch_record(handle.run_dir)) == []


def test_a_hung_worker_is_killed_with_its_group_after_the_grace_period(studio_dirs, tiny_model, worker_with_a_child):
    handle = submit(short_run_config(400))
    wait_for(lambda: training(handle))
    worker = psutil.Process(handle.process.pid)
    tree = [worker, *worker.children(recursive=True)]
    worker.suspend()  # SIGSTOP: it cannot see the STOP file, nor handle SIGTERM
    started = time.time()
    assert stop_and_wait(handle.run_dir, grace_s=1, kill_after_s=1) == "stopped"
    assert time.time() - started < 15
    assert "did not stop within 2 s" in read_events(handle.run_dir)[-1]["note"]
    gone, alive = psutil.wait_procs(tree, timeout=5)
    assert alive == []
    assert process_group_members(launch_record(handle.run_dir)) == []


# ---------------------------------------------------------------------------------------------------------
# Soak: many short runs back to back through the queue


@pytest.mark.soak
def test_twenty_runs_back_to_back_leak_nothing(studio_dirs, tiny_model):
    me = psutil.Process()
    fds_before, rss_before = me.num_fds(), me.memory_info().rss
    started = time.time()
    handles = []
    for _ in range(20):
        short = short_run_config(2)
        short.data.max_samples = 8
        short.data.cutoff_len = 64
        handles.append(submit(short))
    assert sum(handle.status() == "queued" for handle in handles) >= 19
    # The UI's timer, in short: each worker also starts the next as it ends.
    wait_for(lambda: advance() is None and all(run_status(h.run_dir) not in ("queued", "starting", "running")
                                               for h in handles), timeout=900, poll=0.5)
    elapsed = time.time() - started
    statuses = [run_status(handle.run_dir) for handle in handles]
    assert statuses == ["completed"] * 20
    # Never two at once: each run started after the one before it had finished.
    spans = [(read_events(h.run_dir)[0]["time"], read_events(h.run_dir)[-1]["time"]) for h in handles]
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))
    psutil.wait_procs(me.children(recursive=True), timeout=30)
    fds_after, rss_after = me.num_fds(), me.memory_info().rss
    print(f"soak: 20 runs in {elapsed:.0f} s; fds {fds_before} → {fds_after}; "
          f"RSS {rss_before / 2**20:.0f} → {rss_after / 2**20:.0f} MiB; children left {me.children(recursive=True)}")
    assert me.children(recursive=True) == []
    assert fds_after <= fds_before + 2
    assert rss_after - rss_before < 50 * 2**20
