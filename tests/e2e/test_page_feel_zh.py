"""A zh-CN browser on a fresh studio, as a newcomer meets it: Chinese from the first paint (and after a reload),
Start beside the summary line, a refusal that names every problem by its label, an idle page that asks the
server nothing, and Chat's Send that loads the trained quick demo by itself and answers a follow-up. No English
sentence on the page, no server traceback (tests/e2e/conftest.py).

The tests run in file order and share one page; the times measured go to the `timings:` line of the output.
"""
from __future__ import annotations

import json
import time

import pytest

from tests.e2e.browser import (  # noqa: F401  (fixtures)
    CHROMIUM, CHROMIUM_ARGS, PROJECT, TIMINGS, fill, open_tab, playwright_api, progress, studio, wait_until,
)
from tests.test_webui_data import english_sentences

pytestmark = pytest.mark.browser

LOADED_S = 120  # a generous bound for the page to draw on a loaded 2-core machine


@pytest.fixture(scope="module")
def page(studio):
    """A page of a browser whose language is Chinese (navigator.language and Accept-Language: zh-CN)."""
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(LOADED_S * 1000)  # a click on a loaded 2-core machine can take tens of seconds
        yield page
        browser.close()


def page_text(page) -> str:
    return page.locator("body").inner_text()


def assert_chinese(page) -> None:
    english = english_sentences(page_text(page))
    assert not english, english


def test_the_first_paint_is_chinese_and_start_is_above_the_tabs(page, studio):
    opened = time.time()
    page.goto(studio["url"])
    top_start = page.locator("#summary-start")
    # The first time the button is drawn it already reads 开始: the page arrived in Chinese.
    top_start.wait_for(state="visible", timeout=LOADED_S * 1000)
    TIMINGS["goto → Start visible (s)"] = time.time() - opened
    TIMINGS["launch → Start visible (s)"] = time.time() - studio["started"]
    assert top_start.inner_text().strip() == "开始"
    assert page.get_by_role("tab", name="训练", exact=True).is_visible()
    wait_until(lambda: "将要训练" in page.locator("#summary").inner_text(), LOADED_S, "the summary line", page=page)
    assert_chinese(page)
    page.reload()
    page.locator("#summary-start").wait_for(state="visible", timeout=LOADED_S * 1000)
    assert page.locator("#summary-start").inner_text().strip() == "开始"
    assert_chinese(page)


def test_an_idle_page_goes_quiet(page):
    """Once the page's load events are answered (no run yet: the timer stops at its first tick), the page asks
    the server nothing: six seconds without a request come, where a ticking timer would ask every second."""
    wait_until(lambda: "将要训练" in page.locator("#summary").inner_text(), LOADED_S, "the summary line", page=page)
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    quiet_s, seen, quiet_since, deadline = 6.0, 0, time.time(), time.time() + LOADED_S
    while time.time() - quiet_since < quiet_s:
        assert time.time() < deadline, f"the page kept asking the server: {asked[-5:]}"
        page.wait_for_timeout(250)
        if len(asked) != seen:
            seen, quiet_since = len(asked), time.time()
    TIMINGS["requests before 6 s of quiet"] = len(asked)


def test_a_refusal_names_every_problem_by_its_label(page):
    open_tab(page, "训练")
    fill(page, "#field-train-learning-rate input", "")  # what a number box holds after "abc" was typed
    fill(page, "#field-train-max-steps input", "-3")
    open_tab(page, "数据")
    clicked = time.time()
    page.locator("#summary-start").click()
    # The click is answered on the page: the Train tab opens, where the refusal (or the run) shows.
    page.locator("#start-button").wait_for(state="visible", timeout=LOADED_S * 1000)
    TIMINGS["Start click → Train tab shown (s)"] = time.time() - clicked
    message = page.locator("#train-message")
    wait_until(lambda: "学习率" in message.inner_text() and "最大步数" in message.inner_text(), LOADED_S,
               "both problems named by their labels", page=page)
    TIMINGS["Start click → refusal shown (s)"] = time.time() - clicked
    assert "必须是数字" in message.inner_text() and "train." not in message.inner_text()
    assert_chinese(page)


@pytest.mark.slow
def test_send_loads_the_trained_demo_itself_and_answers_a_follow_up(page, studio):
    rows = json.loads((PROJECT / "data" / "demo_quick.json").read_text(encoding="utf-8"))
    page.locator("#reset-form").click()  # the quick demo preset, on its first two questions
    open_tab(page, "数据")
    wait_until(lambda: page.locator("#field-train-max-steps input").input_value() == "0", 20, "the preset")
    fill(page, "#field-data-max-samples input", "2")
    wait_until(lambda: page.locator("#field-data-max-samples input").input_value() == "2", 10, "max samples 2")
    page.locator("#summary-start").click()
    wait_until(lambda: progress(page)["status"] == "completed", 600, "the quick demo to finish", page=page)
    run_name = next((studio["root"] / "saves").glob("*/*/*/config.yaml")).parent.name
    page.locator("#next-chat").click()
    wait_until(lambda: run_name in page.locator("#chat-source input").input_value(), 30, "the run picked",
               page=page)
    fill(page, "#chat-temperature input[type=number]", "0")
    question, answer = rows[1]["instruction"], rows[1]["output"].replace("`", "")
    page.locator("#chat-message textarea").fill(question)
    sent = time.time()
    page.locator("#chat-send").click()  # no Load pressed: Send loads the picked run and says so
    wait_until(lambda: "正在加载" in page.locator("#chat-status").inner_text()
               or "已加载" in page.locator("#chat-status").inner_text(), 60, "the loading state", page=page)
    TIMINGS["Send click → loading said (s)"] = time.time() - sent
    replies = page.locator("#chatbot .message.bot, #chatbot [data-testid='bot']")
    wait_until(lambda: replies.count() and answer in replies.last.inner_text(), 120, "the trained answer",
               page=page)
    page.locator("#chat-message textarea").fill(rows[0]["instruction"])  # a follow-up in the same conversation
    page.locator("#chat-send").click()
    wait_until(lambda: replies.count() >= 2 and replies.last.inner_text().strip(), 120, "the follow-up reply",
               page=page)
