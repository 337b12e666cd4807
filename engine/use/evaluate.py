"""Evaluation: loss and perplexity of a base model or a trained run on registered datasets, and the full
evaluation that the Evaluate tab and `python -m engine eval` run (loss, then scored generation, streamed).

The loss is the mean over every trained (assistant) token of the dataset, so batches with long replies
weigh more than short ones, exactly as if the whole set were one batch; perplexity = exp(loss). Conversations
with pictures are encoded as vision training encodes them (each picture its masked vision tokens) and the model
reads their pixels.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from engine.use.chat import ChatModel, active, load_base_for_chat, load_run_for_chat
from engine.config.schema import ModelConfig, RunConfig
from engine.data.conversion import load_conversations_with_images
from engine.data.encoding import IGNORE, encode_conversations
from engine.data.images import VisionSample
from engine.data.registry import using_dataset_dir
from engine.messages import say
from engine.use.predict import (
    PredictionProgress,
    default_output_dir,
    prediction_tasks,
    stream_predictions,
    summarize,
    write_metrics,
)
from engine.paths import CONFIG_FILE


def load_source(source: str) -> ChatModel:
    """A run directory (its trained result) or a base model name / folder."""
    path = Path(source)
    if (path / CONFIG_FILE).exists():
        return load_run_for_chat(path)
    return load_base_for_chat(ModelConfig(name_or_path=source))


def evaluate_loss(
    source: str,
    dataset: str | list[str],
    cutoff_len: int = 512,
    max_samples: int = 0,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """{"eval_loss", "perplexity", "examples", "tokens"} of `source` on registered dataset(s) `dataset`."""
    names = [dataset] if isinstance(dataset, str) else list(dataset)
    pairs = [pair for name in names for pair in load_conversations_with_images(name, max_samples)]
    return measure_loss(load_source(source), [messages for messages, _ in pairs], cutoff_len, batch_size, progress,
                        [images for _, images in pairs])


def measure_loss(
    loaded: ChatModel,
    conversations: list[list[dict]],
    cutoff_len: int = 512,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
    images: list[list] | None = None,
) -> dict:
    """Loss and perplexity of an already loaded model on conversations (message lists); `images`: each
    conversation's pictures (paths), for a vision model."""
    import torch

    examples, collate = _encoded(loaded, conversations, cutoff_len, images)
    total_loss, total_tokens = 0.0, 0
    with active(loaded), torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            collated = collate(examples[start : start + batch_size])
            batch = {key: value.to(loaded.model.device) for key, value in collated.items()}
            logits = loaded.model(**{key: value for key, value in batch.items() if key != "labels"}).logits
            # Shift so that position t predicts token t+1, as the model's own loss does.
            targets = batch["labels"][:, 1:]
            losses = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().transpose(1, 2), targets, ignore_index=IGNORE, reduction="sum"
            )
            total_loss += losses.item()
            total_tokens += int((targets != IGNORE).sum())
            if progress:
                progress(min(start + batch_size, len(examples)), len(examples))
    loss = total_loss / max(total_tokens, 1)
    return {
        "eval_loss": loss,
        "perplexity": math.exp(min(loss, 50.0)),
        "examples": len(examples),
        "tokens": total_tokens,
    }


def _encoded(loaded: ChatModel, conversations: list[list[dict]], cutoff_len: int, images: list[list] | None):
    """(examples, collator): text as text training encodes it; with pictures, as vision training does."""
    from transformers import DataCollatorForSeq2Seq

    if not any(images or []):
        examples, _ = encode_conversations(conversations, loaded.template, loaded.tokenizer, cutoff_len)
        return examples, DataCollatorForSeq2Seq(loaded.tokenizer, padding=True, label_pad_token_id=IGNORE)
    if loaded.processor is None:
        raise ValueError(say("chat.images_need_vision_model", model=loaded.label))
    from engine.data.vision_encoding import VisionCollator, encode_vision_samples

    samples = [VisionSample(messages, [Path(path) for path in pictures])
               for messages, pictures in zip(conversations, images)]
    examples, _ = encode_vision_samples(samples, loaded.template, loaded.processor, cutoff_len)
    return examples, VisionCollator(loaded.processor)


# ---------------------------------------------------------------------------------------------------------
# The whole evaluation: loss, then scored generation


@dataclass
class EvalPlan:
    """What to evaluate; a run's own config fills what is left empty (its datasets, cutoff, split seed)."""

    source: str  # a run directory, or a base model name / folder
    datasets: tuple[str, ...] = ()
    max_samples: int = 0
    split: str = "all"  # all | validation (a run's held-out part)
    generate: bool = True
    max_new_tokens: int = 128
    batch_size: int = 8
    cutoff_len: int = 0  # 0 = the run's cutoff_len, or 512 for a base model
    output_dir: str = ""  # empty = the run directory (saves/<model>/eval/<time>-<datasets>/ for a base model)


def resolve_plan(plan: EvalPlan) -> tuple[list[str], int, dict, Path]:
    """(datasets, cutoff_len, split settings, output folder) with the run's config filling the gaps."""
    run_config = Path(plan.source) / CONFIG_FILE
    config = RunConfig.load(run_config) if run_config.exists() else None
    datasets = list(plan.datasets) or (list(config.data.datasets) if config else [])
    if not datasets:
        raise ValueError("choose a dataset to evaluate on")
    cutoff = plan.cutoff_len or (config.data.cutoff_len if config else 512)
    split = {"seed": config.train.seed, "val_size": config.data.val_size} if config else {}
    if plan.split == "validation" and not config:
        raise ValueError("the validation split exists only for a run (a base model was not trained with a split)")
    output = Path(plan.output_dir) if plan.output_dir else default_output_dir(plan.source, datasets)
    return datasets, cutoff, split, output


def stream_evaluation(plan: EvalPlan, stop: threading.Event | None = None) -> Iterator[PredictionProgress]:
    """Loss and perplexity first, then (if plan.generate) predictions scored batch by batch.

    Yields a PredictionProgress after the loss and after every generated batch; metrics.json in the output
    folder always holds the latest numbers, generated_predictions.jsonl the rows so far.
    """
    datasets, cutoff, split, output = resolve_plan(plan)
    loaded = load_source(plan.source)
    with using_dataset_dir(_dataset_dir(plan.source)):  # a run's datasets, wherever its registry is
        tasks = prediction_tasks(datasets, plan.max_samples, plan.split, **split)
    conversations = [task["messages"] + [{"role": "assistant", "content": task["label"]}] for task in tasks]
    images = [task.get("images", []) for task in tasks]
    loss = measure_loss(loaded, conversations, cutoff, plan.batch_size, images=images)
    extra = {"datasets": datasets, "split": plan.split, **loss}
    output.mkdir(parents=True, exist_ok=True)
    first = PredictionProgress(0, len(tasks), [], summarize([], len(tasks), loaded.label, extra))
    if not plan.generate:
        first.complete = first.metrics["complete"] = True
        write_metrics(output, first.metrics)
        yield first
        return
    write_metrics(output, first.metrics)
    yield first
    yield from stream_predictions(loaded, tasks, output, plan.max_new_tokens, plan.batch_size, stop, extra)


def _dataset_dir(source: str) -> str:
    run_config = Path(source) / CONFIG_FILE
    return RunConfig.load(run_config).data.dataset_dir if run_config.exists() else ""


def run_evaluation(plan: EvalPlan) -> dict:
    """stream_evaluation to its end; the final metrics."""
    last = None
    for last in stream_evaluation(plan):
        pass
    return last.metrics
