"""Coming from LLaMA-Factory (issue 16): hub entries of its dataset_info.json, a dataset_dir with its own registry,
v1 rows, `{{name}}` placeholders, and the LlamaBoard conveniences (mask_history, enable_thinking, NEFTune, extra
TrainingArguments, continuing a LoRA adapter).

The files are LLaMA-Factory-shaped and written here. There is no network (HF_HUB_OFFLINE=1): hub entries load
through the same datasets.load_dataset call from a local folder of parquet shards standing in for a Hub
repository, and a real Hub id must fail with a message that names the dataset and says the Hub is unreachable.
"""
import copy
import importlib.util
import json

import pytest

from engine.config.llamafactory import convert
from engine.data.checker import check_file, check_registered
from engine.data.conversion import load_conversations, load_preference_pairs
from engine.data.registry import DataError, dataset_names, read_registry, using_dataset_dir

ROWS = {"train-00000-of-00002": ("train", 12), "train-00001-of-00002": ("more", 8), "test-00000-of-00001": ("test", 6)}


def alpaca(tag: str, count: int) -> list[dict]:
    return [{"instruction": f"{tag} question {i}", "input": "", "output": f"{tag} answer {i}"} for i in range(count)]


@pytest.fixture
def lf_folder(tmp_path):
    """A LLaMA-Factory data/ folder: dataset_info.json with file, hub (a local folder standing in), script_url
    and offline entries; parquet shards in <hub>/data/ and <hub>/extra/."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "lf_data"
    hub = folder / "hub_repo"  # a local stand-in for a hub dataset lies inside the dataset folder
    (hub / "data").mkdir(parents=True)
    (hub / "extra").mkdir()
    for stem, (tag, count) in ROWS.items():
        pq.write_table(pa.Table.from_pylist(alpaca(tag, count)), hub / "data" / f"{stem}.parquet")
    pq.write_table(pa.Table.from_pylist(alpaca("extra", 3)), hub / "extra" / "train-00000-of-00001.parquet")
    (folder / "local.json").write_text(json.dumps(alpaca("local", 4)))
    (tmp_path / "elsewhere").mkdir()
    (folder / "scripted").mkdir()
    (folder / "scripted" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in alpaca("script", 5)))
    registry = {
        "local_alpaca": {"file_name": "local.json"},
        "hub_test": {"hf_hub_url": str(hub), "split": "test", "num_samples": 9},
        "hub_train": {"hf_hub_url": str(hub), "num_samples": 5},
        "hub_folder": {"hf_hub_url": str(hub), "folder": "extra"},
        "script_folder": {"script_url": "scripted"},
        "script_escape": {"script_url": "../elsewhere"},
        "hub_offline": {"hf_hub_url": "llamafactory/alpaca_en", "ms_hub_url": "llamafactory/alpaca_en"},
        "modelscope_only": {"ms_hub_url": "llamafactory/alpaca_en"},
        "demo_quick": {"file_name": "local.json"},  # a shipped demo's name: the dataset_dir's entry wins over it
    }
    (folder / "dataset_info.json").write_text(json.dumps(registry))
    return folder


# ---------------------------------------------------------------------------------------------------------
# Hub entries and dataset_dir


def test_hub_entries_load_parquet_shards_with_split_folder_and_num_samples(lf_folder):
    with using_dataset_dir(lf_folder):
        test = load_conversations("hub_test")
        train = load_conversations("hub_train")
        extra = load_conversations("hub_folder")
        script = load_conversations("script_folder")
        demo = load_conversations("demo_quick")  # the dataset_dir's entry wins over the shipped demo's
    questions = [conversation[0]["content"] for conversation in test]
    # split: test has 6 rows; num_samples 9 takes each once, then 3 repeats (LLaMA-Factory's rule)
    assert len(questions) == 9 and set(questions) == {f"test question {i}" for i in range(6)}
    assert len(train) == 5 and len({c[0]["content"] for c in train}) == 5  # drawn without repeats
    assert all(c[0]["content"].split()[0] in ("train", "more") for c in train)  # both train shards, no test rows
    assert [c[1]["content"] for c in extra] == ["extra answer 0", "extra answer 1", "extra answer 2"]  # folder
    assert len(script) == 5  # script_url: a data folder beside the registry
    assert demo[0][0]["content"] == "local question 0"


def test_a_hub_entry_offline_names_the_dataset_and_says_the_hub_is_unreachable(lf_folder):
    with using_dataset_dir(lf_folder):
        report = check_registered("hub_offline")
        with pytest.raises(DataError) as refused:
            load_conversations("hub_offline")
        escape = check_registered("script_escape")
        modelscope = check_registered("modelscope_only")
    assert not report.ok
    for said in (report.render(), str(refused.value)):
        assert "hub_offline" in said and "llamafactory/alpaca_en" in said
        assert "Hugging Face Hub, which cannot be reached from here (offline)" in said
    assert not escape.ok and "is a path outside the dataset folder" in escape.render()
    if importlib.util.find_spec("modelscope") is None:  # not a dependency: said, not a stack trace
        assert "needs the modelscope package: pip install modelscope" in modelscope.render()


def test_the_dataset_dir_registry_sits_between_the_demos_and_the_workspace(lf_folder, data_dirs):
    from engine.cli import main
    from engine.data.registry import add_registry_entry

    (data_dirs / "data" / "mine.json").write_text(json.dumps(alpaca("mine", 2)))
    add_registry_entry("local_alpaca", {"file_name": "mine.json"})
    assert "hub_test" not in read_registry() and "hub_test" in dataset_names(str(lf_folder))
    with using_dataset_dir(lf_folder):
        assert load_conversations("local_alpaca")[0][0]["content"] == "mine question 0"  # the workspace wins
        assert check_registered("hub_test").ok and check_registered("demo_quick").rows == 20  # the workspace copy
    assert dataset_names(str(data_dirs / "nothing-here")) == list(read_registry())
    with pytest.raises(DataError, match="holds no dataset_info.json"):
        with using_dataset_dir(data_dirs / "data"):
            pass
    assert main(["data", "check", "hub_train", "--dataset-dir", str(lf_folder)]) == 0
    assert main(["data", "check", "hub_train"]) == 1  # not registered without the folder


def test_start_checks_the_datasets_of_the_runs_dataset_dir(lf_folder, tmp_path):
    from conftest import demo_config
    from engine.runs.preflight import data_problems

    config = demo_config({"data.dataset_dir": str(lf_folder), "data.datasets": ["hub_train", "local_alpaca"]})
    assert data_problems(config) == []
    offline = data_problems(config.replace({"data.datasets": ["hub_offline"]}))
    assert len(offline) == 1 and "cannot be reached" in offline[0]
    missing = data_problems(config.replace({"data.dataset_dir": str(tmp_path)}))
    assert missing == [f"data.dataset_dir {tmp_path} holds no dataset_info.json; point it at a folder with "
                       "LLaMA-Factory's dataset_info.json (its data/ folder)"]


# ---------------------------------------------------------------------------------------------------------
# v1 rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def v1_message(role, *parts, weight=0.0):
    return {"role": role, "content": [{"type": kind, "value": value} for kind, value in parts], "loss_weight": weight}


TOOLS = json.dumps([{"name": "get_weather", "description": "Weather of a city",
                     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}])


def test_v1_conversations_with_reasoning_and_tool_parts_are_read(tmp_path, data_dirs):
    from engine.data.registry import add_registry_entry

    rows = [
        {"messages": [v1_message("user", ("text", "Hi")), v1_message("assistant", ("text", "Hello!"), weight=1.0)]},
        {"messages": [
            v1_message("system", ("text", "Be brief."), ("tools", TOOLS)),
            v1_message("user", ("text", "Weather in Paris?")),
            v1_message("assistant", ("reasoning", "I should call the tool."),
                       ("tool_calls", json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})),
                       weight=1.0),
            v1_message("tool", ("text", '{"sky": "sunny"}')),
            v1_message("assistant", ("text", "Sunny."), weight=1.0),
        ]},
    ]
    path = write_jsonl(data_dirs / "data" / "v1_sft.jsonl", rows)
    report = check_file(path)
    assert report.ok and report.detection.formatting == "openai", report.render()
    add_registry_entry("v1_sft", report.detection.registry_entry(path.name))
    first, second = load_conversations("v1_sft")
    assert first == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    assert second.tools[0]["function"]["name"] == "get_weather"
    assert second[0] == {"role": "system", "content": "Be brief."}
    assert second[2]["content"] == "<think>\nI should call the tool.\n</think>\n\n"
    assert second[2]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert [m["role"] for m in second[3:]] == ["tool", "assistant"]


def test_v1_preference_rows_become_a_prompt_and_two_answers(data_dirs):
    from engine.data.registry import add_registry_entry

    prompt = [v1_message("user", ("text", "Say hi."))]
    good = {"chosen_messages": [*prompt, v1_message("assistant", ("text", "Hello!"))],
            "rejected_messages": [*prompt, v1_message("assistant", ("text", "Go away."))]}
    plain = {"chosen": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}],
             "rejected": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "7"}]}
    path = write_jsonl(data_dirs / "data" / "v1_pairs.jsonl", [good, plain])
    report = check_file(path)
    assert report.ok and report.detection.formatting == "preference", report.render()
    add_registry_entry("v1_pairs", report.detection.registry_entry(path.name))
    assert load_preference_pairs("v1_pairs") == [
        {"prompt": [{"role": "user", "content": "Say hi."}], "chosen": "Hello!", "rejected": "Go away."},
        {"prompt": [{"role": "user", "content": "Name a colour."}], "chosen": "Blue.", "rejected": "7"},
    ]
    other = [v1_message("user", ("text", "Other.")), v1_message("assistant", ("text", "x"))]
    differ = {**good, "rejected_messages": other}
    bad = check_file(write_jsonl(data_dirs / "data" / "v1_bad.jsonl", [good, differ]))
    assert not bad.ok and "differ before their last message" in bad.render()


# ---------------------------------------------------------------------------------------------------------
# Placeholders


IDENTITY = [
    {"instruction": "hi", "input": "", "output": "Hello! I am {{name}}, an AI assistant developed by {{author}}."},
    {"instruction": "Who are you?", "input": "", "output": "I am {{name}}, made by {{author}}."},
    {"instruction": "What can you do?", "input": "", "output": "I answer questions."},
]


def test_placeholders_are_noted_and_filled_into_a_new_dataset(lf_folder, data_dirs):
    from engine.cli import main
    from engine.data.cleaning import save_filled

    (lf_folder / "identity.json").write_text(json.dumps(IDENTITY))
    registry = json.loads((lf_folder / "dataset_info.json").read_text())
    (lf_folder / "dataset_info.json").write_text(json.dumps({**registry, "identity": {"file_name": "identity.json"}}))
    with using_dataset_dir(lf_folder):
        report = check_registered("identity")
        assert report.ok  # a note, not a problem: code datasets may hold braces on purpose
        assert "note: 2 rows hold the placeholders {{name}}, {{author}}" in report.render()
        with pytest.raises(DataError, match="give a value for every placeholder: author"):
            save_filled("identity", "identity_filled", {"name": "Studio"})
        said = save_filled("identity", "identity_filled", {"name": "Studio", "author": "Acme, Inc"})
        assert said == "saved 3 rows as identity_filled with name = Studio, author = Acme, Inc filled in"
    outputs = [c[1]["content"] for c in load_conversations("identity_filled")]  # in the workspace registry now
    assert outputs[0] == "Hello! I am Studio, an AI assistant developed by Acme, Inc."
    assert check_registered("identity_filled").notes == []
    assert json.loads((lf_folder / "identity.json").read_text()) == IDENTITY  # the original is untouched
    assert main(["data", "fill", "identity", "--set", "name=Bot", "--set", "author=Me", "--as", "identity_bot",
                 "--dataset-dir", str(lf_folder)]) == 0
    assert load_conversations("identity_bot")[1][1]["content"] == "I am Bot, made by Me."


def test_the_data_tab_finds_and_fills_placeholders(lf_folder, data_dirs):
    from webui.tabs.data import picker_choices
    from webui.tabs.data_inspect import with_dataset_dir
    from webui.tabs.data_placeholders import find_in_dataset, save_filled_copy

    assert "hub_train" in picker_choices(str(lf_folder))[0]["choices"]  # typing the folder offers its datasets

    (data_dirs / "data" / "identity.json").write_text(json.dumps(IDENTITY))
    from engine.data.registry import add_registry_entry

    add_registry_entry("identity", {"file_name": "identity.json"})
    message, values, name = find_in_dataset("identity", "zh")
    assert "{{name}}, {{author}}" in message and values == "name=\nauthor=" and name == "identity_filled"
    said, picker, inspect = save_filled_copy("identity", "name=小助手\nauthor=星湾", name, ["identity"], "zh")
    assert said == "已将 3 行保存为 identity_filled，并填入 name = 小助手, author = 星湾"
    assert picker["value"] == ["identity_filled"] and inspect["value"] == "identity_filled"
    refused, _, _ = save_filled_copy("identity", "name=x", "other", [], "en")
    assert "give a value for every placeholder: author" in refused
    found, _, _ = with_dataset_dir(find_in_dataset)(str(lf_folder), "local_alpaca", "en")
    assert found == "local_alpaca holds no {{...}} placeholders."


# ---------------------------------------------------------------------------------------------------------
# LlamaBoard conveniences


def test_extra_arguments_are_checked_before_start_and_reach_the_trainer(tmp_path):
    from conftest import demo_config
    from engine.train.rules import validate
    from engine.train.trainer import training_arguments

    def problems(extra: str) -> list[str]:
        return [p for p in validate(demo_config({"train.extra_args": extra})) if "extra_args" in p]

    assert problems("") == [] and problems('{"optim": "adafactor", "adam_beta2": 0.99}') == []
    assert problems("optimm: adafactor") == ["train.extra_args: optimm is not a TrainingArguments option; close "
                                             "names: optim, optim_args"]
    assert problems('{"learning_rate": 1}') == ["train.extra_args: learning_rate is set by the studio from "
                                                "train.learning_rate; set that instead"]
    assert problems("output_dir: /tmp/x") == ["train.extra_args: output_dir is set by the studio itself and cannot "
                                              "be changed here"]
    assert "must be a JSON or YAML mapping" in problems("[1, 2]")[0]
    assert "TrainingArguments refuses these options" in problems('{"optim": "no-such-optimizer"}')[0]
    config = demo_config({"train.extra_args": '{"optim": "adafactor"}', "train.neftune_noise_alpha": 5})
    arguments = training_arguments(config, tmp_path, has_validation=False)
    assert arguments.optim == "adafactor" and arguments.neftune_noise_alpha == 5


def test_mask_history_trains_only_the_last_reply(tiny_tokenizer):
    from engine.data.encoding import IGNORE, encode_conversations
    from engine.data.templates import load_template

    conversation = [{"role": "user", "content": "First?"}, {"role": "assistant", "content": "One."},
                    {"role": "user", "content": "Second?"}, {"role": "assistant", "content": "Two."}]
    template = load_template("chatml")

    def trained(mask_history: bool) -> str:
        [example], _ = encode_conversations([conversation], template, tiny_tokenizer, 512, mask_history=mask_history)
        pairs = zip(example["input_ids"], example["labels"])
        return tiny_tokenizer.decode([token for token, label in pairs if label != IGNORE])

    assert trained(False) == "One.<|im_end|>Two.<|im_end|>"
    assert trained(True) == "Two.<|im_end|>"


THINKING_TEMPLATE = (  # Qwen3-like: a reply without a thought shows an empty one; so does the prompt, thinking off
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.role == 'assistant' and '<think>' not in m.content %}<think>\n\n</think>\n\n{% endif %}"
    "{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


def test_enable_thinking_off_removes_thoughts_from_replies_and_tells_the_template(tiny_tokenizer):
    from engine.data.encoding import IGNORE, encode_conversations
    from engine.data.templates import load_template, render_messages

    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.chat_template = THINKING_TEMPLATE
    conversation = [{"role": "user", "content": "2+2?"},
                    {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"}]
    thinking, plain = load_template("auto", tokenizer), load_template("auto", tokenizer, enable_thinking=False)
    assert render_messages(plain, tokenizer, conversation[:1], add_generation_prompt=True).endswith(
        "assistant\n<think>\n\n</think>\n\n")
    assert render_messages(thinking, tokenizer, conversation[:1], add_generation_prompt=True).endswith("assistant\n")

    def trained(template) -> str:
        [example], _ = encode_conversations([conversation], template, tokenizer, 512)
        return tokenizer.decode([t for t, label in zip(example["input_ids"], example["labels"]) if label != IGNORE])

    assert "add them" in trained(thinking) and "add them" not in trained(plain)
    assert trained(plain).startswith("4")


def test_llamafactory_keys_for_the_conveniences_carry_over(tmp_path):
    conversion = convert({"stage": "sft", "dataset": "identity", "template": "chatml", "dataset_dir": str(tmp_path),
                          "mask_history": True, "neftune_noise_alpha": 5, "enable_thinking": False,
                          "adapter_name_or_path": "saves/llama3-8b/lora/sft"})
    config = conversion.config
    assert (config.data.dataset_dir, config.data.mask_history, config.train.neftune_noise_alpha,
            config.model.enable_thinking, config.method.adapter_run) == (str(tmp_path), True, 5.0, False, "sft")
    assert not [line for line in conversion.ignored if "dataset_dir" in line or "neftune" in line]


def test_training_continues_a_finished_lora_adapter_on_hub_style_data(lf_folder, studio_dirs, tiny_model):
    """Run A trains a new adapter on a hub entry (local parquet shards) of a dataset_dir; run B continues A's
    adapter with NEFTune, mask_history and an extra TrainingArguments option: it starts from A's weights, so
    its first loss is below A's first, and its loss falls further."""
    from conftest import demo_config
    from engine.runs.events import EventLog, read_events
    from engine.runs.preflight import model_problems
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training
    from webui.tabs.method import adapter_runs

    def train(values: dict):
        config = demo_config({"data.dataset_dir": str(lf_folder), "data.datasets": ["hub_train", "local_alpaca"],
                              "data.val_size": 0.0, "data.cutoff_len": 64, "train.max_steps": 6,
                              "train.per_device_train_batch_size": 3, "train.logging_steps": 1,
                              "train.learning_rate": 0.01, **values})
        assert model_problems(config) == []
        run_dir = create_run(config)
        assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
        return run_dir, [event["loss"] for event in read_events(run_dir) if event.get("event") == "log"]

    first, first_losses = train({})
    adapter = str(first.relative_to(studio_dirs / "saves"))
    assert adapter in adapter_runs()  # the Method tab's "Continue adapter" offers it
    second, second_losses = train({"method.adapter_run": adapter, "data.mask_history": True,
                                   "train.neftune_noise_alpha": 5.0, "train.extra_args": '{"adam_beta2": 0.99}'})
    assert first_losses[-1] < first_losses[0]
    assert second_losses[0] < first_losses[0] and second_losses[-1] < second_losses[0]
    other_base = demo_config({"method.adapter_run": adapter, "model.name_or_path": str(tiny_model)})
    assert "was trained on builtin:tiny-demo" in model_problems(other_base)[-1]
    missing = demo_config({"method.adapter_run": "tiny-demo/lora/no-such-run"})
    assert "is not a finished LoRA run" in model_problems(missing)[-1]
