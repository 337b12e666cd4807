"""The web UI's handlers, without a browser: control values -> run config -> YAML and back, messages, locale."""
import json
import math
import re
import time
from pathlib import Path

import pytest

from engine.config.schema import RunConfig, all_fields
from webui import i18n, run_view
from webui.tabs.chat import plain_messages
from webui.form import config_from_values, default_config, values_from_config
from webui.next_steps import completed, go_to
from webui.tabs.method import method_visibility
from webui.tabs.train import load_config_file, preview_config, refresh_view, start_training, stop_training

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def app_form():
    """The form of a fully built page: which control is bound to which field."""
    from webui.app import build_app
    from webui.form import Form

    built = {}
    original = Form.__init__

    def remember(self, *args, **kwargs):
        original(self, *args, **kwargs)
        built["form"] = self

    Form.__init__ = remember
    try:
        build_app("en")
    finally:
        Form.__init__ = original
    return built["form"]



# ---------------------------------------------------------------------------------------------------------
# Form <-> config


def test_defaults_are_the_cpu_demo_preset():
    """The page starts from the quick demo: the built-in model learns demo_quick by heart (issue 15)."""
    config = default_config()
    assert config.model.name_or_path == "builtin:tiny-demo"
    assert config.data.datasets == ["demo_quick"]
    assert config == RunConfig.load("examples/quick_demo.yaml")


def test_every_run_field_has_exactly_one_control(app_form):
    expected = [f for f in all_fields() if not f.startswith("export.")]  # export options belong to the Export tab
    assert sorted(app_form.fields) == sorted(expected)


def test_every_chooser_offers_its_default(app_form):
    # The browser refuses a value that is not among a Radio's or Dropdown's choices.
    for dotted, control in app_form.controls.items():
        if getattr(control, "choices", None) is None or getattr(control, "allow_custom_value", False):
            continue
        offered = {value for _, value in control.choices}
        values = control.value if isinstance(control.value, list) else [control.value]
        assert set(values) <= offered, f"{dotted}: {values} not in {offered}"


def test_control_values_to_yaml_and_back(app_form):
    # What the browser hands back: numbers as floats, a typed learning rate, a multiselect list.
    values = dict(zip(app_form.fields, values_from_config(default_config(), app_form.fields)))
    values.update({
        "train.learning_rate": "5e-5",
        "train.per_device_train_batch_size": 4.0,
        "method.lora_rank": 32.0,
        "method.finetuning_type": "freeze",
        "data.datasets": ["demo_alpaca_en", "demo_sharegpt"],
        "train.run_name": "my-run",
    })
    config = config_from_values(values)
    assert config.train.learning_rate == 5e-5 and config.train.per_device_train_batch_size == 4
    again = RunConfig.from_yaml(config.to_yaml())
    assert again == config
    restored = values_from_config(again, app_form.fields)
    assert restored[app_form.fields.index("data.datasets")] == ["demo_alpaca_en", "demo_sharegpt"]
    assert restored[app_form.fields.index("method.lora_rank")] == 32


def test_preview_offers_the_yaml_for_download():
    yaml_text, path = preview_config({"train.learning_rate": 0.01})
    assert "learning_rate: 0.01" in yaml_text
    assert RunConfig.load(path).train.learning_rate == 0.01
    problems, none = preview_config({"train.seed": "abc"})
    assert none is None and "train.seed must be a whole number" in problems


def test_load_config_file(tmp_path, app_form):
    good = tmp_path / "good.yaml"
    RunConfig().replace({"train.learning_rate": 0.123}).save(good)
    values, message = load_config_file(str(good), app_form.fields, "en")
    assert values[app_form.fields.index("train.learning_rate")] == 0.123 and "good.yaml" in message
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  learning_rat: 1\n")
    values, message = load_config_file(str(bad), app_form.fields, "en")
    assert values is None and "unknown key 'train.learning_rat'" in message


def test_load_config_file_converts_a_llamafactory_yaml(tmp_path, app_form):
    source = tmp_path / "llama3_lora_sft.yaml"
    source.write_text("model_name_or_path: builtin:tiny-demo\nstage: sft\nfinetuning_type: lora\nlora_target: all\n"
                      "dataset: demo_alpaca_en\ntemplate: qwen\nlearning_rate: 3.0e-4\nneftune_noise_alpha: 5\n"
                      "use_unsloth: true\n")
    values, message = load_config_file(str(source), app_form.fields, "zh")
    assert values[app_form.fields.index("train.learning_rate")] == 3e-4
    assert values[app_form.fields.index("method.lora_target")] == "all-linear"
    assert values[app_form.fields.index("model.template")] == "chatml"
    assert values[app_form.fields.index("train.neftune_noise_alpha")] == 5
    assert "已加载 LLaMA-Factory 配置" in message and "use_unsloth：工作室暂无对应项" in message
    merge = tmp_path / "merge.yaml"
    merge.write_text("model_name_or_path: builtin:tiny-demo\nadapter_name_or_path: saves/x/lora/sft\n"
                     "export_dir: out\n")
    values, message = load_config_file(str(merge), app_form.fields, "en")
    assert values is None and "merge config" in message


# ---------------------------------------------------------------------------------------------------------
# Start / Stop: problems are explained instead of starting


def test_start_refuses_with_plain_problems_naming_fields_by_their_label_all_at_once(data_dirs):
    message, run_dir = start_training({"train.learning_rate": 0, "data.datasets": []}, "en")
    assert run_dir is None
    assert "Learning rate must be > 0.0" in message and "train.learning_rate" not in message
    assert "pick at least one dataset" in message
    assert "学习率 必须 > 0.0" in start_training({"train.learning_rate": 0}, "zh")[0]
    # A number box emptied by a typo ("abc") hides nothing else: every problem, each by its label, in Chinese.
    message, run_dir = start_training({"train.learning_rate": None, "train.max_steps": -3,
                                       "train.num_train_epochs": "three"}, "zh")
    assert run_dir is None and "未开始" in message
    assert "学习率 必须是数字（例如 0.0001 或 1e-4）；现在是 空" in message
    assert "训练轮数 必须是数字" in message and "最大步数 必须 ≥ 0" in message
    assert "train." not in message and "must" not in message
    assert not (data_dirs / "saves").exists() or not any((data_dirs / "saves").rglob("config.yaml"))


def test_stop_without_a_run(data_dirs):
    assert stop_training("", "en") == i18n.text("train.nothing_to_stop", "en")


def test_method_controls_follow_stage_and_type():
    fields = ["method.lora_rank", "method.freeze_trainable_layers", "method.num_virtual_tokens", "method.pref_beta"]

    def shown(stage, kind):
        return [u["visible"] for u in method_visibility(stage, kind, fields)]

    assert shown("sft", "lora") == [True, False, False, False]
    assert shown("sft", "freeze") == [False, True, False, False]
    assert shown("sft", "full") == [False, False, False, False]
    assert shown("sft", "prefix") == [False, False, True, False]
    assert shown("dpo", "lora") == [True, False, False, True]


# ---------------------------------------------------------------------------------------------------------
# Following a run from its files


def fake_run(saves: Path, name: str, events: list[dict]) -> Path:
    run_dir = saves / "tiny-demo" / "lora" / name
    run_dir.mkdir(parents=True)
    default_config().save(run_dir / "config.yaml")
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (run_dir / "train.log").write_text("loading\rloading done\nstep 2\n")
    return run_dir


def test_run_view_reads_the_run_directory(data_dirs):
    now = time.time()
    events = [
        {"event": "status", "status": "running", "time": now},
        {"event": "start", "total_steps": 10, "time": now},
        {"event": "log", "step": 2, "total_steps": 10, "loss": 3.0, "elapsed_s": 1.0, "eta_s": 4.0, "time": now},
        {"event": "eval", "step": 2, "eval_loss": 3.5, "time": now},
        {"event": "log", "step": 4, "total_steps": 10, "loss": 2.5, "elapsed_s": 2.0, "eta_s": 3.0, "time": now},
        {"event": "status", "status": "completed", "time": now},
    ]
    run_dir = fake_run(data_dirs / "saves", "done", events)
    curve = run_view.loss_curve(events)
    assert curve.dropna().to_dict("records") == [
        {"step": 2, "loss": 3.0, "series": "train loss"},
        {"step": 4, "loss": 2.5, "series": "train loss"},
        {"step": 2, "loss": 3.5, "series": "eval loss"},
    ]
    smoothed = run_view.loss_curve(events, smoothing=0.5, log_scale=True, lang="zh").dropna()
    assert set(smoothed.series) == {"训练损失", "训练损失（EMA 平滑）", "验证损失"}
    assert smoothed[smoothed.series == "训练损失"].loss.tolist() == pytest.approx([math.log10(3.0), math.log10(2.5)])
    assert run_view.attach_run() == str(run_dir)
    html = run_view.progress_html(str(run_dir), "en")
    assert "step 4/10" in html and "completed" in html and "data-status='completed'" in html
    assert "第 4/10 步" in run_view.progress_html(str(run_dir), "zh")
    assert run_view.log_tail(str(run_dir)).splitlines() == ["loading done", "step 2"]
    assert run_view.readable_log(events, "zh").splitlines() == [
        "第 2/10 步 · 损失 3.0000 · 学习率 0.00e+00 · 0 token/秒", "第 2 步 · 验证损失 3.5000",
        "第 4/10 步 · 损失 2.5000 · 学习率 0.00e+00 · 0 token/秒"]
    assert completed(str(run_dir)) and not completed("")
    tabs, picker = go_to("export", str(run_dir), "zh")
    assert tabs.selected == "export" and picker["value"] == str(run_dir)
    assert run_view.command_for(str(run_dir)) == f"python -m engine train {run_dir}/config.yaml"
    assert run_view.command_for("") == "python -m engine train run.yaml"
    history = run_view.history_table("en")
    assert history.iloc[0]["status"] == "completed" and history.iloc[0]["step"] == "4/10"
    assert run_view.run_dir_of_row(list(history.iloc[0])) == str(run_dir)


def test_timer_redraws_only_on_change_and_stops_once_the_run_has_ended(data_dirs):
    run_dir = str(fake_run(data_dirs / "saves", "r", [{"event": "status", "status": "completed", "time": 0}]))
    # The history's filters are None while the Train tab has not been drawn: they filter nothing.
    first = refresh_view(run_dir, "en", None, search=None, tag=None, archived=None)
    assert "completed" in first.progress and len(first.history) == 1
    assert first.next_steps["visible"] is True and first.timer.active is False  # an ended run: nothing to follow
    second = refresh_view(run_dir, "en", first.shown)
    assert all(update == {"__type__": "update"} for update in second[:-2])  # nothing changed: nothing sent
    assert refresh_view("", "en", None).timer.active is False


def test_a_page_reattaches_to_the_active_run(data_dirs):
    fake_run(data_dirs / "saves", "a-finished", [{"event": "status", "status": "completed", "time": 0}])
    running = fake_run(data_dirs / "saves", "b-starting", [])  # no events yet, a log: starting
    (running / "events.jsonl").unlink()
    assert run_view.attach_run() == str(running)


# ---------------------------------------------------------------------------------------------------------
# Data uploads


def test_upload_preview_and_import(data_dirs):
    from webui.tabs.data import ROLES, import_upload, preview_upload

    good = data_dirs / "my faq.json"
    good.write_text(json.dumps([{"instruction": "hi", "input": "", "output": "hello"}] * 3))
    found, rows, name, add, *roles = preview_upload(str(good), "auto", "en")
    assert "alpaca" in found and "3 rows" in found and name == "my_faq" and add["interactive"] is True
    mapping = dict(zip(ROLES, roles))
    assert mapping["prompt"]["value"] == "instruction" and mapping["prompt"]["visible"] and len(rows["value"]) == 3
    assert "output" in mapping["response"]["choices"] and not mapping["chosen"]["visible"]
    columns = [role["value"] for role in roles]
    message, picker = import_upload(str(good), name, "auto", "en", *columns)
    assert "my_faq" in message and picker["value"] == ["my_faq"]  # the new dataset replaces the demo
    message, picker = import_upload(str(good), "my_faq", "auto", "en", *columns)
    assert "already registered" in message and picker == {"__type__": "update"}


def test_a_broken_upload_names_row_and_field(data_dirs):
    from webui.tabs.data import import_upload, preview_upload

    bad = data_dirs / "bad.json"
    bad.write_text(json.dumps([{"instruction": "hi", "output": "hello"}, {"instruction": "q", "output": 5}]))
    found, *_ = preview_upload(str(bad), "auto", "en")
    assert re.search(r"row 2, field 'output'", found)
    registry_before = (data_dirs / "dataset_info.json").read_text()
    message, _ = import_upload(str(bad), "bad", "auto", "en")
    assert "row 2" in message and "nothing was registered" in message
    assert (data_dirs / "dataset_info.json").read_text() == registry_before


# ---------------------------------------------------------------------------------------------------------
# Language, launch, chat, dependency direction


def test_every_text_has_both_languages():
    for key, entry in i18n.TEXT.items():
        assert entry.get("en") and entry.get("zh"), key
    for dotted in all_fields():
        assert dotted in i18n.FIELDS, f"{dotted} has no label / Chinese text in webui/field_texts.py"
        en_label, zh_label, zh_help = i18n.FIELDS[dotted]
        assert en_label and zh_label and zh_help


def test_switching_language_relabels_tabs_and_fields():
    import gradio as gr

    labels = i18n.Labels("en")
    with gr.Blocks():
        tab = labels.tab("tab.train")
        labels.button("train.start")
        number = labels.field(gr.Number, "train.learning_rate")
    assert tab.label == "Train" and number.label == "Learning rate"
    updates = labels.updates("zh")
    assert updates == [
        {"__type__": "update", "label": "训练"},
        {"__type__": "update", "value": "开始"},
        {"__type__": "update", "label": "学习率", "info": "峰值学习率。"},
    ]
    assert labels.updates("en")[2]["info"] == "Peak learning rate."  # English help is the config's own
    # A chooser's word-like options (auto, none, on, off) read in the page's language; names stay names.
    with gr.Blocks():
        packing = labels.field(gr.Dropdown, "speed.packing", choices=i18n.option_choices("speed.packing", "en"))
    assert labels.updates("zh")[-1]["choices"] == [("自动", "auto"), ("开", "on"), ("关", "off")]
    assert packing.choices == [("auto", "auto"), ("on", "on"), ("off", "off")]
    assert ("bfloat16", "bfloat16") in i18n.option_choices("model.dtype", "zh")


def test_launch_refuses_open_hosts_without_a_password():
    import launch

    assert launch.check_access("127.0.0.1", None, False) is None
    assert launch.check_access("0.0.0.0", "me:secret", False) == ("me", "secret")
    with pytest.raises(SystemExit, match="--auth user:password"):
        launch.check_access("0.0.0.0", None, False)
    with pytest.raises(SystemExit, match="user:password"):
        launch.check_access("0.0.0.0", "nopassword", False)


def test_chat_history_becomes_plain_messages():
    history = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": "hello"},
    ]
    assert plain_messages(history, "be brief") == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    assert plain_messages([], "  ") == []


def test_engine_never_imports_the_ui():
    for path in (PROJECT / "engine").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import)\s+(gradio|webui)\b", source, re.M), path.name


def test_the_page_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, webui.app; webui.app.build_app(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_evaluate_the_base_model(data_dirs):
    from webui.tabs.evaluate import evaluate

    message = evaluate(run_view.BASE, "builtin:tiny-demo", "demo_alpaca_en", 128, 4, 4, "en")
    assert re.search(r"eval loss \*\*\d+\.\d{4}\*\*, perplexity \*\*\d+\.\d{2}\*\* \(4 examples", message), message
    message = evaluate(run_view.BASE, "builtin:tiny-demo", "no_such_dataset", 128, 4, 4, "en")
    assert message.startswith("**Evaluation failed:**") and "no_such_dataset" in message


def test_memory_panel_estimates_and_auto_configures():
    from engine.config.schema import all_fields
    from webui.form import default_config
    from webui.memory_panel import auto_configured_values, estimate_markdown

    values = {f: default_config().get(f) for f in all_fields()}
    assert "MiB" in estimate_markdown(values, "en")  # the demo model is tiny
    values.update({"model.name_or_path": "Qwen/Qwen2.5-7B-Instruct", "data.cutoff_len": 2048,
                   "train.per_device_train_batch_size": 16})
    assert "放不下" in estimate_markdown(values, "zh") or "放得下" in estimate_markdown(values, "zh")
    new_values, message = auto_configured_values(values, all_fields(), "en")
    fitted = dict(zip(all_fields(), new_values))
    assert fitted["train.per_device_train_batch_size"] * fitted["train.gradient_accumulation_steps"] == 16
    assert message.startswith("Fitted to")


# ---------------------------------------------------------------------------------------------------------
# What the browser keeps (webui/page_state.py)


def test_a_kept_form_comes_back_and_what_no_longer_fits_is_dropped(data_dirs):
    from webui.form import default_config
    from webui.page_state import defaults, restored, saved, summary

    base, fields = default_config(), ["data.datasets", "train.learning_rate", "method.stage"]
    kept = saved(fields, "zh", ["demo_alpaca_zh", "gone_dataset"], 0.01, "no_such_stage")
    kept["form"]["old.field"] = 3
    language, datasets, rate, stage = restored(kept, fields, base, "en")
    assert language == "zh" and datasets["value"] == ["demo_alpaca_zh"] and "demo_alpaca_zh" in datasets["choices"]
    assert rate["value"] == 0.01 and stage["value"] == base.method.stage
    assert restored(None, fields, base, "en")[0] == "en"
    assert [update["value"] for update in defaults(fields, base)] == [base.get(dotted) for dotted in fields]
    line = summary(base.replace({"data.datasets": ["demo_alpaca_zh"]}), "zh")
    assert "builtin:tiny-demo" in line and "demo_alpaca_zh（" in line and " 行）" in line


def test_a_language_switch_translates_table_headers_and_keeps_the_rows():
    import pandas as pd

    from engine.use.metrics import METRICS
    from webui.tabs.evaluate import rows_table

    table = rows_table([{"prompt": "hi", "label": "hello", "prediction": "hey",
                         "scores": dict.fromkeys(METRICS, 1.0)}], "en")
    chinese = i18n.translated_columns(table, "zh")
    assert list(chinese.columns[:3]) == ["提示词", "参考答案", "模型回答"] and chinese.iloc[0, 0] == "hi"
    assert list(i18n.translated_columns(chinese, "en").columns) == list(table.columns)
    assert list(i18n.translated_columns(pd.DataFrame(columns=["file", "size"]), "zh").columns) == ["文件", "大小"]


def test_an_engine_error_shown_in_a_ui_sentence_is_in_the_page_language():
    from engine.data.registry import DataError
    from engine.messages import say
    from webui.i18n import text

    error = DataError(say("check.not_registered", name="demo"))
    english, chinese = text("evaluate.failed", "en", error=error), text("evaluate.failed", "zh", error=error)
    assert str(error) in english and str(error) not in chinese and "demo" in chinese
    # A library's own words stay as they are, quoted as such in Chinese.
    assert text("evaluate.failed", "zh", error=ValueError("plain words")).endswith("：** 「plain words」")
    assert text("evaluate.failed", "en", error=ValueError("plain words")) == "**Evaluation failed:** plain words"
