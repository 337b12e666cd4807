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
from engine.train.trainer import RunContext, build_trainer, epoch_steps, finish, planned_steps


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
    train, validation, collator, rows = _batched(context, train, validation, tokenizer)
    return build_trainer(context, train, validation, tokenizer, collator=collator, data={**summary, **rows},
                         examples=examples)


# Packing chosen automatically must not leave a small dataset a handful of updates (20 short questions packed
# are one row: an epoch of one step). Below this many optimizer updates in all, `auto` keeps one example a row.
AUTO_PACKING_MIN_UPDATES = 100


def _batched(context: RunContext, train, validation, tokenizer) -> tuple:
    """`batching` under the speed plan; with packing `auto`, unpacked again when packing would cut the run's
    updates below AUTO_PACKING_MIN_UPDATES (or below the unpacked count, when that is smaller). The choice and
    the optimizer steps per epoch with and without packing go into the start event's speed notes."""
    config, dtype = context.config, torch_dtype(context.config.model.dtype)
    plan = plan_speed(config)
    batched = batching(train, validation, tokenizer, plan, dtype)
    if not plan.packing or config.speed.packing != "auto" or config.train.max_steps:
        return batched
    per_epoch = {"packed": epoch_steps(config, len(batched[0])), "unpacked": epoch_steps(config, len(train))}
    if planned_steps(config, len(batched[0])) >= min(AUTO_PACKING_MIN_UPDATES, planned_steps(config, len(train))):
        context.notes.append(say("speed.packing_auto_kept", **per_epoch))
        return batched
    context.config = config.replace({"speed.packing": "off"})
    context.notes.append(say("speed.packing_auto_off", minimum=AUTO_PACKING_MIN_UPDATES, **per_epoch))
    return batching(train, validation, tokenizer, plan_speed(context.config), dtype)


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
