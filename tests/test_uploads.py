"""engine/data/uploads.py: importing checks first, never overwrites, registers atomically or not at all."""
import json
from pathlib import Path

import pytest

import engine.data.uploads as uploads
from engine.data.conversion import load_conversations
from engine.data.registry import DataError, read_registry
from engine.data.uploads import import_dataset, preview_file

DATA = Path(__file__).parent / "data"
GOOD, BAD = DATA / "good", DATA / "bad"


@pytest.fixture
def studio(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    registry = tmp_path / "dataset_info.json"
    registry.write_text(json.dumps({"existing": {"file_name": "existing.json"}}), encoding="utf-8")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data))
    monkeypatch.setenv("STUDIO_REGISTRY", str(registry))
    return data, registry


@pytest.mark.parametrize("name", sorted(path.name for path in GOOD.iterdir()))
def test_good_files_import(studio, name):
    data, registry = studio
    result = import_dataset(GOOD / name, "mine")
    assert (data / result.file_name).read_bytes() == (GOOD / name).read_bytes()
    assert read_registry()["mine"]["file_name"] == result.file_name
    assert result.rows > 0 and 0 < len(result.preview) <= 5
    json.loads(registry.read_text(encoding="utf-8"))  # still valid JSON


def test_imported_sharegpt_trains(studio):
    import_dataset(GOOD / "sharegpt.json", "chats")
    assert load_conversations("chats")[1] == [
        {"role": "user", "content": "你好"},
        {"role": "assistant", "content": "你好！"},
    ]


def test_existing_file_is_never_overwritten(studio):
    data, _ = studio
    (data / "alpaca.json").write_text("precious", encoding="utf-8")
    result = import_dataset(GOOD / "alpaca.json", "second")
    assert result.file_name == "alpaca-2.json"
    assert (data / "alpaca.json").read_text(encoding="utf-8") == "precious"


def test_existing_name_is_refused(studio):
    data, registry = studio
    before = registry.read_bytes()
    with pytest.raises(DataError, match="'existing' is already registered"):
        import_dataset(GOOD / "alpaca.json", "existing")
    assert registry.read_bytes() == before and not list(data.iterdir())


@pytest.mark.parametrize("bad", ["latin1.json", "mixed_formats.jsonl", "csv_broken_quoting.csv", "empty.json"])
def test_bad_file_registers_nothing_and_says_why(studio, bad):
    data, registry = studio
    before = registry.read_bytes()
    with pytest.raises(DataError) as raised:
        import_dataset(BAD / bad, "broken")
    assert "nothing was registered" in str(raised.value) and "not usable" in str(raised.value)
    assert registry.read_bytes() == before and not list(data.iterdir())


@pytest.mark.parametrize(
    "name",
    ["", "../evil", "a/b", "a\\b", ".hidden", "..", "x" * 101, "tab\there", "星湾/岛", "CON", "nul.json", "问答\x00"],
)
def test_unsafe_names_are_refused(studio, name):
    with pytest.raises(DataError, match="dataset name .* is not usable \\(the file is fine\\)"):
        import_dataset(GOOD / "alpaca.json", name)


def test_a_chinese_file_and_dataset_name_round_trip(studio, tmp_path):
    """星湾岛问答.json registers as 星湾岛问答, is stored under its own name, and trains from there."""
    from engine.paths import nearest_plain_name
    from webui.tabs.data import suggest_name

    data, _ = studio
    source = DATA / "星湾岛问答.json"
    assert suggest_name(str(source)) == "星湾岛问答"
    result = import_dataset(source, "星湾岛问答")
    assert result.file_name == "星湾岛问答.json" and (data / "星湾岛问答.json").read_bytes() == source.read_bytes()
    assert read_registry()["星湾岛问答"]["file_name"] == "星湾岛问答.json"
    assert load_conversations("星湾岛问答")[0][0]["content"] == "星湾岛在哪里？"
    assert import_dataset(source, "星湾岛问答_2").file_name == "星湾岛问答-2.json"
    assert nearest_plain_name("我的 数据/集", "dataset") == "我的_数据_集"
    assert nearest_plain_name("..///", "dataset") == "dataset"


def test_the_name_refusal_speaks_the_pages_language(studio):
    from webui.i18n import localize

    with pytest.raises(DataError) as raised:
        import_dataset(GOOD / "alpaca.json", "a/b")
    assert "数据集名称 'a/b' 不可用（文件本身没有问题）" in localize(raised.value.args[0], "zh")


def test_run_names_accept_chinese_letters():
    from engine.config.schema import RunConfig, field_problems as validate

    config = RunConfig()
    for name, usable in [("星湾岛-第1次", True), ("run.v2", True), ("../x", False), ("a b", False), ("-x", False)]:
        config.train.run_name = name
        assert (not any("run_name" in p for p in validate(config))) == usable, name


def test_size_limit_is_checked_before_reading(studio, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 10)
    with pytest.raises(DataError, match="uploads are limited to"):
        import_dataset(GOOD / "alpaca.json", "big")


def test_columns_override_maps_unusual_names(studio, tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"q": "Why?", "a": "Because."}) + "\n", encoding="utf-8")
    result = import_dataset(path, "qa", formatting="alpaca", columns={"prompt": "q", "response": "a"})
    assert read_registry()["qa"]["columns"] == {"prompt": "q", "response": "a"}
    assert load_conversations("qa") == [
        [{"role": "user", "content": "Why?"}, {"role": "assistant", "content": "Because."}]
    ]
    assert result.detection.formatting == "alpaca"


def test_preview_shows_rows_detection_and_report():
    good = preview_file(GOOD / "openai.jsonl")
    assert good.detection.formatting == "openai" and good.report.ok and good.thumbnails == []
    assert list(good.rows.columns) == ["messages"] and good.rows.iloc[0, 0].startswith('[{"role": "system"')
    bad = preview_file(BAD / "empty.json")
    assert bad.detection is None and bad.rows.empty and not bad.report.ok


def test_failed_registry_write_removes_the_copy(studio, monkeypatch):
    data, registry = studio

    def fail(name, entry):
        raise OSError("disk full")

    monkeypatch.setattr(uploads, "add_registry_entry", fail)
    with pytest.raises(OSError):
        import_dataset(GOOD / "alpaca.json", "doomed")
    assert not list(data.iterdir())
    assert "doomed" not in json.loads(registry.read_text(encoding="utf-8"))
