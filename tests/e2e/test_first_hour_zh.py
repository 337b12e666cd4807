"""The first hour in 简体中文, in a real browser: Gradio's own upload zone and a bad file's check report read in
Chinese, a new upload becomes the only selected dataset, a reload keeps the form and the language, the empty loss
plot says there is no data yet, a finished run offers its next steps, and the quick demo trained from the page
answers a demo question in Chat with its trained answer; the words Gradio writes in English whatever its locale
(tooltips, screen-reader labels) read in Chinese on every tab.

The tests run in file order and share one page. Their screenshots are the README's: written to test-artifacts/,
or to docs/ with STUDIO_DOC_SHOTS=1 (a test run leaves the checkout as it was).
"""
from __future__ import annotations

import json
import os
import re

import pytest

from tests.e2e.browser import PROJECT, page, studio, fill, open_tab, progress, restored, wait_until  # noqa: F401  (fixtures)
from tests.test_webui_data import english_sentences
from webui.page_locale import GRADIO_WORDS_ZH

pytestmark = pytest.mark.browser

DOCS = PROJECT / ("docs" if os.environ.get("STUDIO_DOC_SHOTS") == "1" else "test-artifacts")
LOADED_S = 120  # a generous bound for the page to draw a tab on a loaded 2-core machine
ROWS = [{"instruction": f"星湾岛的第 {n} 个景点叫什么？", "input": "", "output": f"第 {n} 个景点叫星光湾{n}号。"}
        for n in range(1, 13)]


def doc_shot(page, name: str) -> None:
    """A screenshot of what is on screen (not the whole page), small enough for the README."""
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / f"{name}.png"))


def selected_datasets(page) -> str:
    return page.locator("#datasets").inner_text()


def studio_runs(studio) -> list[str]:
    return [path.parent.name for path in (studio["root"] / "saves").glob("*/*/*/config.yaml")]


def test_a_bad_file_is_reported_in_chinese(page, studio):
    page.goto(studio["url"])
    page.get_by_text("简体中文", exact=True).click()
    page.get_by_role("tab", name="数据", exact=True).wait_for()
    zone = page.locator("#upload-file")  # drawn by Gradio itself, in its own locale: now the page's
    wait_until(lambda: "将文件拖放到此处" in zone.inner_text() and "点击上传" in zone.inner_text(), 30,
               "Gradio's upload zone in Chinese", page=page)
    bad = PROJECT / "tests" / "data" / "bad" / "sharegpt_out_of_order.json"
    page.locator("#upload-file input[type=file]").set_input_files(str(bad))
    found = page.locator("#upload-found")
    wait_until(lambda: "无法使用此文件" in found.inner_text(), 30, "the check report", page=page)
    assert "轮次顺序错误" in found.inner_text() and not english_sentences(found.inner_text())
    assert page.locator("#upload-import").is_disabled()
    found.scroll_into_view_if_needed()
    doc_shot(page, "zh-check-report")


def test_a_new_upload_is_the_only_selected_dataset(page, studio):
    good = studio["root"] / "island_faq.json"
    good.write_text(json.dumps(ROWS, ensure_ascii=False), encoding="utf-8")
    page.locator("#upload-file button[aria-label='清除']").click()  # Gradio's own button, in its Chinese
    page.locator("#upload-file input[type=file]").set_input_files(str(good))
    found = page.locator("#upload-found")
    wait_until(lambda: "检测到格式" in found.inner_text() and "可以使用" in found.inner_text(), 30, "the detection",
               page=page)
    assert not english_sentences(found.inner_text())
    assert page.locator("#role-prompt").is_visible() and not page.locator("#role-chosen").is_visible()
    wait_until(lambda: page.locator("#upload-import").is_enabled(), 10, "Add dataset enabled")
    page.locator("#upload-import").click()
    wait_until(lambda: "已添加数据集" in page.locator("#upload-message").inner_text(), 30, "the import", page=page)
    wait_until(lambda: "island_faq" in selected_datasets(page), 10, "the new dataset selected")
    assert "demo_alpaca_en" not in selected_datasets(page)
    wait_until(lambda: "island_faq（12 行）" in page.locator("#summary").inner_text(), 20, "the summary line")
    doc_shot(page, "zh-upload")


def test_a_reload_keeps_the_form_and_the_language(page):
    kept = lambda: page.evaluate("() => window.localStorage.getItem('finetune-studio-form')")  # noqa: E731
    before = kept()
    open_tab(page, "训练")
    fill(page, "#field-train-max-steps input", "4")
    fill(page, "#field-data-cutoff-len input", "64")
    wait_until(lambda: kept() not in (None, before), 20, "the form saved in the browser", page=page)
    page.reload()
    page.get_by_role("tab", name="训练", exact=True).wait_for()
    wait_until(lambda: "island_faq" in selected_datasets(page), 30, "the datasets restored", page=page)
    assert "demo_alpaca_en" not in selected_datasets(page)
    open_tab(page, "训练")
    wait_until(lambda: page.locator("#field-train-max-steps input").input_value() == "4", 20, "max steps restored")
    # No run yet: a sentence instead of a bare axis (redrawn in the page's language at the timer's next tick).
    wait_until(lambda: "暂无数据" in page.locator("#curve-empty").inner_text(), 20, "the empty curve's sentence",
               page=page)
    assert "island_faq（12 行）" in page.locator("#summary").inner_text()


def test_a_finished_run_offers_its_next_steps(page, studio):
    page.locator("#start-button").click()
    wait_until(lambda: progress(page)["status"] == "completed", 300, "the run to complete", page=page)
    wait_until(lambda: page.locator("#next-steps").is_visible(), 20, "the next steps", page=page)
    wait_until(lambda: page.locator("#loss-curve").is_visible(), 20, "the loss curve", page=page)
    assert not page.locator("#curve-empty").is_visible()
    log = page.locator("#readable-log textarea").input_value()
    assert re.search(r"第 \d+/4 步 · 损失", log), log
    doc_shot(page, "zh-trained")
    page.locator("#loss-curve").scroll_into_view_if_needed()
    doc_shot(page, "zh-curve-and-log")
    run_name = next((studio["root"] / "saves").glob("*/*/*/config.yaml")).parent.name
    page.locator("#next-chat").click()
    page.locator("#chat-source").wait_for()
    wait_until(lambda: run_name in page.locator("#chat-source input").input_value(), 20, "the run picked in Chat",
               page=page)


def test_the_quick_demo_trained_here_answers_in_chat(page, studio):
    """The starting preset, trained from the page (on its first two questions, one English and one Chinese, as
    tests/test_quick_demo.py does), answers the Chinese one in Chat with its trained answer, greedy."""
    row = json.loads((PROJECT / "data" / "demo_quick.json").read_text(encoding="utf-8"))[1]  # the Chinese one
    question, answer = row["instruction"], row["output"]
    page.goto(studio["url"])  # a fresh page, in the language this browser kept (or switched to here)
    page.get_by_role("tab", name=re.compile("^(数据|Data)$")).first.wait_for(timeout=LOADED_S * 1000)
    if not page.get_by_role("tab", name="数据", exact=True).is_visible():
        page.get_by_text("简体中文", exact=True).click()
    page.get_by_role("tab", name="数据", exact=True).wait_for(timeout=LOADED_S * 1000)
    restored(page, LOADED_S)
    page.locator("#reset-form").click()
    summary = page.locator("#summary")  # the form as Start will send it
    wait_until(lambda: "demo_quick" in summary.inner_text() and "island_faq" not in summary.inner_text(), LOADED_S,
               "the quick demo preset", page=page)
    fill(page, "#field-data-max-samples input", "2")
    wait_until(lambda: page.locator("#field-data-max-samples input").input_value() == "2", 10, "max samples 2")
    earlier = set(studio_runs(studio))
    page.get_by_role("tab", name="训练", exact=True).click(timeout=LOADED_S * 1000)
    page.locator("#start-button").click()
    new_run = wait_until(lambda: next(iter(set(studio_runs(studio)) - earlier), None), 60, "the new run", page=page)
    wait_until(lambda: new_run in progress(page)["text"] and progress(page)["status"] == "completed", 300,
               "the quick demo to finish training", page=page)
    page.locator("#next-chat").click()
    wait_until(lambda: new_run in page.locator("#chat-source input").input_value(), 20, "the run picked in Chat",
               page=page)
    fill(page, "#chat-temperature input[type=number]", "0")
    page.locator("#chat-load").click()
    wait_until(lambda: new_run in page.locator("#chat-status").inner_text(), 60, "the run loaded", page=page)
    page.locator("#chat-message textarea").fill(question)
    page.locator("#chat-send").click()
    replies = page.locator("#chatbot .message.bot, #chatbot [data-testid='bot']")
    shown = answer.replace("`", "")  # the chat renders the answer's `code` as code
    wait_until(lambda: shown in replies.last.inner_text(), 60, "the trained answer", page=page)
    doc_shot(page, "zh-quick-demo-chat")


def test_gradio_s_own_tooltips_and_labels_read_in_chinese(page):
    """Copy and fullscreen buttons, sliders' and tables' screen-reader labels: Gradio writes them in English in
    every locale. On every tab of the page the last test loaded (in the kept language, so Gradio's locale was
    Chinese from its first draw), with a chat on screen, none is left in English."""
    assert page.evaluate("() => navigator.language") == "zh-CN"
    left = []

    def all_chinese() -> bool:
        left[:] = english_labels(page)
        return not left

    for tab in ("数据", "模型", "方法", "训练", "评估", "对话", "导出"):
        open_tab(page, tab)
        try:
            wait_until(all_chinese, 20, f"Chinese tooltips and labels on the {tab} tab", page=page)
        except pytest.fail.Exception:
            pytest.fail(f"English tooltips or labels on the {tab} tab: {left}")


def english_labels(page) -> list[str]:
    """title and aria-label values on the page whose own words are English: two English words in a row, or one
    of the words Gradio writes in English. A Chinese label's own words end at its colon; what follows is what it
    describes (a chat message, the series of a plot)."""
    values = page.evaluate("""() => [...document.querySelectorAll('[title],[aria-label]')]
        .flatMap((element) => [element.getAttribute('title'), element.getAttribute('aria-label')]).filter(Boolean)""")
    return sorted({value for value in values if re.search(r"[A-Za-z]{2,} +[A-Za-z]{2,}", value.split("：")[0])
                   or value in GRADIO_WORDS_ZH})
