"""The studio in a real browser: launch it, add data, train the demo model, reload mid-run, chat, export.

Chromium (Debian's, /usr/bin/chromium) is driven by Playwright's sync API. The app runs as a subprocess
with its own saves, data and exports folders; the built-in model cache is shared (STUDIO_CACHE_DIR).
The tests run in file order and share one page: each one continues where the previous one left off.
Screenshots of every step go to test-artifacts/.
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

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

PROJECT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = PROJECT / "test-artifacts"
TIMINGS: dict[str, float] = {}

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
    while url is None and time.time() - started < 60:
        line = app.stdout.readline()
        if not line and app.poll() is not None:
            break
        if match := re.search(r"running at (http://\S+)", line):
            url = match.group(1)
    if url is None:
        app.kill()
        pytest.fail(f"the app did not start: {(root / 'app.log').read_text()[-3000:]}")
    TIMINGS["launch → URL printed (s)"] = time.time() - started
    yield {"url": url, "root": root, "started": started}
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


# ---------------------------------------------------------------------------------------------------------
# The steps, in order


def test_page_opens_with_tabs_and_demo_defaults(page, studio):
    page.goto(studio["url"])
    page.get_by_role("tab", name="Train", exact=True).wait_for()
    TIMINGS["launch → page usable (s)"] = time.time() - studio["started"]
    assert "Finetune Studio" in page.title()
    for name in ("Data", "Model", "Method", "Train", "Evaluate", "Chat", "Export"):
        assert page.get_by_role("tab", name=name, exact=True).is_visible()
    assert "demo_alpaca_en" in page.locator("#datasets").inner_text()
    shot(page, "01-data-tab")


def test_language_switch_relabels_live(page):
    page.get_by_text("简体中文", exact=True).click()
    page.get_by_role("tab", name="训练", exact=True).wait_for()
    open_tab(page, "训练")
    page.get_by_text("学习率", exact=True).wait_for()
    shot(page, "02-chinese")
    page.get_by_text("English", exact=True).click()
    page.get_by_role("tab", name="Data", exact=True).wait_for()
    open_tab(page, "Data")


def test_broken_upload_names_the_problem(page, studio):
    broken = studio["root"] / "broken.json"
    broken.write_text(json.dumps([{"instruction": "hi", "output": "hello"}, {"instruction": "q", "output": 42}]))
    page.locator("#upload-file input[type=file]").set_input_files(str(broken))
    found = page.locator("#upload-found")
    wait_until(lambda: "row 2" in found.inner_text(), 20, "the row-level error")
    assert "output" in found.inner_text()
    page.locator("#upload-import").click()
    message = page.locator("#upload-message")
    wait_until(lambda: "nothing was registered" in message.inner_text(), 20, "the refusal")
    shot(page, "03-broken-upload")
    assert "broken" not in json.loads((studio["root"] / "dataset_info.json").read_text())


def test_upload_registers_a_dataset(page, studio):
    good = studio["root"] / "e2e_faq.json"
    rows = [{"instruction": f"What is {n} plus {n}?", "input": "", "output": f"{n} plus {n} is {2 * n}."} for n in range(24)]
    good.write_text(json.dumps(rows))
    page.locator("#upload-file button[aria-label='Clear']").click()
    page.locator("#upload-file input[type=file]").set_input_files(str(good))
    found = page.locator("#upload-found")
    wait_until(lambda: "alpaca" in found.inner_text() and "24 rows" in found.inner_text(), 20, "the detection")
    assert page.locator("#upload-name input, #upload-name textarea").first.input_value() == "e2e_faq"
    page.locator("#upload-import").click()
    wait_until(lambda: "Added dataset" in page.locator("#upload-message").inner_text(), 20, "the import")
    assert "e2e_faq" in page.locator("#datasets").inner_text()
    shot(page, "04-upload-done")
    assert "e2e_faq" in json.loads((studio["root"] / "dataset_info.json").read_text())


def test_training_shows_progress_and_survives_a_reload(page):
    open_tab(page, "Train")
    max_steps = page.locator("#field-train-max-steps input")
    max_steps.fill("30")
    max_steps.press("Tab")
    page.locator("#start-button").click()
    clicked = time.time()
    wait_until(lambda: "Started run" in page.locator("#train-message").inner_text(), 20, "the start message", page=page)
    run_name = re.search(r"Started run (\S+)", page.locator("#train-message").inner_text()).group(1).strip(".*")
    assert "python -m engine train" in page.locator("#train-command textarea").input_value()
    wait_until(lambda: progress(page)["step"] > 0, 120, "the first loss point")
    TIMINGS["Start → first curve point (s)"] = time.time() - clicked
    shot(page, "05-training")
    page.reload()
    page.get_by_role("tab", name="Train", exact=True).wait_for()
    open_tab(page, "Train")
    wait_until(lambda: run_name in progress(page)["text"] and progress(page)["step"] > 0, 20, "the run after reload")
    shot(page, "06-after-reload")
    wait_until(lambda: progress(page)["status"] == "completed", 120, "the run to complete")
    assert progress(page)["step"] == 30
    curve = page.locator("#loss-curve")
    wait_until(lambda: curve.locator("canvas, svg path").count() > 0, 10, "a drawn curve")
    time.sleep(1.5)  # let the plot finish its last redraw for the screenshot
    shot(page, "07-trained")
    page.run_name = run_name


def test_chat_with_the_trained_run(page):
    open_tab(page, "Chat")
    page.locator("#chat-source input").click()
    page.get_by_role("option", name=re.compile(re.escape(page.run_name))).click()
    page.locator("#chat-load").click()
    wait_until(lambda: "Loaded" in page.locator("#chat-status").inner_text(), 60, "the model to load")
    page.locator("#chat-message textarea").fill("What is 3 plus 3?")
    page.locator("#chat-send").click()
    bot = page.locator("#chatbot .message.bot, #chatbot [data-testid='bot']")
    wait_until(lambda: bot.count() > 0 and bot.last.inner_text().strip(), 60, "a reply")
    shot(page, "08-chat")


def test_export_writes_a_loadable_model(page):
    open_tab(page, "Export")
    page.locator("#export-button").click()
    result = page.locator("#export-result")
    wait_until(lambda: "Exported to" in result.inner_text(), 120, "the export")
    shot(page, "09-export")
    folder = Path(re.search(r"Exported to (\S+)", result.inner_text()).group(1))
    assert (folder / "config.json").exists()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.inference_mode():
        logits = model(**tokenizer("hello", return_tensors="pt")).logits
    assert logits.shape[-1] == model.config.vocab_size
    page.locator("#export-button").click()  # the same name again: refused, not overwritten
    wait_until(lambda: "already exists" in result.inner_text(), 60, "the refusal to overwrite")
