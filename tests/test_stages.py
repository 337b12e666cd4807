"""Every stage trains the built-in model with LoRA on CPU and reports its own metrics."""
import pytest

from engine.config.schema import RunConfig
from engine.runs.events import EventLog, read_events
from engine.runs.store import create_run
from engine.train.trainer import run_training
from engine.train.trainer import RunContext
from conftest import demo_config

DATASET = {"sft": "demo_alpaca_en", "pt": "demo_pretrain", "grpo": "demo_math"}
# Metrics each stage must put in its log events, as TRL names them.
STAGE_METRICS = {
    "rm": {"accuracy", "margin"},
    "dpo": {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"},
    "orpo": {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"},
    "kto": {"kl"},
    "grpo": {"reward", "rewards/reference_rouge/mean"},
}


def stage_config(stage: str, **method) -> RunConfig:
    return demo_config({"method.stage": stage, "data.datasets": [DATASET.get(stage, "demo_preference")],
                        "data.max_samples": 24, "data.val_size": 0.25, "eval.eval_steps": 4, "train.max_steps": 8,
                        "train.per_device_train_batch_size": 4, "train.logging_steps": 1,
                        "train.learning_rate": 5e-3, **{f"method.{name}": value for name, value in method.items()}})


def run(config: RunConfig):
    run_dir = create_run(config)
    log = EventLog(run_dir)
    assert run_training(RunContext(config, run_dir, log, lambda: False)) == "completed"
    events = read_events(run_dir)
    return run_dir, [e for e in events if e["event"] == "log"], [e for e in events if e["event"] == "eval"]


@pytest.mark.parametrize("stage", ["pt", "rm", "dpo", "orpo", "kto", "grpo"])
def test_stage_trains_with_lora(studio_dirs, tiny_model, stage):
    run_dir, logs, evals = run(stage_config(stage))
    assert len(logs) == 8 and all(e["loss"] == e["loss"] for e in logs)
    assert STAGE_METRICS.get(stage, set()) <= logs[-1].keys(), sorted(logs[-1])
    assert evals, "validation ran"
    assert (run_dir / "final" / "adapter_model.safetensors").exists()


def test_pretraining_loss_falls(studio_dirs, tiny_model):
    config = stage_config("pt")
    config.data.max_samples = 0
    config.data.cutoff_len = 128
    config.train.max_steps = 24
    _, logs, _ = run(config)
    assert sum(e["loss"] for e in logs[-4:]) / 4 < sum(e["loss"] for e in logs[:4]) / 4


def test_reward_model_reports_pairwise_accuracy_on_validation(studio_dirs, tiny_model):
    _, _, evals = run(stage_config("rm"))
    assert 0.0 <= evals[-1]["eval_accuracy"] <= 1.0


@pytest.mark.parametrize("loss", ["ipo", "hinge", "simpo"])
def test_dpo_loss_variants(studio_dirs, tiny_model, loss):
    _, logs, _ = run(stage_config("dpo", pref_loss=loss))
    assert all(e["loss"] == e["loss"] for e in logs)
