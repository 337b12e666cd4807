"""Vision-language data in a real browser: a zip of conversations and pictures uploaded in the Data tab
(thumbnails shown, the dataset registered with its pictures unpacked into the data folder). Screenshots go to
test-artifacts/.
"""
from __future__ import annotations

import json
import zipfile

import pytest

from tests.e2e.browser import PROJECT, page, studio, shot, wait_until  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

PICTURES = sorted((PROJECT / "data" / "demo_vision").glob("demo_vision_heldout-*.png"))[:4]


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
