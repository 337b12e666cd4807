"""Uploading a dataset with its pictures as a zip (or a folder): bounded unpacking, checks, registration."""
import json
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

import engine.data.archives as archives
from engine.data.conversion import load_vision_samples
from engine.data.images import rebase_images
from engine.data.registry import DataError, read_registry
from engine.data.uploads import import_dataset, preview_file

PROJECT = Path(__file__).resolve().parent.parent
PICTURES = sorted((PROJECT / "data" / "demo_vision").glob("demo_vision_heldout-*.png"))[:4]


@pytest.fixture
def studio(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    registry = tmp_path / "dataset_info.json"
    registry.write_text("{}", encoding="utf-8")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data))
    monkeypatch.setenv("STUDIO_REGISTRY", str(registry))
    return data


def rows(folder: str = "pictures") -> list[dict]:
    """mllm rows about the demo pictures; the last one in OpenAI content parts."""
    made = [{"messages": [{"role": "user", "content": "<image>What shape is it?"},
                          {"role": "assistant", "content": f"It is a {path.stem.split('-')[1]}."}],
             "images": [f"{folder}/{path.name}"]} for path in PICTURES[:-1]]
    made.append({"messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"{folder}/{PICTURES[-1].name}"}},
                                     {"type": "text", "text": "Describe the picture."}]},
        {"role": "assistant", "content": "A shape."}], "images": []})
    return made


def vision_zip(path: Path, data: list[dict] | None = None, extra: dict | None = None) -> Path:
    """A zip as a person would make it: chats.json at the top, the pictures in pictures/."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("chats.json", json.dumps(rows() if data is None else data))
        for picture in PICTURES:
            archive.write(picture, f"pictures/{picture.name}")
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return path


def test_a_zip_of_conversations_and_pictures_imports_and_loads(studio, tmp_path):
    upload = vision_zip(tmp_path / "shapes.zip")
    preview = preview_file(upload)
    assert preview.report.ok and preview.detection.formatting == "mllm" and len(preview.rows) == 4
    assert [caption for _, caption in preview.thumbnails] == [
        f"row {n}: pictures/{p.name}" for n, p in enumerate(PICTURES, 1)]
    assert max(preview.thumbnails[0][0].size) <= 96
    result = import_dataset(upload, "shapes")
    assert result.file_name == "shapes/chats.json" and read_registry()["shapes"]["columns"]["images"] == "images"
    samples = load_vision_samples("shapes")
    assert [s.images[0] for s in samples] == [studio / "shapes" / "pictures" / p.name for p in PICTURES]
    assert samples[-1].messages[0]["content"] == "<image>Describe the picture."  # the content part's picture
    again = import_dataset(upload, "shapes-again")  # a second upload of the same zip gets its own folder
    assert again.file_name == "shapes-2/chats.json"


def test_a_folder_imports_like_a_zip_and_its_symlinks_are_refused(studio, tmp_path):
    folder = tmp_path / "upload"
    (folder / "pictures").mkdir(parents=True)
    (folder / "chats.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows()))
    for picture in PICTURES:
        shutil.copy(picture, folder / "pictures" / picture.name)
    assert import_dataset(folder, "from-folder").rows == 4
    assert "pictures" in json.loads((studio / "upload" / "chats.jsonl").read_text().splitlines()[0])["images"][0]
    (folder / "pictures" / "secret.png").symlink_to("/etc/hostname")
    with pytest.raises(DataError, match="entry pictures/secret.png is a link"):
        import_dataset(folder, "linked")
    assert sorted(p.name for p in studio.iterdir()) == ["upload"]


def _zip_with(path: Path, *entries) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("chats.json", json.dumps(rows()))
        for picture in PICTURES:
            archive.write(picture, f"pictures/{picture.name}")
        for info, content in entries:
            archive.writestr(info, content)
    return path


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("entries, limits, expected", [
    ([("../evil.txt", "x")], {}, "entry ../evil.txt would be written outside"),
    ([("/etc/evil.txt", "x")], {}, "entry /etc/evil.txt would be written outside"),
    ([(_symlink("pictures/link.png"), "/etc/passwd")], {}, "entry pictures/link.png is a link"),
    ([("zeros.bin", b"\0" * (3 * 1024**2))], {}, "entry zeros.bin would inflate"),
    ([], {"MAX_ENTRIES": 3}, "holds 5 entries; at most 3"),
    ([], {"MAX_UNPACKED_BYTES": 500}, "unpacks to more than 0 MB"),
    ([("more.jsonl", "{}")], {}, "several dataset files (chats.json, more.jsonl)"),
])
def test_a_bad_archive_is_refused_naming_the_entry(studio, tmp_path, monkeypatch, entries, limits, expected):
    for name, value in limits.items():
        monkeypatch.setattr(archives, name, value)
    upload = _zip_with(tmp_path / "bad.zip", *entries)
    preview = preview_file(upload)
    assert not preview.report.ok and expected in preview.report.render()
    with pytest.raises(DataError, match="refused|at most|more than|several"):
        import_dataset(upload, "bad")
    assert "bad" not in read_registry() and not list(studio.iterdir())  # nothing left behind or registered


def test_a_picture_the_rows_name_but_the_zip_lacks_is_a_row_problem(studio, tmp_path):
    data = rows()
    data[1]["images"] = ["pictures/missing.png"]
    upload = vision_zip(tmp_path / "holes.zip", data)
    assert "row 2, field 'images': image missing.png was not found" in preview_file(upload).report.render()
    with pytest.raises(DataError, match="missing.png"):
        import_dataset(upload, "holes")
    assert not list(studio.iterdir())


def test_rebasing_moves_every_image_path_and_nothing_else():
    row = rows("p")[-1] | {"images": "p/a.png"}
    moved = rebase_images(row, "messages", "content", "images", "up")
    assert moved["images"] == "up/p/a.png"
    assert moved["messages"][0]["content"][0]["image_url"]["url"] == f"up/p/{PICTURES[-1].name}"
    assert moved["messages"][0]["content"][1] == row["messages"][0]["content"][1]
    assert moved["messages"][1] == row["messages"][1]
