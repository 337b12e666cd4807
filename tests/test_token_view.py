"""engine/data/token_view.py: the token view uses training's masking; histogram and stats of registered datasets."""
import io
import json
import shutil
import tracemalloc
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from engine.data.conversion import conversation_at
from engine.data.encoding import encode_conversations
from engine.data.templates import load_template
from engine.data.token_view import dataset_stats, detect_language, length_histogram, token_view

PROJECT = Path(__file__).resolve().parent.parent
GOOD = Path(__file__).parent / "data" / "good"
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! 你好"},
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "4"},
]


def make_tokenizer():
    """A real byte-level BPE tokenizer trained in a blink, with ChatML specials (like the built-in model)."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    core.train_from_iterator(["Hello there, how are you? Be brief. 你好 世界"] * 20, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = load_template("chatml").source
    return tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def test_pieces_join_to_the_render_and_match_training_labels(tokenizer):
    template = load_template("chatml")
    view = token_view(CONVERSATION, template, tokenizer)
    rendered = tokenizer.apply_chat_template(CONVERSATION, chat_template=template.source, tokenize=False)
    assert "".join(text for text, _ in view) == rendered
    examples, _ = encode_conversations([CONVERSATION], template, tokenizer, 10_000)
    assert [trained for _, trained in view] == [label != -100 for label in examples[0]["labels"]]
    trained_text = "".join(text for text, trained in view if trained)
    assert trained_text == "Hello! 你好<|im_end|>4<|im_end|>"  # replies and their end marker only


def test_train_on_prompt_trains_everything(tokenizer):
    view = token_view(CONVERSATION, "chatml", tokenizer, train_on_prompt=True)
    assert all(trained for _, trained in view)


@pytest.fixture
def registry(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(GOOD, data)
    entries = {
        "alpaca": {"file_name": "alpaca.json"},
        "sharegpt": {
            "file_name": "sharegpt.json",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system"},
        },
        "text": {"file_name": "text.txt", "columns": {"prompt": "text"}},
        "preference": {
            "file_name": "preference.json",
            "ranking": True,
            "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"},
        },
    }
    (tmp_path / "dataset_info.json").write_text(json.dumps(entries), encoding="utf-8")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data))
    monkeypatch.setenv("STUDIO_REGISTRY", str(tmp_path / "dataset_info.json"))


def test_length_histogram_counts_truncated_rows(registry, tokenizer):
    figure, stats = length_histogram("sharegpt", "chatml", tokenizer, cutoff_len=30)
    assert stats["rows"] == 2
    assert stats["summary"] == f"{stats['truncated']} of 2 rows would be truncated at cutoff 30"
    assert 0 < stats["truncated"] <= 2 and stats["max"] > 30
    axes = figure.axes[0]
    assert [line.get_xdata()[0] for line in axes.get_lines()] == [30]  # the cutoff line
    figure.savefig(io.BytesIO(), format="png")  # renders headless


def test_length_histogram_of_plain_text(registry, tokenizer):
    _, stats = length_histogram("text", "chatml", tokenizer, cutoff_len=10_000)
    assert stats["rows"] == 3 and stats["truncated"] == 0


def test_dataset_stats(registry):
    stats = dataset_stats("sharegpt")
    assert stats["rows"] == 2
    assert stats["turns"] == {"min": 1, "mean": 1.5, "max": 2}
    assert stats["languages"] == {"en": 1, "zh": 1}
    assert stats["average_response_chars"] > 0
    assert dataset_stats("alpaca")["languages"] == {"en": 2, "zh": 1}
    assert dataset_stats("text")["rows"] == 3
    assert dataset_stats("preference")["rows"] == 2


def test_one_row_and_the_stats_hold_one_row_at_a_time(registry, tmp_path):
    """A 4 MB JSONL of 2,000 rows: the view of one row and the stats stay under 0.5 MB of peak Python
    allocations (the rows held as a list take over 4 MB), and give what the whole list would."""
    rows = [{"instruction": f"Question {number}?", "output": f"{number} " + "x" * 2000} for number in range(1, 2_001)]
    (tmp_path / "data" / "big.jsonl").write_text("\n".join(map(json.dumps, rows)), encoding="utf-8")
    registry_file = tmp_path / "dataset_info.json"
    entries = json.loads(registry_file.read_text(encoding="utf-8"))
    registry_file.write_text(json.dumps({**entries, "big": {"file_name": "big.jsonl"}}), encoding="utf-8")

    tracemalloc.start()
    try:
        messages, number, total = conversation_at("big", 2)
        _, view_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        stats = dataset_stats("big")
        _, stats_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (number, total) == (2, 2_000) and messages[-1]["content"] == rows[1]["output"]
    assert stats["rows"] == 2_000 and stats["turns"] == {"min": 1, "mean": 1.0, "max": 1}
    assert stats["average_response_chars"] == pytest.approx(sum(len(row["output"]) for row in rows) / 2_000, abs=0.1)
    assert view_peak < 512 * 1024 and stats_peak < 512 * 1024, (view_peak, stats_peak)
    assert conversation_at("alpaca", 999)[1:] == (3, 3)  # past the end: the last row, as before


@pytest.mark.parametrize(
    "text, language",
    [("Hello world", "en"), ("你好，世界", "zh"), ("Finetune Studio 是一个工作台", "zh"), ("1234 !?", "other")],
)
def test_detect_language_by_script(text, language):
    assert detect_language(text) == language
