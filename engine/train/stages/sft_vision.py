"""Supervised fine-tuning of a vision-language model: conversations with images, only the replies trained.

The same SFT as text (engine/train/stages/sft.py) with three differences: the data is encoded by the
processor's tokenizer with every image expanded to its vision tokens (masked), the collator adds each batch's
pixels, and the processor (tokenizer, image processor, chat template) is saved with the result so that the
run folder loads like a Hub VLM.
"""
from __future__ import annotations

from engine.config.schema import RunConfig
from engine.data.vision_encoding import VisionCollator, encode_vision_dataset
from engine.models.loading import load_processor
from engine.data.templates import load_template
from engine.data.split import split_dataset
from engine.train.trainer import RunContext, build_trainer


def build_vision_examples(config: RunConfig, processor):
    """(train, validation or None, encoding summary) of the chosen image datasets, split with the run's seed."""
    from datasets import concatenate_datasets

    template = load_template(config.model.template, processor.tokenizer)
    parts = [
        encode_vision_dataset(name, template, processor, config.data.cutoff_len, config.data.train_on_prompt,
                              config.data.max_samples)
        for name in config.data.datasets
    ]
    summary = {key: sum(part[1][key] for part in parts) for key in parts[0][1]}
    return (*split_dataset(concatenate_datasets([dataset for dataset, _ in parts]), config), summary)


def build_vision_sft_trainer(context: RunContext):
    """The ready-to-train Trainer for an SFT run of a vision model; the processor is its processing class,
    so checkpoints and the final folder carry the image processor too."""
    processor = load_processor(context.config.model)
    train, validation, summary = build_vision_examples(context.config, processor)
    return build_trainer(context, train, validation, processor, collator=VisionCollator(processor), data=summary)
