"""What every browser test shares: the fixtures (`studio`, the app as a subprocess with its own folders, one
per test module; `page`, one Chromium page) and the helpers that drive a page.

Chromium (Debian's, /usr/bin/chromium) is driven by Playwright's sync API; the built-in model cache is shared
(STUDIO_CACHE_DIR). Screenshots go to test-artifacts/. A test module imports the fixtures it uses from here.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")

PROJECT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = PROJECT / "test-artifacts"
TIMINGS: dict[str, float] = {}
# Seconds a wait on training, resuming or exporting may take: those waits poll the real status, so a generous
# bound costs nothing when things go well, and a few steps take minutes on a loaded 2-core machine.
SLOW_WAIT = 900

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------------------------------------------
# Fixtures: the app as a subprocess, one browser page


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model):
    # tiny_model builds the built-in model into STUDIO_CACHE_DIR first, so no step waits on a 30 s build.
    root = tmp_path_factory.mktemp("studio")
    shutil.copytree(PROJECT / "data", root / "data")
    shutil.copy(PROJECT / "dataset_info.json", root / "dataset_info.json")
    cache = os.environ.get("STUDIO_CACHE_DIR") or str(tmp_path_factory.mktemp("cache"))
    env = {
        **os.environ,
        "STUDIO_DATA_DIR": str(root / "data"),
        "STUDIO_REGISTRY": str(root / "dataset_info.json"),
        "STUDIO_SAVES_DIR": str(root / "saves"),
        "STUDIO_EXPORTS_DIR": str(root / "exports"),
        "STUDIO_CACHE_DIR": cache,
        "PYTHONUNBUFFERED": "1",
    }
    log = (root / "app.log").open("w")
    started = time.time()
    app = subprocess.Popen([sys.executable, "launch.py", "--port", str(free_port())], cwd=PROJECT, env=env,
                           stdout=subprocess.PIPE, stderr=log, text=True)
    url = None
    while url is None and time.time() - started < 240:  # two builds of the page (both languages) on a busy machine
        line = app.stdout.readline()
        if not line and app.poll() is not None:
            break
        if match := re.search(r"running at (http://\S+)", line):
            url = match.group(1)
    if url is None:
        app.kill()
        pytest.fail(f"the app did not start: {(root / 'app.log').read_text()[-3000:]}")
    TIMINGS["launch → URL printed (s)"] = time.time() - started
    yield {"url": url, "root": root, "started": started, "log": root / "app.log"}
    app.terminate()
    try:
        app.wait(10)
    except subprocess.TimeoutExpired:
        app.kill()
    log.close()
    print("\ntimings:", json.dumps({k: round(v, 1) for k, v in TIMINGS.items()}))


@pytest.fixture(scope="module")
def page(studio):
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def restored(page, timeout: float = 120) -> None:
    """Wait until a newly loaded page has restored the form it kept: its summary line is drawn after the restore,
    and a click before then (Reset, say) is undone when the restore lands, late on a loaded machine."""
    wait_until(lambda: page.locator("#summary").inner_text().strip(), timeout, "the page's kept form", page=page)


def fill(page, selector: str, value: str) -> None:
    """Type `value` into the field and leave it: gradio takes a number or text field's value on blur."""
    field = page.locator(selector)
    field.fill(value)
    field.press("Tab")


def progress(page) -> dict:
    bar = page.locator("#run-progress .run-progress")
    return {"status": bar.get_attribute("data-status"), "step": int(bar.get_attribute("data-step") or 0),
            "text": bar.inner_text()}


def wait_until(condition, timeout: float, what: str, poll: float = 0.25, page=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if result := condition():
                return result
        except playwright_api.Error:
            pass  # the element is being redrawn
        time.sleep(poll)
    if page is not None:
        shot(page, "failed-" + re.sub(r"\W+", "-", what))
    pytest.fail(f"timed out after {timeout} s waiting for {what}")
