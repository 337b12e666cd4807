"""Experiments in a real browser, on two short finished runs that differ in their learning rate only (trained in
this process before the page opens, 4 steps each with an evaluation every 2): compare them (overlaid curves, the
config diff names the learning rate), judge three prompts of their replies blind, note and tag one, filter the
history by the tag, archive it, and delete the other after confirming. The tests run in file order on one page.
Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import os
import re

import pytest

from tests.e2e.browser import page, studio, fill, open_tab, shot, wait_until  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

RUNS = {"lr-high": 2e-3, "lr-low": 2e-4}  # run name -> learning rate


@pytest.fixture(scope="module")
def runs(studio) -> dict:
    """The two finished runs in the app's saves folder, by name (the app reads runs from disk). They train
    through run_training, not the worker's entry: a worker ends every process its own process started, and
    here those are the app and the browser."""
    from engine.runs.events import EventLog
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training
    from tests.conftest import short_run_config

    made = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_SAVES_DIR", str(studio["root"] / "saves"))
        patch.setenv("STUDIO_CACHE_DIR", os.environ["STUDIO_CACHE_DIR"])
        for name, rate in RUNS.items():
            config = short_run_config(max_steps=4)
            config.train.run_name, config.train.learning_rate = name, rate
            config.data.cutoff_len, config.data.val_size, config.eval.eval_steps = 64, 0.25, 2
            made[name] = run_dir = create_run(config)
            log = EventLog(run_dir)
            log.write("status", status="running")
            assert run_training(RunContext(config, run_dir, log, lambda: False)) == "completed"
            log.write("status", status="completed")  # what the worker writes when training returns
    return made


def choose(page, picker: str, option) -> None:
    page.locator(f"{picker} input").click()
    page.locator(picker).get_by_role("option", name=option).click()


def history(page) -> str:
    return page.locator("#run-history").inner_text()


def select_run(page, name: str) -> None:
    # The table also renders a hidden copy of its cells to size the columns: the visible one is the row.
    cell = page.locator("#run-history").get_by_text(name, exact=True).filter(visible=True)
    wait_until(lambda: cell.count() == 1, 20, f"{name} in the history", page=page)
    cell.click()
    wait_until(lambda: f"{name}: note" in page.locator("#run-notes-heading").inner_text(), 20,
               f"the notes of {name}", page=page)


def test_compare_two_finished_runs(runs, page, studio):
    page.goto(studio["url"])
    page.get_by_role("tab", name="Train", exact=True).wait_for()
    open_tab(page, "Train")
    wait_until(lambda: all(name in history(page) for name in RUNS), 30, "both runs in the history", page=page)
    page.get_by_text("Compare runs", exact=True).click()
    for name in RUNS:
        choose(page, "#compare-runs", re.compile("^" + re.escape(name) + " ·"))
    page.locator("#compare-runs input").press("Escape")
    page.locator("#compare-button").click()
    diff = page.locator("#compare-diff")
    wait_until(lambda: "train.learning_rate" in diff.inner_text(), 60, "the config diff", page=page)
    assert "0.002" in diff.inner_text() and "0.0002" in diff.inner_text() and "cutoff_len" not in diff.inner_text()
    drawn = "() => Math.max(0, ...[...document.querySelectorAll('#compare-curve img, #compare-curve svg')]" \
            ".map((element) => element.getBoundingClientRect().height))"
    wait_until(lambda: page.evaluate(drawn) > 200, 30, "the overlaid curves", page=page)
    metrics = page.locator("#compare-metrics").inner_text()
    assert "eval loss" in metrics and all(name in metrics for name in RUNS)
    page.locator("#compare-curve").scroll_into_view_if_needed()
    shot(page, "experiments-01-compared")


def test_judge_three_prompts_blind(page, runs):
    open_tab(page, "Evaluate")
    choose(page, "#eval-source", re.compile("^lr-high ·"))
    page.get_by_text("all rows", exact=True).click()  # its validation split holds too few of the first rows
    fill(page, "#eval-max-samples input", "3")
    fill(page, "#eval-max-new-tokens input", "8")
    choose(page, "#compare-a", re.compile("^lr-high ·"))
    choose(page, "#compare-b", re.compile("^lr-low ·"))
    page.locator("#compare-run").click()
    wait_until(lambda: "3 of 3 prompts answered" in page.locator("#compare-progress").inner_text(), 90,
               "the replies of both runs", page=page)
    page.locator("#judge-start").click()
    judged = page.locator("#judge-progress")
    for done in range(3):
        wait_until(lambda done=done: f"Prompt {done} of 3 judged" in judged.inner_text(), 20, f"prompt {done + 1}",
                   page=page)
        page.locator("#judge-progress").click()  # keys go to the page, not to a field
        page.keyboard.press("1")
    wait_until(lambda: "win rate" in judged.inner_text(), 20, "the win rate", page=page)
    assert "**" not in judged.inner_text() and "lr-high" in judged.inner_text() and "lr-low" in judged.inner_text()
    assert len((runs["lr-high"] / "judgements.jsonl").read_text().splitlines()) == 3
    shot(page, "experiments-02-judged")


def test_add_a_note_and_a_tag_and_filter_by_it(page, runs):
    open_tab(page, "Train")
    select_run(page, "lr-high")
    page.locator("#run-note textarea").fill("the higher learning rate")
    page.locator("#run-tags input, #run-tags textarea").first.fill("lr-sweep, fast")
    page.locator("#save-notes").click()
    wait_until(lambda: "Saved the note and tags of lr-high" in page.locator("#history-message").inner_text(), 20,
               "the saved message", page=page)
    wait_until(lambda: "lr-sweep, fast" in history(page), 20, "the tags in the history", page=page)
    assert "the higher learning rate" in history(page)
    choose(page, "#history-tag", "fast")
    wait_until(lambda: "lr-low" not in history(page) and "lr-high" in history(page), 20, "the tag filter", page=page)
    shot(page, "experiments-03-tagged")
    choose(page, "#history-tag", "any tag")
    wait_until(lambda: "lr-low" in history(page), 20, "every run again", page=page)
    page.locator("#compare-button").click()
    wait_until(lambda: "the higher learning rate" in page.locator("#compare-notes").inner_text(), 30,
               "the note in the comparison", page=page)
    assert "lr-sweep" in page.locator("#compare-notes").inner_text()


def test_archive_hides_a_run_until_archived_runs_are_shown(page, runs):
    select_run(page, "lr-high")
    page.locator("#archive-run").click()
    wait_until(lambda: "lr-high" not in history(page), 20, "the archived run to leave the history", page=page)
    assert runs["lr-high"].is_dir()  # archived, not deleted
    page.locator("#history-archived input").check()
    wait_until(lambda: "archived" in history(page) and "lr-high" in history(page), 20, "archived runs", page=page)
    shot(page, "experiments-04-archived")
    page.locator("#history-archived input").uncheck()
    wait_until(lambda: "lr-high" not in history(page), 20, "the default list again", page=page)


def test_delete_asks_first_then_deletes(page, runs):
    select_run(page, "lr-low")
    page.locator("#delete-run").click()
    question = page.locator("#delete-confirm-text")
    wait_until(lambda: "Delete run lr-low and all its files" in question.inner_text(), 20, "the question", page=page)
    page.locator("#delete-no").click()
    wait_until(lambda: not question.is_visible(), 20, "the question to go", page=page)
    assert runs["lr-low"].is_dir() and "lr-low" in history(page)
    page.locator("#delete-run").click()
    page.locator("#delete-yes").click()
    wait_until(lambda: "Deleted run lr-low" in page.locator("#history-message").inner_text(), 30, "the deletion",
               page=page)
    wait_until(lambda: "lr-low" not in history(page), 20, "the deleted run to leave the history", page=page)
    assert not runs["lr-low"].exists() and runs["lr-high"].is_dir()
    shot(page, "experiments-05-deleted")
