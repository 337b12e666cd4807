"""GRPO from the browser: pick the word-problem dataset and the grpo stage, see only GRPO's controls, train,
and see the reward curves. The app, page and helpers are those of test_browser.py; the tests run in file
order on one page. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import pytest

from engine.runs.events import read_events
from tests.e2e.browser import SLOW_WAIT, page, studio, open_tab, progress, shot, wait_until  # noqa: F401  (fixtures)
from tests.e2e.test_eval_chat_export import choose, fill

pytestmark = pytest.mark.browser


def test_choosing_grpo_shows_its_controls_only(page, studio):
    page.goto(studio["url"])
    open_tab(page, "Data")
    page.locator("#datasets .remove-all").click()
    choose(page, "#datasets", "demo_math")
    page.keyboard.press("Escape")
    open_tab(page, "Method")
    assert not page.locator("#field-method-grpo-rewards").is_visible()
    choose(page, "#field-method-stage", "grpo")
    wait_until(lambda: page.locator("#field-method-grpo-rewards").is_visible(), 10, "the GRPO controls", page=page)
    assert page.locator("#field-method-grpo-num-generations").is_visible()
    assert not page.locator("#field-method-pref-beta").is_visible()  # DPO's, not GRPO's
    choose(page, "#field-method-grpo-rewards", "brevity")
    shot(page, "grpo-01-method")


def test_grpo_trains_and_plots_its_rewards(page, studio):
    open_tab(page, "Train")
    fill(page, "#field-train-max-steps input", "6")
    page.locator("#start-button").click()
    wait_until(lambda: progress(page)["status"] == "completed", SLOW_WAIT, "the GRPO run to complete", page=page)
    assert progress(page)["step"] == 6
    metrics = page.locator("#stage-metrics")
    wait_until(lambda: metrics.locator("canvas, svg path").count() > 0, 10, "the reward plot", page=page)
    shot(page, "grpo-02-trained")
    run_dir = next((studio["root"] / "saves").glob("*/*/*/config.yaml")).parent
    logs = [e for e in read_events(run_dir) if e["event"] == "log"]
    assert {"rewards/reference_rouge/mean", "rewards/brevity/mean"} <= logs[-1].keys()
