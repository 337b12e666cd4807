"""Prompt masking, checked token by token against hand-written renders.

For each case the expected text is written out in full, split into the pieces the model must not learn
(prompts, template markup) and the pieces it must learn (each reply and its end-of-turn marker). The
trained positions must be exactly the tokens of the learned pieces, in place.
"""
import pytest

from engine.data.conversion import to_messages
from engine.data.registry import DatasetEntry
from engine.data.encoding import IGNORE, encode_conversations
from engine.data.templates import load_template

ALPACA_ROW = {"instruction": "What is LoRA?", "input": "Answer briefly.", "output": "A small trainable adapter."}
SHAREGPT_ROW = {
    "conversations": [
        {"from": "human", "value": "Hi there"},
        {"from": "gpt", "value": "Hello! How can I help?"},
        {"from": "human", "value": "学习率是什么？"},
        {"from": "gpt", "value": "学习率决定每一步更新的大小。"},
    ]
}
ALPACA_PREAMBLE = (
    "<s>Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
)

# (template, row) -> list of (text, trained?) pieces whose concatenation is the whole render.
GOLDEN = {
    ("chatml", "alpaca"): [
        ("<|im_start|>user\nWhat is LoRA?\nAnswer briefly.<|im_end|>\n<|im_start|>assistant\n", False),
        ("A small trainable adapter.<|im_end|>", True),
        ("\n", False),
    ],
    ("chatml", "sharegpt"): [
        ("<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n", False),
        ("Hello! How can I help?<|im_end|>", True),
        ("\n<|im_start|>user\n学习率是什么？<|im_end|>\n<|im_start|>assistant\n", False),
        ("学习率决定每一步更新的大小。<|im_end|>", True),
        ("\n", False),
    ],
    ("alpaca", "alpaca"): [
        (ALPACA_PREAMBLE + "### Instruction:\nWhat is LoRA?\nAnswer briefly.\n\n### Response:\n", False),
        ("A small trainable adapter.<|im_end|>", True),
    ],
    ("alpaca", "sharegpt"): [
        (ALPACA_PREAMBLE + "### Instruction:\nHi there\n\n### Response:\n", False),
        ("Hello! How can I help?<|im_end|>", True),
        ("\n\n### Instruction:\n学习率是什么？\n\n### Response:\n", False),
        ("学习率决定每一步更新的大小。<|im_end|>", True),
    ],
}


def _messages(kind):
    if kind == "alpaca":
        return to_messages(DatasetEntry("golden", "x.json"), ALPACA_ROW, 1)
    entry = DatasetEntry("golden", "x.json", formatting="sharegpt")
    return to_messages(entry, SHAREGPT_ROW, 1)


@pytest.mark.parametrize("template_name,row_kind", sorted(GOLDEN))
def test_only_replies_are_trained(tiny_tokenizer, template_name, row_kind):
    pieces = GOLDEN[(template_name, row_kind)]
    (example,), stats = encode_conversations(
        [_messages(row_kind)], load_template(template_name), tiny_tokenizer, cutoff_len=1024
    )
    expected_ids, expected_trained = [], []
    for text, trained in pieces:
        ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
        expected_trained += list(range(len(expected_ids), len(expected_ids) + len(ids))) if trained else []
        expected_ids += ids
    assert example["input_ids"] == expected_ids  # the render is exactly the hand-written text
    trained_positions = [i for i, label in enumerate(example["labels"]) if label != IGNORE]
    assert trained_positions == expected_trained
    assert all(example["labels"][i] == example["input_ids"][i] for i in trained_positions)
    assert stats.trained_tokens == len(expected_trained) and stats.truncated == 0


def test_train_on_prompt_trains_every_token(tiny_tokenizer):
    (example,), _ = encode_conversations(
        [_messages("sharegpt")], load_template("chatml"), tiny_tokenizer, cutoff_len=1024, train_on_prompt=True
    )
    assert example["labels"] == example["input_ids"]


def test_truncation_is_counted_and_empty_examples_dropped(tiny_tokenizer):
    conversations = [_messages("alpaca"), _messages("sharegpt")]
    prompt_tokens = len(tiny_tokenizer(GOLDEN[("chatml", "alpaca")][0][0], add_special_tokens=False)["input_ids"])
    # Cut inside the first prompt: the alpaca row keeps no reply token and is dropped; the sharegpt row is cut.
    examples, stats = encode_conversations(conversations, load_template("chatml"), tiny_tokenizer,
                                           cutoff_len=prompt_tokens - 2)
    assert stats.truncated == 2 and stats.dropped_empty == 1 and stats.examples == 1
    assert len(examples[0]["input_ids"]) == prompt_tokens - 2


def test_the_encoding_cache_entry_appears_whole(tiny_tokenizer, tmp_path, monkeypatch):
    """Written aside and renamed into place: the ranks of a multi-process run encode at the same time, and
    none may read another's half-written entry."""
    from engine.data.encoding import encode_dataset

    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path))
    template = load_template("auto", tiny_tokenizer)
    first, summary = encode_dataset("demo_alpaca_en", template, tiny_tokenizer, 64, False, 8)
    (entry,) = (tmp_path / "encoded").iterdir()  # no staging folder left beside it
    assert (entry / "summary.json").exists() and not entry.name.startswith(".")
    (entry / "summary.json").unlink()  # as a process killed mid-write before entries were renamed left it
    again, summary_again = encode_dataset("demo_alpaca_en", template, tiny_tokenizer, 64, False, 8)
    assert again["input_ids"] == first["input_ids"] and summary_again == summary
    assert [p.name for p in (tmp_path / "encoded").iterdir()] == [entry.name]
