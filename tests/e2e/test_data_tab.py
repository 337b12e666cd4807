"""The Data tab in a real browser: broken uploads named and refused, the token view, the length histogram,
cleaning saved as a new dataset, and the same section in Chinese.

The app, the page and the helpers are those of test_browser.py (its own app process for this module, with
tmp data, registry and saves). The tests run in file order on one page. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import json
import re

import pytest

from tests.e2e.browser import page, studio, ARTIFACTS, fill, open_tab, shot, wait_until  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

BAD_FILES = {  # file in tests/data/bad -> what the page must say about it
    "invalid_json.json": "JSON allows no comma after the last item",
    "sharegpt_out_of_order.json": "turns out of order: turn 2 is from 'human' but should be from 'gpt'",
    "preference_identical.json": "field 'rejected': is identical to 'chosen'",
}


def registry(studio) -> str:
    return (studio["root"] / "dataset_info.json").read_text(encoding="utf-8")


def element_shot(page, selector: str, name: str) -> None:
    page.locator(selector).screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_broken_uploads_get_their_own_message_and_register_nothing(page, studio):
    from tests.e2e.browser import PROJECT

    page.goto(studio["url"])
    page.get_by_role("tab", name="Data", exact=True).wait_for()
    before = registry(studio)
    found = page.locator("#upload-found")
    for number, (name, expected) in enumerate(BAD_FILES.items()):
        if number:
            page.locator("#upload-file button[aria-label='Clear']").click()
        page.locator("#upload-file input[type=file]").set_input_files(str(PROJECT / "tests" / "data" / "bad" / name))
        wait_until(lambda: expected in found.inner_text(), 20, f"the message for {name}", page=page)
        assert "Cannot use this file" in found.inner_text()
        # An unusable file cannot be added: the button is off while the check says so.
        wait_until(lambda: page.locator("#upload-import").is_disabled(), 10, f"Add disabled for {name}", page=page)
    shot(page, "data-01-bad-upload")
    assert registry(studio) == before


def test_token_view_shows_trained_and_masked_tokens(page):
    open_tab(page, "Train")
    fill(page, "#field-data-cutoff-len input", "48")  # the Train tab's cutoff is the one the histogram draws
    open_tab(page, "Data")
    # The starting preset trains the quick demo; look at (and later clean) the bigger English demo set.
    page.locator("#inspect-dataset input").click()
    page.locator("#inspect-dataset").get_by_role("option", name="demo_alpaca_en", exact=True).click()
    page.locator("#datasets input").click()
    page.locator("#datasets").get_by_role("option", name="demo_alpaca_en", exact=True).click()
    page.keyboard.press("Escape")
    page.locator("#inspect-show").click()
    counts = page.locator("#token-counts")
    wait_until(lambda: "Row 1 of 135" in counts.inner_text(), 60, "the token view", page=page)
    assert re.search(r"\d+ tokens, \d+ trained, \d+ masked", counts.inner_text())
    legend = page.locator("#token-view .legend-item").all_inner_texts()
    assert [item.strip() for item in legend] == ["trained", "masked (no loss)"]
    element_shot(page, "#token-view", "data-02-token-view")
    # One span per token; the page pads spans with whitespace, so compare without it.
    rendered = re.sub(r"\s+", "", page.locator("#token-view .textfield").text_content())
    assert "<|im_start|>userWhatisFinetuneStudio?<|im_end|>" in rendered


def test_histogram_states_the_truncated_rows(page):
    summary = page.locator("#length-summary")
    wait_until(
        lambda: "would be truncated at the cutoff length of 48" in summary.inner_text(), 30, "the histogram", page=page
    )
    assert re.search(r"\d+ of 135 rows would be truncated", summary.inner_text())
    wait_until(lambda: page.locator("#length-histogram img").count() > 0, 20, "the drawn histogram", page=page)
    # The stats panel updates on its own event: under load it can lag the histogram by a few seconds.
    wait_until(lambda: "135 rows" in page.locator("#dataset-stats").inner_text(), 30, "the dataset stats", page=page)
    element_shot(page, "#length-histogram", "data-03-histogram")
    shot(page, "data-04-inspected")


def test_cleaning_saves_a_new_dataset(page, studio):
    page.locator("#clean-button").click()
    report = page.locator("#clean-report")
    wait_until(lambda: "Removed per reason" in report.inner_text(), 30, "the cleaning report", page=page)
    assert "demo_alpaca_en: 135 rows" in report.inner_text() and "exact duplicate" in report.inner_text()
    name = page.locator("#clean-name input, #clean-name textarea").first
    assert name.input_value() == "demo_alpaca_en_clean"
    page.locator("#clean-save").click()
    wait_until(lambda: "Registered" in page.locator("#clean-message").inner_text(), 20, "the save", page=page)
    assert "demo_alpaca_en_clean" in page.locator("#datasets").inner_text()  # selected for training instead
    page.locator("#datasets input").click()
    assert page.get_by_role("option", name="demo_alpaca_en", exact=True).is_visible()  # the original stays
    page.keyboard.press("Escape")
    shot(page, "data-05-cleaned")
    assert "demo_alpaca_en_clean" in json.loads(registry(studio))


def test_the_section_in_chinese(page):
    page.get_by_text("简体中文", exact=True).click()
    page.get_by_text("像模型一样查看数据").wait_for()
    page.locator("#inspect-show").click()
    wait_until(
        lambda: "行会被截断" in page.locator("#length-summary").inner_text(), 30, "the Chinese sentence", page=page
    )
    wait_until(
        lambda: "第 1 行" in page.locator("#token-counts").inner_text(), 30, "the Chinese token view", page=page
    )
    legend = [item.strip() for item in page.locator("#token-view .legend-item").all_inner_texts()]
    assert legend == ["训练", "屏蔽（不计损失）"]
    page.wait_for_timeout(500)  # the plot's image swaps in after its sentence
    shot(page, "data-06-chinese")
    page.get_by_text("English", exact=True).click()
    page.get_by_role("tab", name="Data", exact=True).wait_for()
