"""Runs that survive faults, in a real browser: a SIGKILLed worker shows "failed (killed)" and resumes to its step
count, a SIGKILLed UI server is replaced and the new one re-attaches to the run still training, Start pressed
twice queues the second run behind one worker, and two browser sessions share the run list but not their forms.

The studio runs as a subprocess that a test may kill and start again on the same folders (a `Studio`, not the
`studio` fixture of test_browser.py, which cannot be restarted); the helpers are test_browser.py's. The tests
run in file order: later ones chat with and browse the runs of earlier ones. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from conftest import worker_processes, worker_run
from tests.e2e.browser import (
    ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PROJECT, SLOW_WAIT, free_port, open_tab, playwright_api, progress, shot,
    wait_until,
)

pytestmark = pytest.mark.browser
TIMINGS: dict[str, float] = {}


# ---------------------------------------------------------------------------------------------------------
# The studio as a process that can be killed and started again


class Studio:
    def __init__(self, root: Path):
        self.root, self.process, self.url = root, None, None
        self.env = {
            **os.environ,
            "STUDIO_DATA_DIR": str(root / "data"),
            "STUDIO_REGISTRY": str(root / "dataset_info.json"),
            "STUDIO_SAVES_DIR": str(root / "saves"),
            "STUDIO_EXPORTS_DIR": str(root / "exports"),
            "PYTHONUNBUFFERED": "1",
        }

    def start(self) -> str:
        started = time.time()
        log = (self.root / "app.log").open("a")
        self.process = subprocess.Popen([sys.executable, "launch.py", "--port", str(free_port())], cwd=PROJECT,
                                        env=self.env, stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()  # the child holds its own copy
        while time.time() - started < 90:
            line = self.process.stdout.readline()
            if match := re.search(r"running at (http://\S+)", line):
                self.url = match.group(1)
                return self.url
            if not line and self.process.poll() is not None:
                break
        self.process.kill()
        pytest.fail(f"the app did not start: {(self.root / 'app.log').read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no handler runs, as when the machine's OOM killer or a crash ends the server."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def run_dir(self, name: str) -> Path:
        return self.root / "saves" / "tiny-demo" / "lora" / name

    def workers(self) -> list[psutil.Process]:
        """Training workers of this studio's saves folder."""
        return worker_processes(self.root / "saves")


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model):
    # tiny_model builds the built-in model into STUDIO_CACHE_DIR first: else the first Start builds it, minutes
    # on a loaded machine, and the waits on Start's message time out.
    root = tmp_path_factory.mktemp("faults")
    shutil.copytree(PROJECT / "data", root / "data")
    shutil.copy(PROJECT / "dataset_info.json", root / "dataset_info.json")
    server = Studio(root)
    server.start()
    yield server
    server.close()
    for process in server.workers():  # a failed test may leave a run training
        os.killpg(os.getpgid(process.pid), signal.SIGKILL)
    print("\ntimings:", {k: round(v, 1) for k, v in TIMINGS.items()})


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(browser, url: str):
    """A page in its own browser context: its own cookies and session, like a second person's browser."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    # The page restores its browser's saved form on load, then draws the summary line: type after that.
    wait_until(lambda: page.locator("#summary").inner_text().strip(), 30, "the restored form", page=page)
    open_tab(page, "Train")
    return page


@pytest.fixture(scope="module")
def page(browser, studio):
    return new_page(browser, studio.url)


# ---------------------------------------------------------------------------------------------------------
# Driving the Train tab


def load_tiny_config(page, studio, max_steps: int, save_steps: int = 1000) -> None:
    """Fill the whole form through 'Load config': a run of a few seconds, a loss point per step."""
    from engine.config.schema import RunConfig

    config = RunConfig.load(PROJECT / "examples" / "sft_lora_demo.yaml").replace({
        "data.val_size": 0.0, "data.max_samples": 32, "data.cutoff_len": 128,
        "train.max_steps": max_steps, "train.logging_steps": 1, "train.save_steps": save_steps,
        "train.per_device_train_batch_size": 2,
    })
    path = studio.root / f"tiny-{max_steps}.yaml"
    config.save(path)
    with page.expect_file_chooser() as chooser:
        page.locator("#load-config").click()
    chooser.value.set_files(str(path))
    wait_until(lambda: path.name in message(page), 20, "the config to load", page=page)


def message(page) -> str:
    return page.locator("#train-message").inner_text()


def start(page, studio) -> Path:
    page.locator("#start-button").click()
    wait_until(lambda: re.search(r"(Started|Queued) run", message(page)), 120, "the start message", page=page)
    return studio.run_dir(re.search(r"run (\S+?)[.:*]", message(page).replace("*", "")).group(1))


def history(page, refresh: bool = False) -> str:
    if refresh:  # the timer redraws the history when the page's own run changes status, not another's
        page.get_by_text("Refresh history").click()
        page.wait_for_timeout(300)
    return page.locator("#run-history").inner_text()


RUN_NAME = re.compile(r"\d{8}-\d{6}-sft(?:-\d+)?")


def run_names(page, refresh: bool = False) -> set[str]:
    return set(RUN_NAME.findall(history(page, refresh)))


def complete_checkpoints(run_dir: Path) -> list[str]:
    from engine.runs.store import checkpoint_step

    return sorted(p.name for p in run_dir.glob("checkpoint-*") if checkpoint_step(p) is not None)


# ---------------------------------------------------------------------------------------------------------
# The faults, in order


def test_a_killed_worker_shows_failed_killed_and_resumes_to_its_step_count(page, studio):
    from engine.runs.process import launch_record

    load_tiny_config(page, studio, max_steps=24, save_steps=4)
    run_dir = start(page, studio)
    wait_until(lambda: complete_checkpoints(run_dir), SLOW_WAIT, "the first checkpoint", page=page)
    kept = complete_checkpoints(run_dir)
    os.killpg(launch_record(run_dir)["pgid"], signal.SIGKILL)
    killed = time.time()
    wait_until(lambda: progress(page)["status"] == "failed (killed)", 60, "failed (killed)", page=page)
    TIMINGS["SIGKILL → page shows failed (killed) (s)"] = time.time() - killed
    assert progress(page)["step"] < 24
    wait_until(lambda: "Resume continues" in progress(page)["text"], 30, "the advice", page=page)
    assert set(kept) <= set(complete_checkpoints(run_dir)) and (run_dir / "train.log").stat().st_size > 0
    resume = page.locator("#resume-button")
    wait_until(resume.is_enabled, 30, "Resume to be offered", page=page)
    shot(page, "faults-01-killed")

    resume.click()
    wait_until(lambda: "Resumed run" in message(page), 30, "the resume message", page=page)
    wait_until(lambda: progress(page)["status"] == "completed", SLOW_WAIT, "the resumed run to complete", page=page)
    assert progress(page)["step"] == 24 and "failed" not in progress(page)["text"]
    assert not resume.is_enabled()
    shot(page, "faults-02-resumed")
    studio.finished = run_dir.name


def test_start_twice_quickly_runs_one_worker_and_queues_the_second(page, studio):
    from engine.runs.events import read_events
    from engine.runs.process import launch_record, worker_alive

    # Long enough to be seen training while the other waits: a run handed to the studio's standby worker
    # (engine/runs/standby.py) trains its first step within a second of the click.
    load_tiny_config(page, studio, max_steps=150)
    before = run_names(page)
    # A finishing worker starts the next run as its last act, so two processes overlap for a moment; what
    # must never happen is two training at once (each trains while it holds its run's lock) or two for one run.
    # Sampled from the clicks on: on a loaded machine the first run may end before the page shows the queue.
    new, while_waiting = set(), []

    def sample() -> None:
        training = [name for name in new if worker_alive(studio.run_dir(name))]
        assert len(training) <= 1, f"{training} train at once"
        per_run = Counter(worker_run(process, studio.root / "saves") for process in studio.workers())
        assert all(count == 1 for count in per_run.values()), per_run
        if training and any((studio.run_dir(name) / "QUEUED").exists() for name in new):
            while_waiting.append(len(studio.workers()))

    def two_new_runs_one_queued() -> bool:
        shown = history(page, refresh=True)
        new.update(set(RUN_NAME.findall(shown)) - before)
        sample()
        return len(new) == 2 and "queued (position 1)" in shown

    page.locator("#start-button").click()
    page.locator("#start-button").click()
    wait_until(two_new_runs_one_queued, 120, "two new runs, one queued in the history", poll=0.2, page=page)
    shot(page, "faults-03-queued")
    deadline = time.time() + SLOW_WAIT
    while not all((studio.run_dir(name) / "final").is_dir() for name in new):
        sample()
        assert time.time() < deadline, "the two runs did not finish"
        time.sleep(0.2)
    assert 1 in while_waiting  # one run trains, the other waits without a process
    first, second = sorted((studio.run_dir(name) for name in new), key=lambda d: launch_record(d)["time"])
    ended = next(e["time"] for e in read_events(first) if e.get("status") == "completed")
    assert launch_record(second)["time"] >= ended  # the second started after the first ended
    wait_until(lambda: "queued" not in history(page, refresh=True), 20, "the queue to empty", poll=1.0, page=page)


def test_a_restarted_server_reattaches_to_the_run_still_training(browser, page, studio):
    load_tiny_config(page, studio, max_steps=300)
    run_dir = start(page, studio)
    wait_until(lambda: progress(page)["step"] > 0, SLOW_WAIT, "the first loss point", page=page)
    studio.kill()
    restarted = time.time()
    studio.start()
    fresh = new_page(browser, studio.url)
    wait_until(lambda: run_dir.name in progress(fresh)["text"], 30, "the page to follow the run", page=fresh)
    TIMINGS["server SIGKILL → new page shows the run (s)"] = time.time() - restarted
    assert progress(fresh)["status"] == "running"
    step = progress(fresh)["step"]
    wait_until(lambda: progress(fresh)["step"] > step, 30, "the run to go on", page=fresh)
    curve = fresh.locator("#loss-curve")
    wait_until(lambda: curve.locator("img[src]").count() > 0, 10, "the curve", page=fresh)
    fresh.wait_for_timeout(1500)  # the plot's last redraw, for the screenshot
    shot(fresh, "faults-04-reattached")
    fresh.locator("#stop-button").click()
    wait_until(lambda: progress(fresh)["status"] == "stopped", 60, "the run to stop", page=fresh)
    wait_until(lambda: not studio.workers(), 20, "the worker to exit", page=fresh)
    studio.page = fresh


def test_two_sessions_share_the_run_list_but_not_their_forms(browser, studio):
    first, second = studio.page, new_page(browser, studio.url)
    rate = second.locator("#field-train-learning-rate input, #field-train-learning-rate textarea").first
    rate.fill("0.0123")
    rate.press("Tab")
    load_tiny_config(first, studio, max_steps=20)
    run_dir = start(first, studio)
    mine = first.locator("#field-train-learning-rate input, #field-train-learning-rate textarea").first
    assert float(mine.input_value()) == 0.002 and rate.input_value() == "0.0123"
    assert "learning_rate: 0.002" in run_dir.joinpath("config.yaml").read_text()
    assert run_dir.name not in message(second)  # the other session's messages stay its own

    # The second session browses an older run while the first trains ...
    second.get_by_text("Refresh history").click()
    wait_until(lambda: run_dir.name in history(second), 20, "the new run in the other session", page=second)
    second.locator("#run-history").get_by_text(studio.finished, exact=True).click()
    wait_until(lambda: "max_samples: 32" in second.locator("#run-config").inner_text(), 20, "its config", page=second)
    wait_until(lambda: studio.finished in progress(second)["text"], 20, "its progress", page=second)
    assert progress(second)["status"] == "completed" and progress(first)["status"] in ("starting", "running")
    shot(second, "faults-05-second-session-history")
    # ... and chats with it.
    open_tab(second, "Chat")
    second.locator("#chat-source input").click()
    second.get_by_role("option", name=re.compile("^" + re.escape(studio.finished) + " ·")).click()
    second.locator("#chat-load").click()
    wait_until(lambda: "Loaded" in second.locator("#chat-status").inner_text(), 60, "the model to load", page=second)
    second.locator("#chat-message textarea").fill("What is 2 plus 2?")
    second.locator("#chat-send").click()
    bot = second.locator("#chatbot .message.bot, #chatbot [data-testid='bot']")
    wait_until(lambda: bot.count() > 0 and bot.last.inner_text().strip(), 60, "a reply", page=second)
    shot(second, "faults-06-second-session-chat")

    wait_until(lambda: progress(first)["status"] == "completed", SLOW_WAIT, "the first session's run", page=first)
    open_tab(second, "Train")
    wait_until(lambda: run_names(first, refresh=True) == run_names(second, refresh=True) != set(), 20,
               "the same run list in both sessions", poll=1.0, page=first)
    assert run_dir.name in run_names(first) and len(run_names(first)) == 5
    shot(first, "faults-07-first-session")
