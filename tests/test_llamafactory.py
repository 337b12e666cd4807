"""LLaMA-Factory YAMLs (written here in its flat shape) convert to studio runs, and one really trains and merges."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import PROJECT, end_workers
from engine.config.llamafactory import MergePlan, convert, convert_file, converted_path, is_llamafactory
from engine.config.schema import ConfigError, RunConfig
from engine.models.loading import ships_chat_template
from engine.runs.events import read_events
from engine.train.rules import validate

COMMON = {
    "model_name_or_path": "builtin:tiny-demo",
    "do_train": True,
    "template": "llama3",
    "cutoff_len": 1024,
    "max_samples": 100,
    "overwrite_cache": True,
    "preprocessing_num_workers": 16,
    "logging_steps": 10,
    "save_steps": 500,
    "plot_loss": True,
    "overwrite_output_dir": True,
    "per_device_train_batch_size": 1,
    "gradient_accumulation_steps": 8,
    "learning_rate": 1.0e-4,
    "num_train_epochs": 3.0,
    "lr_scheduler_type": "cosine",
    "warmup_ratio": 0.1,
    "bf16": True,
    "ddp_timeout": 180000000,
}

# stage -> (what its YAML adds, what the studio config must then say)
STAGE_YAMLS = {
    "sft": ({"stage": "sft", "finetuning_type": "lora", "lora_rank": 16, "lora_target": "all",
             "dataset": "identity,alpaca_en_demo", "output_dir": "saves/llama3-8b/lora/sft"},
            {"method.stage": "sft", "method.lora_rank": 16, "method.lora_alpha": 32,
             "method.lora_target": "all-linear",
             "data.datasets": ["identity", "alpaca_en_demo"], "train.run_name": "sft"}),
    "dpo": ({"stage": "dpo", "finetuning_type": "lora", "lora_target": "q_proj,v_proj", "pref_beta": 0.2,
             "pref_loss": "sigmoid", "dataset": "dpo_en_demo", "output_dir": "saves/llama3-8b/lora/dpo"},
            {"method.stage": "dpo", "method.pref_beta": 0.2, "method.pref_loss": "sigmoid",
             "method.lora_target": "q_proj,v_proj"}),
    "orpo": ({"stage": "dpo", "pref_loss": "orpo", "dataset": "dpo_en_demo"}, {"method.stage": "orpo"}),
    # TRL's KTO cannot train one example per step: two, with half the accumulation (engine/config/llamafactory.py)
    "kto": ({"stage": "kto", "finetuning_type": "lora", "pref_beta": 0.1, "dataset": "kto_en_demo"},
            {"method.stage": "kto", "data.datasets": ["kto_en_demo"], "train.per_device_train_batch_size": 2,
             "train.gradient_accumulation_steps": 4}),
    "pt": ({"stage": "pt", "finetuning_type": "lora", "dataset": "c4_demo"},
           {"method.stage": "pt", "data.datasets": ["c4_demo"]}),
    "rm": ({"stage": "rm", "finetuning_type": "lora", "dataset": "dpo_en_demo"}, {"method.stage": "rm"}),
    "full": ({"stage": "sft", "finetuning_type": "full", "dataset": "alpaca_en_demo", "fp16": True},
             {"method.finetuning_type": "full", "model.dtype": "float16"}),
}


@pytest.mark.parametrize("name", list(STAGE_YAMLS))
def test_each_stage_yaml_converts_to_a_valid_run(tmp_path, name):
    added, expected = STAGE_YAMLS[name]
    source = tmp_path / f"llama3_{name}.yaml"
    source.write_text(yaml.safe_dump({**COMMON, **added}), encoding="utf-8")
    assert is_llamafactory(yaml.safe_load(source.read_text()))

    conversion = convert_file(source, ships_chat_template)
    config = conversion.config
    assert validate(config) == []
    for dotted, value in expected.items():
        assert config.get(dotted) == value, dotted
    accumulation = expected.get("train.gradient_accumulation_steps", 8)
    assert (config.model.template, config.train.learning_rate, config.train.gradient_accumulation_steps,
            config.data.cutoff_len) == ("llama3", 1e-4, accumulation, 1024)
    assert RunConfig.load(converted_path(source)) == config  # saved beside it, and it reads back the same
    report = "\n".join(conversion.report())
    assert "learning_rate → train.learning_rate = 0.0001" in report
    assert "handled by the studio itself" in report and "ddp_timeout" in report


def test_unknown_keys_are_reported_and_defaults_follow_llamafactory():
    conversion = convert({"model_name_or_path": "builtin:tiny-demo", "stage": "sft", "dataset": "a",
                          "use_unsloth": True, "template": "chatml"})
    assert "use_unsloth: no equivalent in the studio yet; ignored" in conversion.ignored
    config = conversion.config
    # Left out: LLaMA-Factory's (Hugging Face's) defaults, not the studio's.
    assert (config.train.learning_rate, config.train.per_device_train_batch_size, config.train.lr_scheduler_type,
            config.data.cutoff_len, config.method.lora_target) == (5e-5, 8, "linear", 2048, "all-linear")


def test_template_names_map_to_ours_to_auto_or_are_refused_with_close_names(tmp_path):
    base = {"stage": "sft", "dataset": "a"}
    assert convert({**base, "template": "qwen"}).config.model.template == "chatml"
    assert convert({**base, "template": "phi"}).config.model.template == "phi3"
    # The built-in model ships a chat template of its own: qwen3_nothink uses it.
    own = convert({**base, "model_name_or_path": "builtin:tiny-demo", "template": "qwen3_nothink"},
                  ships_chat_template)
    assert own.config.model.template == "auto"
    bare = tmp_path / "bare-model"
    bare.mkdir()
    (bare / "tokenizer_config.json").write_text('{"model_max_length": 128}')
    with pytest.raises(ConfigError) as refused:
        convert({**base, "model_name_or_path": str(bare), "template": "llama3_1"}, ships_chat_template)
    assert "close names: llama3" in str(refused.value)


def test_stages_without_an_equivalent_are_refused():
    with pytest.raises(ConfigError, match="stage ppo has no equivalent"):
        convert({"stage": "ppo", "dataset": "a"})
    with pytest.raises(ConfigError, match="pref_loss kto_pair has no equivalent"):
        convert({"stage": "dpo", "pref_loss": "kto_pair", "dataset": "a"})


def test_a_merge_yaml_becomes_an_export_of_the_run_its_adapter_names():
    conversion = convert({"model_name_or_path": "builtin:tiny-demo",
                          "adapter_name_or_path": "saves/llama3-8b/lora/sft",
                          "template": "llama3", "finetuning_type": "lora", "export_dir": "output/llama3_lora_sft",
                          "export_size": 5, "export_device": "cpu", "export_legacy_format": False})
    assert conversion.config is None
    assert conversion.merge == MergePlan("saves/llama3-8b/lora/sft", "builtin:tiny-demo", "llama3_lora_sft", "5GB")


def test_start_refuses_templates_lora_targets_and_data_the_run_cannot_use(studio_dirs, tiny_model):
    from engine.runs.preflight import preflight

    config = RunConfig().replace({"model.template": "qwen3_nothink", "method.lora_target": "q_proj,query_key_value",
                                  "method.stage": "dpo"})
    problems = "\n".join(preflight(config))
    assert "model.template qwen3_nothink is not a studio template" in problems
    assert "modules this model does not have: query_key_value" in problems
    assert "stage dpo needs preference pairs (chosen/rejected); demo_alpaca_en is alpaca instructions" in problems


def test_a_llamafactory_sft_yaml_trains_and_its_merge_yaml_exports(studio_dirs, tiny_model, tmp_path):
    """The CLI path end to end: convert + train a short run, then the merge YAML exports that run."""
    train = tmp_path / "tiny_lora_sft.yaml"
    train.write_text(yaml.safe_dump({
        "model_name_or_path": "builtin:tiny-demo", "stage": "sft", "do_train": True, "finetuning_type": "lora",
        "lora_target": "all", "dataset": "demo_alpaca_en", "template": "chatml", "cutoff_len": 96,
        "max_samples": 8, "output_dir": "saves/tiny/lora/sft", "logging_steps": 10, "max_steps": 2,
        "per_device_train_batch_size": 4, "learning_rate": 2.0e-3, "plot_loss": True, "report_to": "none",
    }))
    merge = tmp_path / "tiny_merge.yaml"
    merge.write_text(yaml.safe_dump({
        "model_name_or_path": "builtin:tiny-demo", "adapter_name_or_path": "saves/tiny/lora/sft",
        "template": "chatml", "export_dir": "output/tiny_lora_sft", "export_size": 1,
    }))
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    try:
        # key=value after the YAML, as llamafactory-cli takes them: its own keys and the studio's dotted fields
        trained = subprocess.run([sys.executable, "-m", "engine", "train", str(train), "max_steps=8",
                                  "train.logging_steps=1"], cwd=PROJECT, env=env,
                                 capture_output=True, text=True, timeout=600)
        assert trained.returncode == 0, trained.stdout + trained.stderr
        assert "lora_target → method.lora_target = all-linear" in trained.stdout
        assert "max_steps → train.max_steps = 8" in trained.stdout
        assert converted_path(train).is_file()
        (run_dir,) = (studio_dirs / "saves" / "tiny-demo" / "lora").glob("sft")
        losses = [event["loss"] for event in read_events(run_dir) if event["event"] == "log"]
        assert len(losses) == 8 and sum(losses[-2:]) < sum(losses[:2])  # the same 8 examples, seen 4 times

        # A newer full-SFT run with the same folder name must not be what the merge YAML exports.
        from engine.runs.store import create_run

        create_run(RunConfig().replace({"method.finetuning_type": "full", "train.run_name": "sft"}))

        merged = subprocess.run([sys.executable, "-m", "engine", "train", str(merge)], cwd=PROJECT, env=env,
                                capture_output=True, text=True, timeout=600)
        assert merged.returncode == 0, merged.stdout + merged.stderr
        assert (studio_dirs / "exports" / "tiny_lora_sft" / "config.json").is_file()
        card = (studio_dirs / "exports" / "tiny_lora_sft" / "README.md").read_text()
        assert "| stage / method | sft / lora |" in card
    finally:
        end_workers(studio_dirs / "saves")




def test_video_and_audio_entries_are_refused_not_silently_dropped(data_dirs):
    from engine.data.checker import check_registered
    from engine.runs.preflight import data_problems

    registry = json.loads((data_dirs / "dataset_info.json").read_text())
    (data_dirs / "data" / "clips.json").write_text(json.dumps([
        {"messages": [{"role": "user", "content": "<video>What happens?"}, {"role": "assistant", "content": "A cat."}],
         "videos": ["clips/1.mp4"]}]))
    registry["clips"] = {"file_name": "clips.json", "formatting": "sharegpt",
                         "columns": {"messages": "messages", "videos": "videos"},
                         "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                  "assistant_tag": "assistant"}}
    (data_dirs / "dataset_info.json").write_text(json.dumps(registry))
    expected = "dataset clips declares videos columns; the studio cannot train on video or audio yet"
    assert expected in check_registered("clips").render()
    assert expected in "\n".join(data_problems(RunConfig().replace({"data.datasets": ["clips"]})))


# ---------------------------------------------------------------------------------------------------------
# Tool calling: sharegpt function_call / observation turns with a tools column, and OpenAI tool_calls / tool

WEATHER_TOOL = {"name": "get_weather", "description": "Current weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
CALL = {"name": "get_weather", "arguments": {"city": "Paris"}}


def _register_tool_datasets(root):
    sharegpt = [{"conversations": [
        {"from": "human", "value": "Weather in Paris?"},
        {"from": "function_call", "value": json.dumps(CALL)},
        {"from": "observation", "value": '{"temp_c": 21}'},
        {"from": "gpt", "value": "It is 21 °C in Paris."},
    ], "tools": json.dumps([WEATHER_TOOL])}]
    openai = [{"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": CALL}]},
        {"role": "tool", "content": '{"temp_c": 21}'},
        {"role": "assistant", "content": "It is 21 °C in Paris."},
    ], "tools": [WEATHER_TOOL]}]
    (root / "data" / "glaive_like.json").write_text(json.dumps(sharegpt))
    (root / "data" / "openai_tools.json").write_text(json.dumps(openai))
    registry = json.loads((root / "dataset_info.json").read_text())
    registry["glaive_like"] = {"file_name": "glaive_like.json", "formatting": "sharegpt",
                               "columns": {"messages": "conversations", "tools": "tools"}}
    registry["openai_tools"] = {"file_name": "openai_tools.json", "formatting": "sharegpt",
                                "columns": {"messages": "messages", "tools": "tools"},
                                "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                         "assistant_tag": "assistant", "observation_tag": "tool"}}
    (root / "dataset_info.json").write_text(json.dumps(registry))


@pytest.mark.parametrize("name", ["glaive_like", "openai_tools"])
def test_tool_calls_train_the_calls_and_replies_but_not_the_tool_answers(data_dirs, tiny_tokenizer, name):
    """Golden: the trained text is exactly the call and the final reply, each with its end marker."""
    from engine.data.checker import check_registered
    from engine.data.conversion import load_conversations
    from engine.data.encoding import IGNORE, encode_conversations
    from engine.data.templates import load_template

    _register_tool_datasets(data_dirs)
    assert check_registered(name).ok, check_registered(name).render()
    (conversation,) = load_conversations(name)
    assert conversation.tools == [{"type": "function", "function": WEATHER_TOOL}]
    (example,), _ = encode_conversations([conversation], load_template("chatml"), tiny_tokenizer, cutoff_len=1024)
    ids, labels = example["input_ids"], example["labels"]
    trained, run = [], []
    for token, label in zip(ids, labels):
        if label != IGNORE:
            run.append(token)
        elif run:
            trained.append(tiny_tokenizer.decode(run))
            run = []
    trained += [tiny_tokenizer.decode(run)] if run else []
    assert trained == ['<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>',
                       "It is 21 °C in Paris.<|im_end|>"]
    prompt = tiny_tokenizer.decode(ids)
    assert '"name": "get_weather", "description": "Current weather of a city"' in prompt  # the schema is offered
    assert '<|im_start|>user\n<tool_response>\n{"temp_c": 21}\n</tool_response><|im_end|>' in prompt


def test_a_template_without_tool_support_refuses_tool_data(data_dirs, tiny_tokenizer):
    from engine.data.conversion import load_conversations
    from engine.data.templates import assistant_spans, load_template

    _register_tool_datasets(data_dirs)
    (conversation,) = load_conversations("glaive_like")
    with pytest.raises(ValueError, match="template 'llama3' does not render tools"):
        assistant_spans(load_template("llama3"), tiny_tokenizer, conversation)


def test_chat_round_trip_with_a_tool_on_the_builtin_model(tiny_model):
    """The user offers a tool, the model's call is parsed, the user answers as the tool, the model goes on."""
    from engine.config.schema import ModelConfig
    from engine.data.templates import render_messages
    from engine.use.chat import build_messages, load_base_for_chat, parse_tool_calls, stream_reply
    from webui.tabs.chat import TOOL_TITLE, plain_messages, read_tools

    tools = read_tools(json.dumps([WEATHER_TOOL]))
    assert tools == [{"type": "function", "function": WEATHER_TOOL}]
    call_text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    assert parse_tool_calls("Let me check.\n" + call_text) == [CALL]
    history = plain_messages([{"role": "user", "content": "Weather in Paris?"},
                              {"role": "assistant", "content": call_text}], "")
    messages = build_messages("", history, '{"temp_c": 21}', role="tool")
    chat = load_base_for_chat(ModelConfig())
    prompt = render_messages(chat.template, chat.tokenizer, messages, add_generation_prompt=True, tools=tools)
    assert "<tools>" in prompt and call_text + "<|im_end|>" in prompt
    assert prompt.endswith('<tool_response>\n{"temp_c": 21}\n</tool_response><|im_end|>\n<|im_start|>assistant\n')
    replies = list(stream_reply(chat, messages, max_new_tokens=8, temperature=0, tools=tools))
    assert replies and replies[-1].strip()
    # A message sent as the tool's answer comes back from the chatbot as a tool turn.
    sent = plain_messages([{"role": "user", "content": "{}", "metadata": {"title": TOOL_TITLE}}], "")
    assert sent == [{"role": "tool", "content": "{}"}]
