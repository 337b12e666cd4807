"""Vision-language data and chat in a real browser: a zip of conversations and pictures uploaded in the Data
tab (thumbnails shown, the dataset registered with its pictures unpacked into the data folder), then a chat
about a picture with a short LoRA run of the built-in vision model, trained in this process beforehand (12
steps; the app reads runs from disk) as in test_eval_chat_export.py. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import json
import os
import re
import zipfile

import pytest

from tests.e2e.browser import PROJECT, page, studio, open_tab, shot, wait_until  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

PICTURES = sorted((PROJECT / "data" / "demo_vision").glob("demo_vision_heldout-*.png"))[:4]


@pytest.fixture(scope="module")
def vlm_run_name(studio) -> str:
    """A finished LoRA run of builtin:tiny-vlm in the app's saves folder, trained in this process."""
    from engine.runs.events import EventLog
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training
    from tests.test_vision import vlm_config

    config = vlm_config()
    config.data.max_samples, config.train.max_steps = 32, 12
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_SAVES_DIR", str(studio["root"] / "saves"))
        patch.setenv("STUDIO_CACHE_DIR", os.environ["STUDIO_CACHE_DIR"])
        run_dir = create_run(config)
        log = EventLog(run_dir)
        assert run_training(RunContext(config, run_dir, log, lambda: False)) == "completed"
    log.write("status", status="completed")  # what the worker process writes when training returns
    return run_dir.name


def test_upload_a_zip_of_pictures_and_see_their_thumbnails(page, studio, tmp_path):
    upload = tmp_path / "shapes.zip"
    with zipfile.ZipFile(upload, "w") as archive:
        rows = [{"messages": [{"role": "user", "content": "<image>What shape is it?"},
                              {"role": "assistant", "content": f"It is a {path.stem.split('-')[1]}."}],
                 "images": [f"pictures/{path.name}"]} for path in PICTURES]
        archive.writestr("chats.json", json.dumps(rows))
        for path in PICTURES:
            archive.write(path, f"pictures/{path.name}")
    page.goto(studio["url"])
    page.get_by_role("tab", name="Data", exact=True).wait_for()
    page.locator("#upload-file input[type=file]").set_input_files(str(upload))
    found = page.locator("#upload-found")
    wait_until(lambda: "mllm" in found.inner_text(), 30, "the check", page=page)
    thumbnails = page.locator("#upload-thumbnails img")
    wait_until(lambda: thumbnails.count() == 4, 20, "four thumbnails", page=page)
    assert f"row 1: pictures/{PICTURES[0].name}" in page.locator("#upload-thumbnails").inner_text()
    page.locator("#upload-thumbnails").scroll_into_view_if_needed()
    shot(page, "vision-01-zip-thumbnails")
    page.locator("#upload-import").click()
    message = page.locator("#upload-message")
    wait_until(lambda: "Added dataset" in message.inner_text(), 30, "the dataset to be added", page=page)
    assert "shapes/chats.json" in message.inner_text()
    registry = json.loads((studio["root"] / "dataset_info.json").read_text())
    assert registry["shapes"]["file_name"] == "shapes/chats.json"
    assert (studio["root"] / "data" / "shapes" / "pictures" / PICTURES[0].name).is_file()


def test_chat_about_a_picture_with_the_trained_run(page, vlm_run_name):
    open_tab(page, "Chat")
    page.locator("#chat-source input").click()
    page.get_by_role("option", name=re.compile(re.escape(vlm_run_name))).click()
    page.locator("#chat-load").click()
    wait_until(lambda: vlm_run_name in page.locator("#chat-status").inner_text(), 60, "the run to load", page=page)
    page.locator("#chat-images input[type=file]").set_input_files(str(PICTURES[0]))
    attached = page.locator("#chat-images")
    wait_until(lambda: PICTURES[0].name in attached.inner_text(), 30, "the picture to be attached", page=page)
    page.locator("#chat-message textarea").fill("What colour is the shape?")
    page.locator("#chat-send").click()
    replies = page.locator("#chatbot .message.bot, #chatbot [data-testid='bot']")
    toasts = page.locator("[data-testid='toast-body']")
    wait_until(lambda: (replies.count() and replies.last.inner_text().strip()) or toasts.count(), 60, "a reply",
               page=page)
    assert not toasts.count(), toasts.all_inner_texts()
    # The user's message shows the attached picture itself (no `<image>` marker), then the text.
    assert "What colour is the shape?" in page.locator("#chatbot").inner_text()
    assert "<image>" not in page.locator("#chatbot").inner_text()
    drawn = "imgs => imgs.filter(img => img.naturalWidth > 0).map(img => img.alt + ' ' + img.src).join('\\n')"
    wait_until(lambda: PICTURES[0].name in page.locator("#chatbot img").evaluate_all(drawn), 20,
               "the picture in the chat", page=page)
    page.wait_for_timeout(1000)  # let the stream finish drawing for the screenshot
    shot(page, "vision-02-chat-with-picture")
