"""engine/data/cleaning.py: each rule removes what it should, counts it, and saving leaves the original untouched."""
import json

import pytest

from engine.data.cleaning import CleanOptions, clean_dataset, normalized_hash
from engine.data.conversion import load_conversations
from engine.data.registry import DataError, read_registry

ROWS = [
    {"instruction": "  What is LoRA?  ", "input": "", "output": " Low-rank adapters. "},
    {"instruction": "What is LoRA?", "input": "", "output": "Same question again."},  # exact duplicate after trimming
    {"instruction": "what is lora", "input": "", "output": "Lower case, no question mark."},  # near duplicate
    {"instruction": "Hi", "input": "", "output": "   "},  # empty response
    {"instruction": "Write an essay.", "input": "", "output": "word " * 400},  # over the token limit
    {"instruction": "Name a colour.", "input": "", "output": "Blue."},
    {"instruction": "Name a number.", "input": "", "output": "Seven."},
    {"instruction": "Name a fruit.", "input": "", "output": "Apple."},
    {"instruction": "Name a city.", "input": "", "output": "Paris."},
    {"instruction": "Give a number.", "input": "", "output": 5},  # invalid: an answer must be text
]


@pytest.fixture
def studio(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "raw.json").write_text(json.dumps(ROWS), encoding="utf-8")
    registry = tmp_path / "dataset_info.json"
    registry.write_text(json.dumps({"raw": {"file_name": "raw.json"}}), encoding="utf-8")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data))
    monkeypatch.setenv("STUDIO_REGISTRY", str(registry))
    return data


def test_counts_removed_per_reason(studio):
    result = clean_dataset("raw", CleanOptions(max_tokens=200))
    assert result.removed == {
        "invalid row": 1,
        "empty or too short": 1,
        "over token limit": 1,
        "exact duplicate": 1,
        "near duplicate": 1,
    }
    assert len(result.train) == 5 and result.total == 10
    assert result.train[0] == {"instruction": "What is LoRA?", "input": "", "output": "Low-rank adapters."}
    assert result.summary().startswith("10 rows: removed 1 invalid row, 1 empty or too short")


def test_thresholds_and_switches(studio):
    result = clean_dataset("raw", CleanOptions(min_response_chars=6, exact_dedup=False, near_dedup=False))
    assert result.removed["exact duplicate"] == result.removed["near duplicate"] == 0
    assert result.removed["empty or too short"] == 2  # "   " and "Blue." (5 characters)


def test_split_is_seeded(studio):
    first = clean_dataset("raw", CleanOptions(validation_ratio=0.4, seed=1))
    again = clean_dataset("raw", CleanOptions(validation_ratio=0.4, seed=1))
    others = [clean_dataset("raw", CleanOptions(validation_ratio=0.4, seed=seed)).validation for seed in range(2, 6)]
    assert len(first.validation) == 2 and len(first.train) == 4
    assert first.validation == again.validation
    assert any(other != first.validation for other in others)


def test_save_as_registers_new_datasets_and_keeps_the_original(studio):
    before = (studio / "raw.json").read_bytes()
    result = clean_dataset("raw", CleanOptions(validation_ratio=0.2))
    assert result.save_as("raw_clean") == ["raw_clean", "raw_clean_validation"]
    registry = read_registry()
    assert registry["raw"] == {"file_name": "raw.json"}
    assert registry["raw_clean"] == {"file_name": "raw_clean.jsonl"}
    assert len(load_conversations("raw_clean")) + len(load_conversations("raw_clean_validation")) == 6
    assert (studio / "raw.json").read_bytes() == before
    with pytest.raises(DataError, match="already registered"):
        result.save_as("raw_clean")
    for bad in ("../outside", "", "a b"):  # the same rule as an upload's name
        with pytest.raises(DataError, match="is not usable"):
            result.save_as(bad)


def test_sharegpt_is_cleaned_in_its_own_format(tmp_path, monkeypatch):
    def turns(question, answer):
        return {"conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]}

    (tmp_path / "chats.json").write_text(
        json.dumps([turns("Hi!", "Hello"), turns("hi", "Hey"), turns("Bye", "See you")]), encoding="utf-8"
    )
    (tmp_path / "info.json").write_text(
        json.dumps({"chats": {"file_name": "chats.json", "formatting": "sharegpt"}}), encoding="utf-8"
    )
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STUDIO_REGISTRY", str(tmp_path / "info.json"))
    result = clean_dataset("chats")
    assert result.removed["near duplicate"] == 1 and len(result.train) == 2
    result.save_as("chats_clean")
    assert read_registry()["chats_clean"]["formatting"] == "sharegpt"
    assert len(load_conversations("chats_clean")) == 2


def test_normalized_hash_ignores_case_spacing_punctuation_and_width():
    assert (
        normalized_hash("What is LoRA?")
        == normalized_hash("what  is lora")
        == normalized_hash("ＷＨＡＴ　ＩＳ　ＬＯＲＡ！")
    )
    assert normalized_hash("你好，世界") == normalized_hash("你好世界")
    assert normalized_hash("What is LoRA?") != normalized_hash("What is QLoRA?")
