"""Real training of the built-in model on CPU: the loss falls, the right weights move, nothing else does."""
import torch

from engine.config.schema import RunConfig
from engine.runs.events import EventLog, read_events
from engine.train.stages.sft import build_sft_trainer
from engine.train.trainer import RunContext
from conftest import demo_config as preset


def demo_config(**train) -> RunConfig:
    return preset({"data.val_size": 0.0, "data.max_samples": 48, "train.logging_steps": 1,
                   "train.save_steps": 1000, **{f"train.{name}": value for name, value in train.items()}})


def train(config: RunConfig, run_dir):
    run_dir.mkdir(parents=True, exist_ok=True)
    log = EventLog(run_dir)
    trainer = build_sft_trainer(RunContext(config, run_dir, log, lambda: False))
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    losses = [e["loss"] for e in read_events(run_dir) if e["event"] == "log"]
    return before, after, losses


def changed(before, after, name) -> bool:
    return not torch.equal(before[name], after[name].detach())


def test_lora_learns_and_leaves_the_base_alone(tmp_path):
    before, after, losses = train(demo_config(max_steps=36), tmp_path / "run")
    assert len(losses) == 36
    start, end = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert end < start - 1.0, f"loss went {start:.3f} → {end:.3f}"
    lora = [n for n in before if "lora_" in n]
    base = [n for n in before if "lora_" not in n]
    assert lora and all(after[n].requires_grad for n in lora)
    assert all(changed(before, after, n) for n in lora if "lora_B" in n)
    assert not any(changed(before, after, n) for n in base)
    assert not any(after[n].requires_grad for n in base)


def test_freeze_trains_only_the_last_layers(tmp_path):
    config = demo_config(max_steps=6, learning_rate=1e-3)
    config.method.finetuning_type = "freeze"
    config.method.freeze_trainable_layers = 1
    before, after, losses = train(config, tmp_path / "run")
    last = "model.layers.3."
    assert all(after[n].requires_grad == n.startswith(last) for n in before)
    assert all(changed(before, after, n) for n in before if n.startswith(last) and "norm" not in n)
    assert not any(changed(before, after, n) for n in before if not n.startswith(last))


def test_full_trains_every_weight(tmp_path):
    config = demo_config(max_steps=10, learning_rate=1e-3)
    config.method.finetuning_type = "full"
    before, after, losses = train(config, tmp_path / "run")
    assert all(changed(before, after, n) for n in before)
    assert sum(losses[-3:]) < sum(losses[:3])
