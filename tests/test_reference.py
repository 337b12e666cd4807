"""The engine's SFT+LoRA matches a plain, hand-written transformers Trainer + peft run step for step."""
import pytest
import torch

from engine.config.schema import RunConfig
from engine.runs.events import EventLog, read_events
from engine.models.loading import load_tokenizer
from engine.train.stages.sft import build_sft_examples, build_sft_trainer
from engine.train.trainer import RunContext
from conftest import demo_config

STEPS = 10


def reference_losses(config: RunConfig, model_dir, output_dir) -> list[float]:
    """Written the way the tutorials do it, sharing only the encoded examples with the engine."""
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainerCallback,
                              TrainingArguments, set_seed)

    tokenizer = load_tokenizer(config.model)
    train_examples, _, _ = build_sft_examples(config, tokenizer)
    set_seed(config.train.seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    losses = []

    class Record(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(logs["loss"])

    args = TrainingArguments(output_dir=str(output_dir), max_steps=STEPS, learning_rate=config.train.learning_rate,
                             per_device_train_batch_size=config.train.per_device_train_batch_size,
                             lr_scheduler_type="cosine", warmup_steps=config.train.warmup_ratio, logging_steps=1,
                             seed=config.train.seed, save_strategy="no", report_to="none", use_cpu=True,
                             remove_unused_columns=False)
    Trainer(model=model, args=args, train_dataset=train_examples,
            data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
            callbacks=[Record()]).train()
    return losses


def test_first_ten_losses_match_the_reference(tmp_path, tiny_model):
    # The reference pads each batch; the engine must too here (packing would put other examples in a step).
    config = demo_config({"data.val_size": 0.0, "train.max_steps": STEPS, "train.logging_steps": 1,
                          "speed.packing": "off"})
    (tmp_path / "run").mkdir()
    log = EventLog(tmp_path / "run")
    build_sft_trainer(RunContext(config, tmp_path / "run", log, lambda: False)).train()
    engine = [e["loss"] for e in read_events(tmp_path / "run") if e["event"] == "log"]
    reference = reference_losses(config, tiny_model, tmp_path / "reference")
    assert len(engine) == len(reference) == STEPS
    assert engine == pytest.approx(reference, abs=1e-5)
