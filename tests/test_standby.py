"""The standby worker the web UI keeps (engine/runs/standby.py): a run handed to it trains in it, as a run of
its own worker would; a standby started in another environment is not used; it leaves when let go."""
import psutil
import pytest

from conftest import short_run_config, wait_for
from engine.runs import standby
from engine.runs.events import read_events
from engine.runs.process import launch_record
from engine.runs.scheduler import advance, submit

READY_S = 600  # its imports take ~7 s on two idle cores, much longer on a loaded machine


@pytest.fixture
def kept(started):
    """This test process keeps a standby; teardown lets it go (and `started` ends any run's group)."""
    standby.keep_standby()
    yield started
    standby.stop_keeping()


def test_a_run_handed_to_the_standby_trains_in_it_and_the_next_standby_waits_for_an_idle_machine(kept):
    standby_pid = standby.standby_ready(READY_S)
    assert standby_pid is not None

    handle = submit(short_run_config(max_steps=8))
    kept.append(handle)
    assert launch_record(handle.run_dir)["pid"] == standby_pid  # no new process: the standby is the worker
    advance()
    assert standby.standby_ready(0) is None  # none started beside a training run
    assert handle.wait(timeout=600) == "completed"

    losses = [event["loss"] for event in read_events(handle.run_dir) if event["event"] == "log" and "loss" in event]
    assert len(losses) >= 4 and losses[-1] < losses[0]
    log = (handle.run_dir / "train.log").read_text()
    assert f"run completed: {handle.run_dir}" in log  # its output went to the run's log, as a worker's does
    advance()  # the machine is idle again: the next standby starts
    assert standby.standby_ready(READY_S) not in (None, standby_pid)


def test_a_standby_from_another_environment_is_let_go_and_a_new_worker_starts(kept, monkeypatch, tmp_path):
    standby_pid = standby.standby_ready(READY_S)
    assert standby_pid is not None
    monkeypatch.setenv("STUDIO_SAVES_DIR", str(tmp_path / "other-saves"))  # what a worker would now be told

    handle = submit(short_run_config(max_steps=2))
    kept.append(handle)
    assert launch_record(handle.run_dir)["pid"] != standby_pid
    wait_for(lambda: not _alive(standby_pid), timeout=600)  # it read end-of-file and left
    standby.stop_keeping()  # no new one once the run ends: this test is done with standbys
    assert handle.wait(timeout=600) == "completed"


def _alive(pid: int) -> bool:
    """Running (a process that has exited but is not reaped yet counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
