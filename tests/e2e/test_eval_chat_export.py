"""Evaluate, Chat and Export in a real browser, on one app with a short LoRA run trained beforehand (12 steps):
scored generation streaming into the page, base vs tuned side by side with deltas, a side-by-side chat, and a
GGUF export that llama.cpp loads. The app, page and helpers are those of test_browser.py; the tests run in
file order on one page. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import json
import os
import re

import pytest

from webui.i18n import text
from tests.e2e.browser import SLOW_WAIT, page, studio, fill, open_tab, shot, wait_until  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def run_name(studio) -> str:
    """A finished run in the app's saves folder, trained in this process (the app reads runs from disk)."""
    from engine.runs.events import EventLog
    from tests.conftest import train_demo_run

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_SAVES_DIR", str(studio["root"] / "saves"))
        patch.setenv("STUDIO_CACHE_DIR", os.environ["STUDIO_CACHE_DIR"])
        run_dir = train_demo_run()
    # The worker process writes a run's final status; trained in-process, the test writes it the same way.
    EventLog(run_dir).write("status", status="completed")
    return run_dir.name


def choose(page, picker: str, option) -> None:
    page.locator(f"{picker} input").click()
    page.get_by_role("option", name=option).click()


def test_evaluate_streams_rows_and_metrics(page, studio, run_name):
    page.goto(studio["url"])
    page.get_by_role("tab", name="Evaluate", exact=True).wait_for()
    open_tab(page, "Evaluate")
    choose(page, "#eval-source", re.compile(re.escape(run_name)))
    fill(page, "#eval-max-samples input", "8")
    fill(page, "#eval-max-new-tokens input", "16")
    page.locator("#eval-run").click()
    progress = page.locator("#eval-progress")
    wait_until(lambda: "Done: 8 of 8 rows" in progress.inner_text(), 60, "the evaluation to finish", page=page)
    metrics = page.locator("#eval-metrics").inner_text()
    assert "eval loss" in metrics and "perplexity" in metrics and "BLEU-4" in metrics and "ROUGE-L" in metrics
    shot(page, "eval-01-evaluated")
    written = next((studio["root"] / "saves").rglob("generated_predictions.jsonl"))
    rows = [json.loads(line) for line in written.read_text().splitlines()]
    assert len(rows) == 8 and rows[0]["prompt"][:20] in page.locator("#eval-rows").inner_text()


def test_base_vs_tuned_side_by_side(page, run_name):
    choose(page, "#compare-b", re.compile(re.escape(run_name)))
    page.locator("#compare-run").click()
    progress = page.locator("#compare-progress")
    wait_until(lambda: "8 of 8 prompts answered" in progress.inner_text(), 60, "the comparison", page=page)
    deltas = page.locator("#compare-deltas").inner_text()
    base = text("pick.base", "en")  # named as its picker names it
    assert f"Δ ({run_name} − {base})" in deltas and "ROUGE-L" in deltas
    headers = page.locator("#compare-rows thead").inner_text()
    assert "base" in headers and run_name in headers and f"ROUGE-L {run_name}" in headers
    assert "What is Finetune Studio?" in page.locator("#compare-rows").inner_text()  # the first prompt
    page.locator("#compare-deltas").scroll_into_view_if_needed()
    shot(page, "eval-02-compared")


def test_chat_with_base_and_tuned_at_once(page, run_name):
    open_tab(page, "Chat")
    choose(page, "#chat-source-b", re.compile(re.escape(run_name)))
    page.locator("#chat-load").click()
    wait_until(lambda: f"base | {run_name}" in page.locator("#chat-status").inner_text(), 60, "both models", page=page)
    page.locator("#chat-message textarea").fill("What is LoRA?")
    page.locator("#chat-send").click()
    replies = [page.locator(f"{box} .message.bot, {box} [data-testid='bot']") for box in ("#chatbot", "#chatbot-b")]
    wait_until(lambda: all(r.count() and r.last.inner_text().strip() for r in replies), 60, "two replies", page=page)
    page.wait_for_timeout(1500)  # let both streams finish drawing for the screenshot
    shot(page, "eval-03-chat-side-by-side")


def test_export_gguf_refusal_shows_before_merging(page, run_name):
    # The built-in model's made-up tokenizer is one llama.cpp's converter refuses (tests/test_gguf.py exports
    # real families): the page says why at once, and no merged folder appears.
    open_tab(page, "Export")
    page.locator("#export-gguf").get_by_text("f16", exact=True).click()
    page.locator("#export-button").click()
    result = page.locator("#export-result")
    wait_until(lambda: "Export failed" in result.inner_text(), SLOW_WAIT, "the GGUF refusal", page=page)
    assert "cannot write this model's tokenizer as GGUF, so nothing was merged" in result.inner_text()
    shot(page, "eval-04-export-gguf-refused")
