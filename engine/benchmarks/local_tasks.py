"""A registered dataset as an lm-evaluation-harness task, so that a user benchmarks on their own questions and
the tests run offline.

Each row is a question (its prompt, the last user turn) and the answer the dataset gives (the last assistant
turn). A row with a `choices` list is multiple-choice (lm-eval scores the log-likelihood of each choice; the
answer must be one of them); without, the question is short-answer (the model generates; exact match after
trimming). The rows go to a JSONL file and a task YAML over it (lm-eval's `json` loader) in the job folder;
lm-eval finds it through TaskManager(include_path=...).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import yaml

from engine.data.conversion import to_messages
from engine.data.reader import read_rows
from engine.data.registry import DataError, dataset_file, get_entry
from engine.messages import say

MAX_ROWS = 2000  # a local task is a quick check; --limit cuts it further
MAX_NEW_TOKENS = 128  # a short answer's length bound

# What lm-eval is told: the question goes into the model's chat template (apply_chat_template) and the choice
# or the reply follows it directly, as in training (no delimiter between them).
MULTIPLE_CHOICE = {
    "output_type": "multiple_choice",
    "doc_to_text": "{{question}}",
    "doc_to_choice": "{{choices}}",
    "doc_to_target": "{{answer}}",
    "target_delimiter": "",
    "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
}
SHORT_ANSWER = {
    "output_type": "generate_until",
    "doc_to_text": "{{question}}",
    "doc_to_target": "{{answer}}",
    "target_delimiter": "",
    "generation_kwargs": {"until": ["\n\n"], "max_gen_toks": MAX_NEW_TOKENS, "do_sample": False},
    "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                     "ignore_case": True, "ignore_punctuation": False}],
}


def task_name(dataset: str) -> str:
    """lm-eval's name for a dataset's task: studio_<name> where the name is plain ASCII, else a digest of it
    (a dataset may be called 星湾岛问答; lm-eval's names are file-like)."""
    if re.fullmatch(r"[A-Za-z0-9_\-]+", dataset):
        return f"studio_{dataset}"
    return f"studio_{hashlib.sha1(dataset.encode('utf-8')).hexdigest()[:10]}"


def task_documents(dataset: str) -> list[dict]:
    """The dataset's rows as lm-eval documents: {"question", "answer"} (+ "choices", answer = its index)."""
    entry = get_entry(dataset)
    rows = read_rows(dataset_file(entry))[:MAX_ROWS]
    if not rows:
        raise DataError(say("bench.local_empty", dataset=dataset))
    return [_document(dataset, entry, row, number) for number, row in enumerate(rows, start=1)]


def _document(dataset: str, entry, row: dict, number: int) -> dict:
    messages = to_messages(entry, row, number)
    question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    answer = messages[-1]["content"] if messages[-1]["role"] == "assistant" else ""
    choices = row.get("choices")
    if choices is None:
        return {"question": question, "answer": answer}
    if not isinstance(choices, list) or len(choices) < 2 or answer not in choices:
        raise DataError(say("bench.local_bad_choices", dataset=dataset, row=number))
    return {"question": question, "choices": [str(choice) for choice in choices], "answer": choices.index(answer)}


def write_task(dataset: str, folder: Path) -> str:
    """Write the dataset's task (rows as JSONL + its YAML) into `folder`; returns the lm-eval task name."""
    documents = task_documents(dataset)
    name = task_name(dataset)
    folder.mkdir(parents=True, exist_ok=True)
    rows_path = folder / f"{name}.jsonl"
    rows_path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents), encoding="utf-8")
    kind = MULTIPLE_CHOICE if all("choices" in d for d in documents) else SHORT_ANSWER
    config = {"task": name, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(rows_path)}},
              "test_split": "test", **kind, "metadata": {"version": 1.0, "dataset": dataset}}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False),
                                         encoding="utf-8")
    return name
