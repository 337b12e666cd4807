"""Twelve real architectures, tiny and random (tests/families.py), through what a user does with DEFAULT settings:
LoRA SFT (packed rows, attention `auto`), chat with the result, the merged export against the adapter on its base;
full fine-tuning and DPO. Gemma 2 and gpt-oss refuse sdpa: `auto` must pick eager before the run is queued, and
packed rows must still keep their examples apart under eager.
"""
import pytest
import torch

from engine.config.schema import RunConfig
from engine.runs.events import EventLog, read_events
from engine.runs.store import create_run
from engine.train.trainer import RunContext, run_training
from conftest import demo_config
from families import FAMILIES, build_family

EAGER_ONLY = {"gemma2", "gpt_oss"}  # their transformers classes say _supports_sdpa = False
MOE = {"qwen3_moe", "mixtral", "gpt_oss", "deepseek_v3"}


@pytest.fixture(scope="module")
def family_root(tmp_path_factory):
    return tmp_path_factory.mktemp("families")


def family_config(folder, stage: str = "sft", kind: str = "lora", steps: int = 4) -> RunConfig:
    """The demo preset on the family's model: every speed and method setting left at its default, one batch of
    4 short examples trained again each step (so that 4 steps must lower the loss)."""
    from engine.models.loading import ships_chat_template

    dataset = "demo_alpaca_en" if stage == "sft" else "demo_preference"
    template = "auto" if ships_chat_template(str(folder)) else "chatml"  # Gemma 3 base's tokenizer has none
    return demo_config({
        "model.name_or_path": str(folder), "model.template": template, "method.stage": stage,
        "method.finetuning_type": kind, "data.datasets": [dataset], "data.max_samples": 4, "data.val_size": 0.0,
        "data.cutoff_len": 96, "train.max_steps": steps, "train.per_device_train_batch_size": 4,
        "train.logging_steps": 1, "train.save_steps": 1000, "train.learning_rate": 1e-2})


def train(config: RunConfig):
    """Start's own checks, then the run in this process: (run folder, losses, the start event)."""
    from engine.runs.preflight import preflight
    from engine.train.rules import validate

    assert validate(config) == [] and preflight(config) == []
    run_dir = create_run(config)
    assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    events = read_events(run_dir)
    losses = [e["loss"] for e in events if e["event"] == "log" and "loss" in e]
    return run_dir, losses, next(e for e in events if e["event"] == "start")


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_lora_sft_chat_and_merged_export(studio_dirs, family_root, family):
    from engine.export.merge import export_run
    from engine.models.loading import load_model
    from engine.use.chat import load_run_for_chat, stream_reply
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    folder = build_family(family, family_root / family)
    config = family_config(folder)
    run_dir, losses, start = train(config)
    assert losses[-1] < losses[0], f"{family}: loss {losses}"
    attention = "eager" if family in EAGER_ONLY else "sdpa"
    assert any(note.startswith(f"attention: {attention}") for note in start["speed"]), start["speed"]
    assert ("experts" in start) == (family in MOE)

    reply = list(stream_reply(load_run_for_chat(run_dir), [{"role": "user", "content": "Hello"}],
                              max_new_tokens=4, temperature=0))[-1]
    assert reply, f"{family}: no reply"

    merged = AutoModelForCausalLM.from_pretrained(export_run(run_dir, name=f"{family}-merged").folder,
                                                  dtype=torch.float32)
    adapted = PeftModel.from_pretrained(load_model(config.model), str(run_dir / "final"))
    tokens = torch.randint(0, 1000, (1, 24))
    with torch.no_grad():
        difference = (merged.eval()(tokens).logits - adapted.eval()(tokens).logits).abs().max().item()
    assert difference < 1e-3, f"{family}: merged vs adapter on base, max |Δlogit| = {difference:.2e}"


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(EAGER_ONLY | {"deepseek_v3"}))  # the refused-sdpa pair, MLA + experts
def test_full_fine_tuning_and_dpo(studio_dirs, family_root, family):
    folder = build_family(family, family_root / family)
    _, full_losses, _ = train(family_config(folder, kind="full", steps=3))
    assert full_losses[-1] < full_losses[0], f"{family} full: loss {full_losses}"
    _, dpo_losses, _ = train(family_config(folder, stage="dpo", steps=3))
    assert dpo_losses[-1] < dpo_losses[0], f"{family} dpo: loss {dpo_losses}"


# ---------------------------------------------------------------------------------------------------------
# Attention: decided before the run is queued


def test_auto_attention_is_what_each_family_supports(family_root):
    from engine.train.speed import plan_speed

    for family in ("gemma2", "gpt_oss", "qwen3"):
        config = RunConfig()
        config.model.name_or_path = str(build_family(family, family_root / family))
        plan = plan_speed(config, cuda=False)
        assert plan.attention == ("eager" if family in EAGER_ONLY else "sdpa"), family
    gemma2 = plan_speed(gemma2_config(family_root), cuda=False)
    assert "Gemma2ForCausalLM does not support sdpa" in gemma2.notes[1]
    # Its sliding window (16 tokens here) is shorter than a row: a 4D mask would drop it, so no packing.
    assert not gemma2.packing and "sliding-window" in gemma2.notes[0]


def gemma2_config(family_root, **speed) -> RunConfig:
    config = RunConfig()
    config.model.name_or_path = str(build_family("gemma2", family_root / "gemma2"))
    for name, value in speed.items():
        setattr(config.speed, name, value)
    return config


def test_start_refuses_an_attention_kernel_the_model_refuses(studio_dirs, family_root):
    from engine.runs.preflight import model_problems

    problems = [p for p in model_problems(gemma2_config(family_root, attention="sdpa")) if "template" not in p]
    assert len(problems) == 1 and "Gemma2ForCausalLM does not support" in problems[0] and "auto" in problems[0]
    assert not any("attention" in p for p in model_problems(gemma2_config(family_root, attention="eager")))


def test_a_refused_attention_kernel_fails_with_a_reason_and_advice(family_root):
    from engine.models.loading import load_model
    from engine.runs.failures import classify_failure
    from engine.runs.status import Reason

    with pytest.raises(ValueError) as refused:
        load_model(gemma2_config(family_root).model, attention="sdpa")
    failure = classify_failure(refused.value)
    assert failure.reason is Reason.NOT_SUPPORTED
    assert failure.message == "Gemma2ForCausalLM does not support the attention kernel sdpa"
    assert "Attention kernel" in failure.advice and "auto" in failure.advice


@pytest.mark.parametrize("family", sorted(EAGER_ONLY))
def test_packed_rows_keep_examples_apart_under_eager(family_root, family):
    """The packing collator gives eager a float mask (0 / the dtype's minimum): logits of each packed example
    equal the example run alone."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.train.packing import TOKEN_COUNTS, PackedCollator, pack_examples

    folder = build_family(family, family_root / family)
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    generator = torch.Generator().manual_seed(0)
    examples = [torch.randint(3, 1000, (length,), generator=generator).tolist() for length in (9, 5, 12)]
    rows = pack_examples({"input_ids": examples, "labels": examples}, 32)
    assert len(rows) == 1  # all three share the row
    batch = PackedCollator(tokenizer.pad_token_id, "eager", torch.float32)(rows)
    with torch.no_grad():
        packed = model(**{k: v for k, v in batch.items() if k not in ("labels", TOKEN_COUNTS)}).logits[0]
        start = 0
        for length in rows[0]["lengths"]:
            alone = model(input_ids=torch.tensor([rows[0]["input_ids"][start:start + length]])).logits[0]
            assert (packed[start:start + length] - alone).abs().max().item() < 1e-4, family
            start += length
