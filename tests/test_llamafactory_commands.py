"""LLaMA-Factory, round two: its YAMLs mean the same schedule here, its commands answer, and what it leaves to
defaults is looked for where it looks (engine/config/llamafactory.py, engine/cli/)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.config.llamafactory import convert, yaml_kind
from engine.config.parsing import read_override
from engine.config.schema import ConfigError, RunConfig
from engine.train.rules import validate

PROJECT = Path(__file__).resolve().parents[1]
SFT = {"model_name_or_path": "builtin:tiny-demo", "stage": "sft", "do_train": True, "finetuning_type": "lora",
       "dataset": "demo_alpaca_en", "output_dir": "saves/tiny/lora/sft"}


def _engine(*args, cwd=PROJECT, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


# ---------------------------------------------------------------------------------------------------------
# The schedule: keys with a studio field carry over, and packing only when LLaMA-Factory would pack


def test_sft_packs_only_when_the_yaml_asks_so_the_steps_per_epoch_stay_llamafactorys():
    assert convert(SFT).config.speed.packing == "off"
    assert convert({**SFT, "packing": True}).config.speed.packing == "on"
    assert convert({**SFT, "neat_packing": True}).config.speed.packing == "on"
    report = "\n".join(convert(SFT).report())
    assert "packing left out → speed.packing = off" in report


def test_keys_with_a_studio_field_are_mapped_not_dropped():
    config = convert({**SFT, "deepspeed": "examples/deepspeed/ds_z3_offload_config.json", "flash_attn": "disabled",
                      "enable_liger_kernel": True, "report_to": "wandb", "freeze_vision_tower": False,
                      "freeze_multi_modal_projector": False, "optim": "adafactor", "warmup_steps": 7,
                      "max_steps": 70, "lr_scheduler_kwargs": {"num_cycles": 0.5}}).config
    assert (config.distributed.strategy, config.distributed.offload_optimizer,
            config.distributed.offload_parameters) == ("zero3", True, True)
    assert convert({**SFT, "deepspeed": "ds_z2_config.json"}).config.distributed.strategy == "zero2"
    assert (config.speed.attention, config.speed.liger, config.train.report_to) == ("eager", "on", ["wandb"])
    assert (config.method.freeze_vision_tower, config.method.freeze_projector) == (False, False)
    extra = yaml.safe_load(config.train.extra_args)
    assert extra == {"optim": "adafactor", "lr_scheduler_kwargs": {"num_cycles": 0.5}}
    assert config.train.warmup_ratio == pytest.approx(0.1)  # 7 of 70 steps
    assert validate(config) == []  # the extra arguments pass the studio's own check


def test_kto_with_one_example_per_step_gets_two_and_the_studio_refuses_one():
    config = convert({**SFT, "stage": "kto", "dataset": "kto_en_demo", "per_device_train_batch_size": 1,
                      "gradient_accumulation_steps": 8}).config
    assert (config.train.per_device_train_batch_size, config.train.gradient_accumulation_steps) == (2, 4)
    refused = "\n".join(validate(config.replace({"train.per_device_train_batch_size": 1})))
    assert "set Batch size (train.per_device_train_batch_size) to 2 or more" in refused


def test_values_the_studio_refuses_are_refused_at_conversion_not_after(tmp_path):
    with pytest.raises(ConfigError) as refused:
        convert({**SFT, "quantization_bit": 2, "finetuning_type": "oft"})
    text = str(refused.value)
    assert "the converted config has values the studio cannot train with" in text
    assert "model.quantization" in text and "method.finetuning_type" in text
    source = tmp_path / "bad.yaml"
    source.write_text(yaml.safe_dump({**SFT, "quantization_bit": 2}))
    converted = _engine("convert", source)
    assert converted.returncode == 2 and "model.quantization" in converted.stderr
    assert not (tmp_path / "bad.studio.yaml").exists()


def test_dataset_dir_defaults_to_data_where_it_runs_and_remote_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    absent = convert(SFT)
    assert absent.config.data.dataset_dir == ""
    assert f"LLaMA-Factory would look in {tmp_path / 'data'}" in "\n".join(absent.report())
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dataset_info.json").write_text("{}")
    assert convert(SFT).config.data.dataset_dir == str(tmp_path / "data")
    with pytest.raises(ConfigError, match="reads dataset_info.json from the Hugging Face Hub"):
        convert({**SFT, "dataset_dir": "REMOTE:llamafactory/demo_data"})


# ---------------------------------------------------------------------------------------------------------
# What a YAML is for, and the commands that run it


def test_each_kind_of_yaml_is_told_apart():
    assert yaml_kind(SFT) == "train"
    assert yaml_kind({"model_name_or_path": "m", "template": "llama3", "infer_backend": "huggingface"}) == "chat"
    assert yaml_kind({**SFT, "do_train": False, "do_predict": True}) == "predict"
    assert yaml_kind({**SFT, "do_train": False}) == "preprocess"
    assert yaml_kind({"model_name_or_path": "m", "adapter_name_or_path": "a", "export_dir": "e"}) == "merge"


def test_a_full_merge_yaml_exports_the_full_run_and_gptq_is_refused_naming_what_is_missing():
    plan = convert({"model_name_or_path": "saves/qwen3-4b/full/sft", "template": "qwen3",
                    "export_dir": "output/qwen3_full_sft"}).merge
    assert (plan.adapter, plan.model, plan.export_dir) == ("", "saves/qwen3-4b/full/sft", "qwen3_full_sft")
    with pytest.raises(ConfigError, match="GPTQ quantisation needs a GPU and the optimum and gptqmodel packages"):
        convert({"model_name_or_path": "m", "export_dir": "e", "export_quantization_bit": 4})


def test_overrides_read_like_yaml_values_and_bad_ones_are_named():
    assert read_override("learning_rate=1e-4") == ("learning_rate", 1e-4)
    assert read_override("packing=false") == ("packing", False)
    assert read_override("train.report_to=[wandb]") == ("train.report_to", ["wandb"])
    with pytest.raises(ConfigError, match="is not key=value"):
        read_override("learning_rate")
    with pytest.raises(ConfigError, match="aliases"):
        read_override("x=[&a [1,1], *a]")


def test_train_takes_overrides_of_a_studio_config_and_refuses_yamls_that_are_not_for_training(tmp_path):
    from engine.cli.training import _config_of

    studio = tmp_path / "run.yaml"
    RunConfig().save(studio)
    config, _ = _config_of(studio, ["train.learning_rate=1e-4", "lora_rank=4"])
    assert (config.train.learning_rate, config.method.lora_rank) == (1e-4, 4)
    with pytest.raises(ConfigError, match="neither a studio field"):
        _config_of(studio, ["no_such_key=1"])

    chat = tmp_path / "chat.yaml"
    chat.write_text(yaml.safe_dump({"model_name_or_path": "builtin:tiny-demo", "template": "chatml"}))
    refused = _engine("train", chat)
    assert refused.returncode == 2 and f"chat with it by  python -m engine chat {chat}" in refused.stderr
    predict = tmp_path / "predict.yaml"
    predict.write_text(yaml.safe_dump({**SFT, "do_train": False, "do_predict": True}))
    refused = _engine("train", predict)
    assert refused.returncode == 2 and f"python -m engine eval {predict} --generate" in refused.stderr


def test_llamafactory_cli_commands_answer_or_point_to_the_studios_way():
    assert "python launch.py" in _engine("webui").stdout
    assert "python -m engine serve" in _engine("api").stdout
    assert "Chat tab" in _engine("webchat").stdout
    assert _engine("version").stdout.startswith("Finetune Studio ")
    environment = _engine("env")
    assert environment.returncode == 0
    assert "- transformers: " in environment.stdout and "- devices: " in environment.stdout


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(f'{{"instruction": "q{i}", "output": "a{i}"}}\n' for i in range(2000)))
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    piped = subprocess.run(f"{sys.executable} -m engine data check {rows} | head -1", shell=True, cwd=PROJECT,
                           env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in piped.stderr and "BrokenPipeError" not in piped.stderr
