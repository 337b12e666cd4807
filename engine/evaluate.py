"""Evaluation: loss and perplexity of a base model or a trained run on a registered dataset.

The loss is the mean over every trained (assistant) token of the dataset, so batches with long replies
weigh more than short ones, exactly as if the whole set were one batch; perplexity = exp(loss).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from .chat import ChatModel, load_base_for_chat, load_run_for_chat
from .config import ModelConfig
from .data import load_conversations
from .encoding import IGNORE, encode_conversations
from .runs import CONFIG_FILE


def load_source(source: str) -> ChatModel:
    """A run directory (its trained result) or a base model name / folder."""
    path = Path(source)
    if (path / CONFIG_FILE).exists():
        return load_run_for_chat(path)
    return load_base_for_chat(ModelConfig(name_or_path=source))


def evaluate_loss(
    source: str,
    dataset: str,
    cutoff_len: int = 512,
    max_samples: int = 0,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """{"eval_loss", "perplexity", "examples", "tokens"} of `source` on registered dataset `dataset`."""
    import torch
    from transformers import DataCollatorForSeq2Seq

    loaded = load_source(source)
    examples, _ = encode_conversations(
        load_conversations(dataset, max_samples), loaded.template, loaded.tokenizer, cutoff_len
    )
    collate = DataCollatorForSeq2Seq(loaded.tokenizer, padding=True, label_pad_token_id=IGNORE)
    total_loss, total_tokens = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            batch = collate(examples[start : start + batch_size]).to(loaded.model.device)
            logits = loaded.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
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
    return {"eval_loss": loss, "perplexity": math.exp(min(loss, 50.0)), "examples": len(examples), "tokens": total_tokens}
