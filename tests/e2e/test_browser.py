"""The studio in a real browser: launch it, add data, train the demo model, reload mid-run, chat, export.

The app (tests/e2e/conftest.py) runs as a subprocess with its own saves, data and exports folders. The tests
run in file order and share one page: each one continues where the previous one left off. Screenshots of
every step go to test-artifacts/.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.e2e.browser import SLOW_WAIT, page, studio, TIMINGS, fill, open_tab, progress, shot, wait_until  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


# ---------------------------------------------------------------------------------------------------------
# The steps, in order


def test_page_opens_with_tabs_and_demo_defaults(page, studio):
    page.goto(studio["url"])
    page.get_by_role("tab", name="Train", exact=True).wait_for()
    TIMINGS["launch → page usable (s)"] = time.time() - studio["started"]
    assert "Finetune Studio" in page.title()
    for name in ("Data", "Model", "Method", "Train", "Evaluate", "Chat", "Export"):
        assert page.get_by_role("tab", name=name, exact=True).is_visible()
    assert "demo_quick" in page.locator("#datasets").inner_text()  # the quick demo preset
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
    wait_until(lambda: page.locator("#upload-import").is_disabled(), 10, "Add dataset disabled")
    shot(page, "03-broken-upload")
    assert "broken" not in json.loads((studio["root"] / "dataset_info.json").read_text())


def test_upload_registers_a_dataset(page, studio):
    good = studio["root"] / "e2e_faq.json"
    rows = [
        {"instruction": f"What is {n} plus {n}?", "input": "", "output": f"{n} plus {n} is {2 * n}."}
        for n in range(24)
    ]
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
    fill(page, "#field-train-max-steps input", "30")
    page.locator("#start-button").click()
    clicked = time.time()
    # Start checks the data and the model's files before it answers: seconds on a quiet machine, more on a busy one.
    wait_until(
        lambda: "Started run" in page.locator("#train-message").inner_text(), 90, "the start message", page=page
    )
    run_name = re.search(r"Started run (\S+)", page.locator("#train-message").inner_text()).group(1).strip(".*")
    assert "python -m engine train" in page.locator("#train-command textarea").input_value()
    wait_until(lambda: progress(page)["step"] > 0, SLOW_WAIT, "the first loss point")
    TIMINGS["Start → first curve point (s)"] = time.time() - clicked
    shot(page, "05-training")
    page.reload()
    page.get_by_role("tab", name="Train", exact=True).wait_for()
    open_tab(page, "Train")
    wait_until(lambda: run_name in progress(page)["text"] and progress(page)["step"] > 0, 60, "the run after reload")
    shot(page, "06-after-reload")
    wait_until(lambda: progress(page)["status"] == "completed", SLOW_WAIT, "the run to complete")
    assert progress(page)["step"] == 30
    curve = page.locator("#loss-curve")
    wait_until(lambda: curve.locator("img[src]").count() > 0, 30, "a drawn curve")
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
    wait_until(lambda: "Exported to" in result.inner_text(), SLOW_WAIT, "the export", page=page)
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
