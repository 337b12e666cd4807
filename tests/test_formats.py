"""engine/data/formats.py: detection labels, confidence, reasons, and registry entries that the registry loads."""

import json
import shutil
from pathlib import Path

import pytest

from engine.data.conversion import load_conversations, load_kto_examples, load_preference_pairs, load_texts
from engine.data.reader import read_rows
from engine.data.formats import detect_format

GOOD = Path(__file__).parent / "data" / "good"
ALPACA = {"instruction": "Say hi", "input": "", "output": "Hi"}
SHAREGPT = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}


def test_majority_wins_and_the_reason_counts_rows():
    detection = detect_format([ALPACA] * 92 + [SHAREGPT] * 8)
    assert detection.formatting == "alpaca"
    assert detection.confidence == pytest.approx(0.92)
    assert detection.reason == "92 of 100 rows have instruction/output; looks like alpaca (8 look like sharegpt)"


def test_forced_format_is_kept_with_its_fit():
    detection = detect_format([ALPACA, SHAREGPT], formatting="sharegpt")
    assert detection.formatting == "sharegpt" and detection.confidence == 0.5
    assert detection.reason.startswith("format set to sharegpt; 1 of 2 rows")


def test_unknown_columns_are_named():
    detection = detect_format([{"foo": 1}])
    assert detection.formatting == "unknown" and detection.confidence == 0
    assert "columns seen: foo" in detection.reason


def test_unusual_column_names_are_mapped():
    detection = detect_format([{"question": "Why?", "answer": "Because."}])
    assert detection.formatting == "alpaca"
    assert detection.columns == {"prompt": "question", "response": "answer"}


def test_sharegpt_with_openai_role_names_gets_matching_tags():
    row = {"conversations": [{"from": "user", "value": "Hi"}, {"from": "assistant", "value": "Hello"}]}
    assert detect_format([row]).tags["user_tag"] == "user"


EXPECTED_ENTRIES = {
    "alpaca.json": {"columns": {"prompt": "instruction", "query": "input", "response": "output"}},
    "alpaca.jsonl": {
        "columns": {
            "prompt": "instruction",
            "query": "input",
            "response": "output",
            "system": "system",
            "history": "history",
        }
    },
    "sharegpt.json": {
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system"},
        "tags": {
            "role_tag": "from",
            "content_tag": "value",
            "user_tag": "human",
            "assistant_tag": "gpt",
            "system_tag": "system",
        },
    },
    "openai.jsonl": {
        "formatting": "sharegpt",
        "columns": {"messages": "messages"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
        },
    },
    "preference.json": {
        "ranking": True,
        "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"},
    },
    "preference_sharegpt.json": {
        "formatting": "sharegpt",
        "ranking": True,
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"},
        "tags": {
            "role_tag": "from",
            "content_tag": "value",
            "user_tag": "human",
            "assistant_tag": "gpt",
            "system_tag": "system",
        },
    },
    "kto.jsonl": {
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "kto_tag": "label"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
        },
    },
    "text.txt": {"columns": {"prompt": "text"}},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_ENTRIES))
def test_registry_entry_is_llama_factory_schema(name):
    entry = detect_format(read_rows(GOOD / name)).registry_entry(name)
    assert entry == {"file_name": name, **EXPECTED_ENTRIES[name]}


@pytest.fixture
def registered_good_files(tmp_path, monkeypatch):
    """Every good file registered with the entry detection wrote for it."""
    shutil.copytree(GOOD, tmp_path / "data")
    entries = {
        path.stem + path.suffix.replace(".", "_"): detect_format(read_rows(path)).registry_entry(path.name)
        for path in GOOD.iterdir()
    }
    (tmp_path / "dataset_info.json").write_text(json.dumps(entries), encoding="utf-8")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STUDIO_REGISTRY", str(tmp_path / "dataset_info.json"))


def test_every_good_format_round_trips_into_training_data(registered_good_files):
    """SFT formats become messages; preference, KTO and text load into their own structures."""
    assert load_conversations("alpaca_json")[2][-1] == {"role": "assistant", "content": "你好！"}
    history = load_conversations("alpaca_jsonl")[0]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert load_conversations("alpaca_csv")[2][-1]["content"] == "42"
    assert load_conversations("sharegpt_json")[0][0] == {"role": "system", "content": "You are friendly."}
    assert load_conversations("openai_jsonl")[1][-1]["content"] == "4"
    pair = load_preference_pairs("preference_sharegpt_json")[0]
    assert pair == {
        "prompt": [{"role": "user", "content": "Greet me"}],
        "chosen": "Hello, nice to meet you!",
        "rejected": "What do you want?",
    }
    assert load_preference_pairs("preference_json")[1]["rejected"] == "5"
    assert [example["label"] for example in load_kto_examples("kto_jsonl")] == [True, False]
    assert load_texts("text_txt") == [
        "The first document is about fine-tuning.\nIt has two lines.",
        "第二篇文档是中文的。",
        "The third document.",
    ]


def test_text_without_blank_lines_is_one_document_per_line(tmp_path):
    (tmp_path / "lines.txt").write_text("one\ntwo\n\nthree\n".replace("\n\n", "\n"), encoding="utf-8")
    assert read_rows(tmp_path / "lines.txt") == [{"text": "one"}, {"text": "two"}, {"text": "three"}]
