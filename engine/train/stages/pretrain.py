"""Pretraining (continued): next-token prediction on plain text.

Documents are tokenized, each ended with eos, concatenated, and cut into blocks of `cutoff_len` tokens:
the classic causal-LM recipe, so no compute goes to padding. Attention runs across document boundaries
inside a block, as in standard pretraining; the eos between documents tells the model where one ends.
"""
from __future__ import annotations

from engine.data.conversion import load_texts
from engine.models.loading import load_tokenizer
from engine.data.split import split_dataset
from engine.train.trainer import RunContext, build_trainer, finish


def pack_documents(texts: list[str], tokenizer, block: int) -> list[dict]:
    """Blocks of exactly `block` tokens (the last one may be shorter), labels = inputs."""
    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream += ids + [tokenizer.eos_token_id]
    blocks = [stream[start : start + block] for start in range(0, len(stream), block)]
    return [{"input_ids": ids, "labels": list(ids)} for ids in blocks if len(ids) > 1]


def run_pretrain(context: RunContext) -> str:
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq

    config = context.config
    tokenizer = load_tokenizer(config.model)
    texts = [text for name in config.data.datasets for text in load_texts(name, config.data.max_samples)]
    blocks = Dataset.from_list(pack_documents(texts, tokenizer, config.data.cutoff_len))
    train, validation = split_dataset(blocks, config)
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    summary = {"documents": len(texts), "blocks": len(blocks), "block_tokens": config.data.cutoff_len}
    return finish(build_trainer(context, train, validation, tokenizer, collator=collator, data=summary), context)
