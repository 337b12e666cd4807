"""Merge-and-export: the merged model computes what adapter-on-base computes, and loads on its own."""
import pytest
import torch

from engine.export.merge import export_run
from engine.models.loading import merged_model
from conftest import demo_config

PROMPTS = ["What is LoRA?", "学习率是什么？", "How do I export a model?"]


def logits_of(model, tokenizer):
    batch = tokenizer(PROMPTS, return_tensors="pt", padding=True)
    with torch.inference_mode():
        return model(**batch).logits


def test_merged_logits_equal_adapter_on_base(trained_run):
    from engine.use.chat import load_run_for_chat

    adapter = load_run_for_chat(trained_run)
    assert adapter.model.peft_config  # really the adapter-on-base form
    expected = logits_of(adapter.model, adapter.tokenizer)
    merged = merged_model(trained_run).eval()
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert torch.allclose(logits_of(merged, adapter.tokenizer), expected, atol=1e-4, rtol=0)


def test_export_writes_a_standalone_model_and_never_overwrites(trained_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = export_run(trained_run, max_shard_size="2MB")
    names = {name for name, _ in result.files}
    assert {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"} <= names
    assert sum(name.endswith(".safetensors") for name in names) >= 2  # 5 MB of weights in 2 MB shards
    model = AutoModelForCausalLM.from_pretrained(result.folder)
    tokenizer = AutoTokenizer.from_pretrained(result.folder)
    assert "<|im_start|>" in tokenizer.chat_template
    assert model.config.architectures == ["LlamaForCausalLM"]
    with pytest.raises(FileExistsError, match="already exists"):
        export_run(trained_run)  # same default name
    with pytest.raises(ValueError, match="outside"):
        export_run(trained_run, name="../escape")


def test_every_export_has_a_model_card(trained_run):
    result = export_run(trained_run, name="with-card")
    card = (result.folder / "README.md").read_text()
    assert "base_model: builtin:tiny-demo" in card and "library_name: transformers" in card
    assert "| stage / method | sft / lora |" in card and "| lora_rank | 16 |" in card
    assert "demo_alpaca_en" in card and "| learning_rate | 0.002 |" in card
    assert "| train_loss |" in card and "| steps | 12 |" in card


def test_adapter_only_export_loads_on_its_base(trained_run):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.use.chat import load_run_for_chat

    result = export_run(trained_run, adapter_only=True)
    names = {name for name, _ in result.files}
    assert result.folder.name.endswith("-adapter")
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md"} <= names
    assert not any(name.startswith("model") for name in names)  # no merged weights
    assert "library_name: peft" in (result.folder / "README.md").read_text()
    base = AutoModelForCausalLM.from_pretrained(
        load_run_for_chat(trained_run).model.peft_config["default"].base_model_name_or_path
    )
    reloaded = PeftModel.from_pretrained(base, result.folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(result.folder)
    expected = logits_of(load_run_for_chat(trained_run).model, tokenizer)
    assert torch.allclose(logits_of(reloaded, tokenizer), expected, atol=1e-5)
    with pytest.raises(ValueError, match="untick 'adapter only'"):
        export_run(trained_run, name="x", adapter_only=True, gguf_types=["f16"])


def test_gguf_of_the_demo_model_is_refused_before_merging(trained_run):
    from engine.cli import main
    from engine.paths import exports_dir

    # The built-in model's tokenizer is made up: llama.cpp's converter does not know its pre-tokenizer (it
    # recognises one by hashing its output), and says so before anything is merged. tests/test_gguf.py exports
    # real families.
    with pytest.raises(ValueError, match="cannot write this model's tokenizer as GGUF, so nothing was merged") as err:
        export_run(trained_run, name="gguf-out", gguf_types=["f16"])
    assert "BPE pre-tokenizer was not recognized" in str(err.value)
    assert not (exports_dir() / "gguf-out").exists()
    assert main(["export", str(trained_run), "--name", "bad", "--gguf", "q2"]) == 2


def test_a_reward_model_exports_with_its_score_head_and_refuses_gguf(studio_dirs, tiny_model):
    from transformers import AutoModelForSequenceClassification

    from engine.runs.events import EventLog
    from engine.runs.store import create_run
    from engine.train.trainer import run_training
    from engine.train.trainer import RunContext

    config = demo_config(
        {"method.stage": "rm", "data.datasets": ["demo_preference"], "data.val_size": 0.0, "train.max_steps": 2}
    )
    run_dir = create_run(config)
    assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    with pytest.raises(ValueError, match="reward model scores text and cannot chat"):
        export_run(run_dir, gguf_types=["f16"])
    result = export_run(run_dir)
    exported = AutoModelForSequenceClassification.from_pretrained(result.folder)
    assert exported.config.num_labels == 1 and not any("lora" in name for name, _ in exported.named_parameters())
