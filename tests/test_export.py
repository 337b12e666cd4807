"""Merge-and-export: the merged model computes what adapter-on-base computes, and loads on its own."""
import pytest
import torch

from engine.config import RunConfig
from engine.events import EventLog
from engine.export import export_run, merged_model
from engine.runs import create_run
from engine.stages import run_training
from engine.training import RunContext

PROMPTS = ["What is LoRA?", "学习率是什么？", "How do I export a model?"]


@pytest.fixture
def trained_run(studio_dirs, tiny_model):
    config = RunConfig.load("examples/sft_lora_demo.yaml")
    config.data.val_size = 0.0
    config.train.max_steps = 12
    run_dir = create_run(config)
    log = EventLog(run_dir)
    log.claim()
    assert run_training(RunContext(config, run_dir, log, lambda: False)) == "completed"
    return run_dir


def logits_of(model, tokenizer):
    batch = tokenizer(PROMPTS, return_tensors="pt", padding=True)
    with torch.inference_mode():
        return model(**batch).logits


def test_merged_logits_equal_adapter_on_base(trained_run):
    from engine.chat import load_run_for_chat

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
