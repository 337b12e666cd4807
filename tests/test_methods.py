"""Every fine-tuning type trains the built-in model for real: the right parameters train and move, the rest
stay put, the saved result reloads, and chat works on it."""
import pytest
import torch

from engine.use.chat import load_run_for_chat, stream_reply
from engine.config.schema import RunConfig
from engine.runs.events import EventLog, read_events
from engine.runs.store import create_run
from engine.train.stages.sft import build_sft_trainer
from engine.train.trainer import RunContext, finish
from conftest import demo_config

# type -> (config changes, which parameter names must be the trainable ones)
CASES = {
    "lora": ({}, lambda n: "lora_" in n),
    "lora+rslora+dora": ({"use_rslora": True, "use_dora": True}, lambda n: "lora_" in n),
    "lora+pissa": ({"pissa_init": True}, lambda n: "lora_" in n),
    "lora+loraplus+modules_to_save": (
        {"loraplus_lr_ratio": 16.0, "modules_to_save": "lm_head"},
        lambda n: "lora_" in n or "modules_to_save" in n,
    ),
    "adalora": ({"finetuning_type": "adalora"}, lambda n: "lora_" in n),
    "ia3": ({"finetuning_type": "ia3"}, lambda n: "ia3_" in n),
    "prefix": ({"finetuning_type": "prefix"}, lambda n: "prompt_encoder" in n),
    "prompt": ({"finetuning_type": "prompt"}, lambda n: "prompt_encoder" in n),
    "ptuning": ({"finetuning_type": "ptuning"}, lambda n: "prompt_encoder" in n),
}


def short_config(**method) -> RunConfig:
    config = demo_config({"data.val_size": 0.0, "data.max_samples": 16, "train.max_steps": 3,
                          "train.per_device_train_batch_size": 4, "train.learning_rate": 1e-2,
                          "train.logging_steps": 1, "train.warmup_ratio": 0.0,
                          **{f"method.{name}": value for name, value in method.items()}})
    return config


def train_and_check(config: RunConfig, is_trainable):
    run_dir = create_run(config)
    log = EventLog(run_dir)
    context = RunContext(config, run_dir, log, lambda: False)
    trainer = build_sft_trainer(context)
    params = dict(trainer.model.named_parameters())
    before = {n: p.detach().clone() for n, p in params.items()}
    trainable = {n for n, p in params.items() if p.requires_grad}
    assert trainable and trainable == {n for n in params if is_trainable(n)}
    assert finish(trainer, context) == "completed"
    moved = {n for n in params if not torch.equal(before[n], params[n].detach())}
    assert moved and moved <= trainable, f"frozen parameters changed: {sorted(moved - trainable)[:5]}"
    start = next(e for e in read_events(run_dir) if e["event"] == "start")
    assert start["trainable_params"] == sum(params[n].numel() for n in trainable)

    chat = load_run_for_chat(run_dir)
    reply = list(stream_reply(chat, [{"role": "user", "content": "What is LoRA?"}], max_new_tokens=5, temperature=0))
    assert reply, "chat produced nothing"
    return run_dir, trainable


@pytest.mark.parametrize("case", sorted(CASES))
def test_peft_types(studio_dirs, tiny_model, case):
    changes, is_trainable = CASES[case]
    train_and_check(short_config(**changes), is_trainable)


def test_bitfit_trains_only_biases(studio_dirs, tiny_model, tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    # The built-in Llama has no biases; a local copy of its shape with attention biases (Qwen2-style) does.
    shape = AutoConfig.from_pretrained(tiny_model)
    shape.attention_bias = True
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(shape).save_pretrained(tmp_path / "biased")
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(tmp_path / "biased")
    config = short_config(finetuning_type="bitfit")
    config.model.name_or_path = str(tmp_path / "biased")
    run_dir, trainable = train_and_check(config, lambda n: n.endswith(".bias"))
    assert len(trainable) == 4 * 4  # q, k, v, o biases in each of 4 layers


def test_bitfit_refuses_a_model_without_biases(studio_dirs, tiny_model):
    with pytest.raises(ValueError, match="has none"):
        train_and_check(short_config(finetuning_type="bitfit"), lambda n: False)


@pytest.mark.parametrize("bits", ["4bit", "8bit"])
def test_qlora_on_a_freshly_quantised_model(studio_dirs, tiny_model, bits):
    pytest.importorskip("bitsandbytes")
    config = short_config()
    config.model.quantization = bits
    run_dir, _ = train_and_check(config, lambda n: "lora_" in n)
    losses = [e["loss"] for e in read_events(run_dir) if e["event"] == "log"]
    assert all(loss == loss and loss < 20 for loss in losses)  # finite, sane losses
