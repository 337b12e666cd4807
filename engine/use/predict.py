"""Batch generation over a dataset, scored with BLEU-4 / ROUGE, and side-by-side comparison of two models.

Each conversation becomes one task: every message before the last assistant reply is the prompt, that reply
is the label; a conversation with pictures keeps them (a vision model sees them, the rows name them).
Generation is greedy (deterministic, so two models compare fairly), batched with left padding.
Results stream: `stream_predictions` yields after every batch, and the files grow as it goes:

  generated_predictions.jsonl   one {"prompt", "label", "prediction", "scores"} per row, appended per batch
  metrics.json                  the mean scores so far, with "done"/"total" and "complete": false until the end
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

from engine.use.chat import ChatModel, active, vision_inputs
from engine.data.conversion import load_conversations_with_images
from engine.data.split import split_indices
from engine.use.metrics import mean_scores, score_deltas, score_texts
from engine.models.loading import short_name
from engine.paths import saves_dir
from engine.paths import CONFIG_FILE
from engine.data.templates import render_messages

PREDICTIONS_FILE = "generated_predictions.jsonl"
METRICS_FILE = "metrics.json"
SPLITS = ("all", "validation")


# ---------------------------------------------------------------------------------------------------------
# Tasks: prompt messages and the reference reply


def prediction_tasks(
    datasets: list[str], max_samples: int = 0, split: str = "all", seed: int = 42, val_size: float = 0.0
) -> list[dict]:
    """[{"messages": prompt messages, "prompt": the last user text, "label": the reply}] for every conversation,
    plus "images" (file paths, in placeholder order) for one with pictures.

    split="validation" keeps the part a run with this `seed` and `val_size` held out (the same shuffle as
    training; it is the exact held-out set whenever no conversation was dropped as empty at encoding).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    conversations = [pair for name in datasets for pair in load_conversations_with_images(name, max_samples)]
    if split == "validation":
        _, held_out = split_indices(len(conversations), seed, val_size)
        conversations = [conversations[i] for i in held_out]
        if not conversations:
            raise ValueError("the validation split is empty: the run held nothing out (data.val_size is 0)")
    tasks = []
    for messages, images in conversations:
        last = max(i for i, message in enumerate(messages) if message["role"] == "assistant")
        prompt = messages[:last]
        user = next((m["content"] for m in reversed(prompt) if m["role"] == "user"), "")
        tasks.append({"messages": prompt, "prompt": user, "label": messages[last]["content"]})
        if images:
            tasks[-1]["images"] = [str(path) for path in images]
    return tasks


# ---------------------------------------------------------------------------------------------------------
# Generation


def generate_replies(chat: ChatModel, prompts: list[list[dict]], max_new_tokens: int = 128,
                     images: list[list] | None = None) -> list[str]:
    """Greedy replies to a batch of prompt message lists, rendered with the chat's template; `images`: each
    prompt's pictures (a vision model's processor turns them into pixels)."""
    import torch

    side = chat.tokenizer.padding_side
    chat.tokenizer.padding_side = "left"  # a decoder continues from the right edge: pad on the left
    try:
        batch = _prompt_batch(chat, prompts, images or [[] for _ in prompts])
    finally:
        chat.tokenizer.padding_side = side
    batch = batch.to(chat.model.device)
    with active(chat), torch.inference_mode():
        output = chat.model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=chat.stop_token_ids,
            pad_token_id=chat.tokenizer.pad_token_id,
        )
    new_tokens = output[:, batch["input_ids"].shape[1] :]
    return [text.strip() for text in chat.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def _prompt_batch(chat: ChatModel, prompts: list[list[dict]], images: list[list]):
    if chat.processor is not None or any(images):
        return vision_inputs(chat, prompts, images)
    texts = [render_messages(chat.template, chat.tokenizer, messages, add_generation_prompt=True)
             for messages in prompts]
    return chat.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)


def prediction_row(task: dict, reply: str) -> dict:
    """One line of generated_predictions.jsonl; a task with pictures names them."""
    row = {"prompt": task["prompt"], "label": task["label"], "prediction": reply,
           "scores": score_texts(reply, task["label"])}
    if task.get("images"):
        row["images"] = task["images"]
    return row


@dataclass
class PredictionProgress:
    """One step of a streaming prediction: rows so far and their mean scores."""

    done: int
    total: int
    rows: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    complete: bool = False


def stream_predictions(
    chat: ChatModel,
    tasks: list[dict],
    output_dir: Path | None = None,
    max_new_tokens: int = 128,
    batch_size: int = 8,
    stop: threading.Event | None = None,
    extra_metrics: dict | None = None,
) -> Iterator[PredictionProgress]:
    """Generate and score every task, yielding after each batch; with `output_dir`, write the files as it goes.

    A set `stop` event ends it after the current batch; what was done stays on disk with "complete": false.
    """
    stop = stop or threading.Event()
    rows: list[dict] = []
    if output_dir is not None:
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / PREDICTIONS_FILE).write_text("", encoding="utf-8")
    progress = PredictionProgress(0, len(tasks))
    for start in range(0, len(tasks), batch_size):
        if stop.is_set():
            break
        batch = tasks[start : start + batch_size]
        replies = generate_replies(chat, [task["messages"] for task in batch], max_new_tokens,
                                   [task.get("images", []) for task in batch])
        new_rows = [prediction_row(task, reply) for task, reply in zip(batch, replies)]
        rows.extend(new_rows)
        progress = PredictionProgress(
            len(rows), len(tasks), rows, summarize(rows, len(tasks), chat.label, extra_metrics)
        )
        if output_dir is not None:
            _append_rows(output_dir / PREDICTIONS_FILE, new_rows)
            write_metrics(output_dir, progress.metrics)
        yield progress
    progress.complete = progress.metrics["complete"] = len(rows) == len(tasks)
    if output_dir is not None:
        write_metrics(output_dir, progress.metrics)
    yield progress


def summarize(rows: list[dict], total: int, model: str, extra: dict | None = None) -> dict:
    """metrics.json's content: mean scores, how far along, and anything extra (eval loss, dataset names)."""
    return {
        "model": model,
        **mean_scores([row["scores"] for row in rows]),
        **(extra or {}),
        "done": len(rows),
        "total": total,
        "complete": False,
        "updated": datetime.now().isoformat(timespec="seconds"),
    }


def _append_rows(path: Path, rows: list[dict]) -> None:
    with path.open("a", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_metrics(folder: Path, metrics: dict) -> None:
    # Written whole to a side file and renamed over, so a reader polling metrics.json never sees half of it.
    staging = Path(folder) / f".{METRICS_FILE}.tmp"
    staging.write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    staging.replace(Path(folder) / METRICS_FILE)


def read_predictions(folder: Path) -> list[dict]:
    """The rows of a folder's generated_predictions.jsonl (a half-written last line is left out)."""
    path = Path(folder) / PREDICTIONS_FILE
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def read_metrics(folder: Path) -> dict:
    path = Path(folder) / METRICS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def default_output_dir(source: str, datasets: list[str]) -> Path:
    """A run's own folder for a run; saves/<model>/eval/<time>-<datasets>/ for a base model."""
    path = Path(source)
    if (path / CONFIG_FILE).exists():
        return path
    return saves_dir() / short_name(source) / "eval" / f"{datetime.now():%Y%m%d-%H%M%S}-{'+'.join(datasets)}"


# ---------------------------------------------------------------------------------------------------------
# Comparing two models on the same prompts


@dataclass
class Comparison:
    """Two models' predictions row by row: rows hold both replies and both score sets; deltas = b − a."""

    label_a: str
    label_b: str
    rows: list[dict]
    metrics_a: dict
    metrics_b: dict
    deltas: dict
    done: int = 0
    total: int = 0

    def table(self) -> list[list]:
        """Rows for a UI table: prompt, label, reply a, reply b, then ROUGE-L and BLEU-4 of each."""
        return [
            [
                row["prompt"],
                row["label"],
                row["prediction_a"],
                row["prediction_b"],
                row["scores_a"]["rouge-l"],
                row["scores_b"]["rouge-l"],
                row["scores_a"]["bleu-4"],
                row["scores_b"]["bleu-4"],
            ]
            for row in self.rows
        ]

    def table_headers(self) -> list[str]:
        a, b = self.label_a, self.label_b
        return ["prompt", "label", a, b, f"ROUGE-L {a}", f"ROUGE-L {b}", f"BLEU-4 {a}", f"BLEU-4 {b}"]


def compare_predictions(
    rows_a: list[dict], rows_b: list[dict], label_a: str = "a", label_b: str = "b", total: int = 0
) -> Comparison:
    """Pair two prediction lists made from the same tasks (same order) into a Comparison."""
    if [row["prompt"] for row in rows_a[: len(rows_b)]] != [row["prompt"] for row in rows_b[: len(rows_a)]]:
        raise ValueError("the two prediction lists were not made from the same prompts in the same order")
    paired = [
        {
            "prompt": a["prompt"],
            "label": a["label"],
            "prediction_a": a["prediction"],
            "prediction_b": b["prediction"],
            "scores_a": a["scores"],
            "scores_b": b["scores"],
        }
        for a, b in zip(rows_a, rows_b)
    ]
    metrics_a = mean_scores([row["scores_a"] for row in paired])
    metrics_b = mean_scores([row["scores_b"] for row in paired])
    return Comparison(
        label_a,
        label_b,
        paired,
        metrics_a,
        metrics_b,
        score_deltas(metrics_b, metrics_a),
        len(paired),
        total or len(paired),
    )


def stream_comparison(
    chat_a: ChatModel,
    chat_b: ChatModel,
    tasks: list[dict],
    max_new_tokens: int = 128,
    batch_size: int = 8,
    stop: threading.Event | None = None,
) -> Iterator[Comparison]:
    """Both models answer each batch of prompts in turn; yield the growing comparison after every batch."""
    stop = stop or threading.Event()
    rows_a: list[dict] = []
    rows_b: list[dict] = []
    for start in range(0, len(tasks), batch_size):
        if stop.is_set():
            return
        batch = tasks[start : start + batch_size]
        for chat, rows in ((chat_a, rows_a), (chat_b, rows_b)):
            replies = generate_replies(chat, [task["messages"] for task in batch], max_new_tokens,
                                       [task.get("images", []) for task in batch])
            rows.extend(prediction_row(task, reply) for task, reply in zip(batch, replies))
        yield compare_predictions(rows_a, rows_b, chat_a.label, chat_b.label, len(tasks))
