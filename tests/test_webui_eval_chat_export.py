"""Evaluate, Chat and Export handlers without a browser, on a tiny LoRA run trained for real (12 steps)."""
import re
import threading

import gradio as gr
import pytest

from tests.conftest import train_demo_run
from webui import run_view
from webui.form import default_config
from webui.i18n import text


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("studio")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_SAVES_DIR", str(root / "saves"))
        patch.setenv("STUDIO_EXPORTS_DIR", str(root / "exports"))
        yield str(train_demo_run())


def model_values() -> dict:
    config = default_config()
    return {f"model.{name}": value for name, value in vars(config.model).items()}


# ---------------------------------------------------------------------------------------------------------
# Evaluate


def test_evaluation_streams_progress_rows_and_metrics(run):
    from webui.tabs.evaluate import stream_evaluate

    steps = list(stream_evaluate(run, "builtin:tiny-demo", ["demo_alpaca_en"], "all", 6, 2, 8, True, "en"))
    notes = [re.sub("<[^>]+>", "", progress) for progress, _, _ in steps]
    assert any("2 of 6 rows generated" in note for note in notes)  # partial results, not only the end
    assert "Done: 6 of 6 rows" in notes[-1] and "metrics.json" in notes[-1]
    _, metrics, rows = steps[-1]
    assert "| eval loss |" in metrics and "| BLEU-4 |" in metrics and "| ROUGE-L |" in metrics
    assert len(rows) == 6 and list(rows.columns)[:3] == ["prompt", "label", "prediction"]
    assert [len(r) for _, _, r in steps if len(r)] == [2, 4, 6, 6]


def test_evaluation_stops_and_fails_in_plain_words(run):
    from webui.tabs.evaluate import stream_evaluate

    stop = threading.Event()
    last = None
    for last in stream_evaluate(run, "", ["demo_alpaca_en"], "all", 6, 2, 4, True, "en", stop):
        if len(last[2]) == 2:
            stop.set()
    assert "Stopped after 2 of 6 rows" in last[0]
    failed = list(stream_evaluate(run, "", ["no_such_dataset"], "all", 2, 2, 4, True, "en"))
    assert failed[-1][1].startswith("**Evaluation failed:**") and "no_such_dataset" in failed[-1][1]


def test_base_vs_tuned_side_by_side_with_deltas(run):
    from webui.tabs.evaluate import stream_compare

    steps = list(stream_compare(run_view.BASE, run, model_values(), ["demo_alpaca_en"], "all", 4, 2, 8, "en"))
    progress, deltas, table = steps[-1]
    name = run.rsplit("/", 1)[-1]
    assert "4 of 4 prompts" in progress
    assert list(table.columns)[2:4] == ["base", name] and len(table) == 4
    base = text("pick.base", "en")  # the header names the base model as its picker does
    assert f"| metric | {base} | {name} | Δ ({name} − {base}) |" in deltas and re.search(
        r"\| BLEU-4 \|.*\| [+-]\d", deltas
    )
    same = list(stream_compare(run, run, model_values(), ["demo_alpaca_en"], "all", 4, 2, 8, "en"))
    assert "pick two different models" in same[-1][1]


# ---------------------------------------------------------------------------------------------------------
# Chat


def test_side_by_side_chat_streams_both_on_one_shared_base(run):
    from webui.tabs.chat import load_chat, reply
    from webui.loaded_models import LOADED

    message, sources, column_b = load_chat(run_view.BASE, run, model_values(), "en")
    assert message.startswith("Loaded **base | ") and column_b["visible"] is True
    assert LOADED.get(sources[0]).model is LOADED.get(sources[1]).model  # one base, adapter switched off for "base"
    steps = list(reply("What is LoRA?", [], [], sources, "Be brief.", 12, 0.0, 1.0, "en"))
    history, history_b, box = steps[-1]
    assert box == "" and len(steps) > 2
    assert [m["role"] for m in history] == [m["role"] for m in history_b] == ["user", "assistant"]
    assert history[-1]["content"] and history_b[-1]["content"]
    # A second turn keeps each side's own history.
    history, history_b, _ = list(reply("And QLoRA?", history, history_b, sources, "", 8, 0.0, 1.0, "en"))[-1]
    assert len(history) == len(history_b) == 4


def test_single_chat_stop_and_not_loaded(run):
    from webui.tabs.chat import load_chat, reply

    _, sources, column_b = load_chat(run, "", model_values(), "en")
    assert len(sources) == 1 and column_b["visible"] is False
    stop = threading.Event()
    stop.set()  # pressed before the first token: the reply ends at once, with the message still shown
    history, history_b, _ = list(reply("Hi", [], [], sources, "", 64, 0.7, 0.9, "en", stop))[-1]
    assert history[0] == {"role": "user", "content": "Hi"} and history_b == []
    assert list(reply("Hi", [], [], [], "", 8, 0.7, 0.9, "en"))[-1] == ([], [], "Hi")
    message, sources, _ = load_chat("/no/such/run", "", model_values(), "en")
    assert message.startswith("**Cannot load:**") and sources == []


def test_send_loads_the_picked_run_itself_saying_so_and_a_reload_keeps_the_chat_settings(run):
    from webui.tabs.chat import KEPT, ensure_loaded, kept_settings

    steps = list(ensure_loaded(run, "", [], model_values(), "zh"))
    assert steps[0][0].startswith("正在加载") and run.rsplit("/", 1)[-1] in steps[0][0]  # said before it loads
    message, sources, _ = steps[-1]
    assert message.startswith("已加载") and sources == [run]
    assert list(ensure_loaded(run, "", sources, model_values(), "zh")) == [(gr.skip(),) * 3]  # loaded: nothing
    failed = list(ensure_loaded("/no/such/run", "", sources, model_values(), "zh"))[-1]
    assert failed[0].startswith("**无法加载：**") and failed[1] == []

    kept = {"picked": run, "picked_b": "/deleted/run", "temperature": 0.0, "max_new_tokens": 64}
    restored = dict(zip(KEPT, kept_settings(kept, "zh")))
    assert restored["picked"]["value"] == run and restored["temperature"]["value"] == 0.0
    assert restored["picked_b"] == gr.skip() and restored["system"] == gr.skip()  # a deleted run is not restored


# ---------------------------------------------------------------------------------------------------------
# Export


def test_export_gguf_refusal_is_worded_for_the_user(run):
    from webui.tabs.export import export

    # The built-in model's made-up tokenizer is one llama.cpp's converter refuses (tests/test_gguf.py exports
    # and checks real families): the tab says so, in the page's language, and nothing was merged.
    steps = list(export(run, "ui-gguf", "2MB", False, ["f16"], True, "en"))
    assert steps[0][0].startswith("Exporting")
    message, files = steps[-1]
    assert message.startswith("**Export failed:**") and "so nothing was merged" in message, message
    assert files.empty
    message, _ = list(export(run, "ui-gguf", "2MB", False, ["f16"], True, "zh"))[-1]
    assert "分词器" in message and "没有进行合并" in message


def test_adapter_only_and_refusals(run):
    from webui.tabs.export import export

    message, files = list(export(run, "ui-adapter", "2GB", True, ["f16"], True, "en"))[-1]
    assert "Exported to" in message and "gguf" not in " ".join(files["file"])  # adapter only: GGUF ignored
    assert {"adapter_config.json", "README.md"} <= set(files["file"])
    message, _ = list(export(run, "ui-adapter", "2GB", True, [], False, "en"))[-1]
    assert message.startswith("**Export failed:**") and "already exists" in message
    message, _ = list(export(run, "ui-adapter", "2GB", True, [], False, "zh"))[-1]  # the refusal in 中文 too
    assert message.startswith("**导出失败：**") and "已存在" in message and "already" not in message
    assert list(export("", "", "2GB", False, [], False, "en"))[-1][0] == "Pick a finished run first."


def test_picking_a_run_brings_its_datasets_and_validation_split(tmp_path):
    from engine.config.schema import RunConfig
    from webui import run_view
    from webui.tabs.evaluate import follow_run, rows_table

    config = RunConfig().replace({"data.datasets": ["demo_alpaca_zh"], "data.val_size": 0.1})
    config.save(tmp_path / "config.yaml")
    datasets, split = follow_run(str(tmp_path))
    assert datasets["value"] == ["demo_alpaca_zh"] and split["value"] == "validation"
    assert follow_run(run_view.BASE) == (gr.skip(), gr.skip())
    assert list(rows_table([], "zh").columns)[:3] == ["提示词", "参考答案", "模型回答"]
