"""Supervised fine-tuning: chat conversations, only the assistant replies trained."""
from __future__ import annotations

from engine.config.schema import RunConfig
from engine.data.encoding import IGNORE, encode_dataset
from engine.models.loading import load_tokenizer
from engine.models.templates import load_template
from engine.train.trainer import (RunContext, event_callback, finish, optimizers, prepare_model, split_dataset,
                        training_arguments)


def build_sft_examples(config: RunConfig, tokenizer):
    """(train, validation or None, encoding summary): every chosen dataset encoded (cached), split with the
    run's seed."""
    from datasets import concatenate_datasets

    template = load_template(config.model.template, tokenizer)
    parts = [
        encode_dataset(name, template, tokenizer, config.data.cutoff_len, config.data.train_on_prompt,
                       config.data.max_samples)
        for name in config.data.datasets
    ]
    summary = {key: sum(part[1][key] for part in parts) for key in parts[0][1]}
    return (*split_dataset(concatenate_datasets([dataset for dataset, _ in parts]), config), summary)


def build_sft_trainer(context: RunContext):
    """The ready-to-train Trainer for an SFT run (tests inspect it before and after `train()`)."""
    from transformers import DataCollatorForSeq2Seq, Trainer

    config = context.config
    tokenizer = load_tokenizer(config.model)
    train, validation, summary = build_sft_examples(config, tokenizer)
    model = prepare_model(context, len(train))
    callback = event_callback(
        context, model, train_examples=len(train), val_examples=len(validation or []), data=summary
    )
    return Trainer(
        model=model,
        args=training_arguments(config, context.run_dir, validation is not None),
        train_dataset=train,
        eval_dataset=validation,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE),
        processing_class=tokenizer,
        callbacks=[callback],
        optimizers=optimizers(model, config),
    )


def run_sft(context: RunContext) -> str:
    return finish(build_sft_trainer(context), context)
