"""Supervised fine-tuning: chat conversations, only the assistant replies trained."""
from __future__ import annotations

from functools import partial

from engine.config.schema import RunConfig
from engine.data.conversion import dataset_kind
from engine.data.encoding import encode_dataset
from engine.data.registry import DataError
from engine.messages import say
from engine.data.split import split_dataset
from engine.models.loading import is_vision_model, load_tokenizer, resolve_model, torch_dtype
from engine.data.templates import load_template
from engine.train.packing import batching
from engine.train.speed import plan_speed
from engine.train.trainer import RunContext, build_trainer, finish


def build_sft_examples(config: RunConfig, tokenizer, progress=None):
    """(train, validation or None, encoding summary): every chosen dataset encoded (cached), split with the
    run's seed. `progress(dataset, done, total)` hears how far the encoding of each dataset is."""
    from datasets import concatenate_datasets

    template = load_template(config.model.template, tokenizer, config.model.enable_thinking)
    parts = [
        encode_dataset(name, template, tokenizer, config.data.cutoff_len, config.data.train_on_prompt,
                       config.data.max_samples, progress=progress and partial(progress, name),
                       mask_history=config.data.mask_history)
        for name in config.data.datasets
    ]
    summary = {key: sum(part[1][key] for part in parts) for key in parts[0][1]}
    return (*split_dataset(concatenate_datasets([dataset for dataset, _ in parts]), config), summary)


def build_sft_trainer(context: RunContext):
    """The ready-to-train Trainer for an SFT run (tests inspect it before and after `train()`)."""
    config = context.config
    tokenizer = load_tokenizer(config.model)
    train, validation, summary = build_sft_examples(config, tokenizer, partial(_log_encoding, context.log))
    examples = (len(train), len(validation or []))  # before packing puts several in a row
    # Packed rows (or padded examples) under the speed plan; `rows` describes the packing for the start event.
    train, validation, collator, rows = batching(train, validation, tokenizer, plan_speed(config),
                                                 torch_dtype(config.model.dtype))
    return build_trainer(context, train, validation, tokenizer, collator=collator, data={**summary, **rows},
                         examples=examples)


def _log_encoding(log, dataset: str, done: int, total: int) -> None:
    log.write("phase", phase="encode", dataset=dataset, done=done, total=total)


def run_sft(context: RunContext) -> str:
    """Text SFT, or its vision path when the model reads images."""
    from engine.train.stages.sft_vision import build_vision_sft_trainer

    model = context.config.model.name_or_path
    if is_vision_model(resolve_model(model)):
        return finish(build_vision_sft_trainer(context), context)
    for name in context.config.data.datasets:
        if dataset_kind(name) == "vision":  # its <image> placeholders would be trained as text
            raise DataError(say("data.vision_needs_vision_model", dataset=name, model=model))
    return finish(build_sft_trainer(context), context)
