"""engine/data/formats.py FORMATS: every format is complete (detected, registered, checked and converted the
same way), and the sentence that says a dataset does not fit a stage."""
import json
import shutil
from pathlib import Path

import pytest

from engine.data.checker import check_file
from engine.data.conversion import KIND_LOADERS, dataset_kind, stage_data_problem
from engine.data.formats import FORMATS, KINDS, describe_kind, detect_format, registry_label
from engine.data.rules import misplaced_turn
from webui.i18n import localize

PROJECT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("label", list(FORMATS))
def test_every_format_round_trips_from_detection_to_training_data(label, tmp_path, monkeypatch):
    """detect → registry entry → the same label back → its kind's loader; a forgotten piece fails here."""
    spec = FORMATS[label]
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STUDIO_REGISTRY", str(tmp_path / "dataset_info.json"))
    for image in spec.example.get("images", []):  # a dataset with images brings them into its data folder
        (tmp_path / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / "data" / image, tmp_path / image)
    detection = detect_format([spec.example])
    assert detection.formatting == label and detection.confidence == 1.0
    assert spec.row_problems(spec.example, detection) == []
    path = tmp_path / f"{label}.jsonl"
    path.write_text(json.dumps(spec.example) + "\n", encoding="utf-8")
    assert check_file(path).ok
    entry = detection.registry_entry(path.name)
    assert entry.get("formatting", "alpaca") == spec.formatting
    (tmp_path / "dataset_info.json").write_text(json.dumps({label: entry}), encoding="utf-8")
    assert registry_label(entry) == label
    assert dataset_kind(label) == spec.kind in KINDS
    assert len(KIND_LOADERS[spec.kind](label)) == 1
    assert str(spec.holds()) and localize(spec.holds(), "zh") != str(spec.holds())


def test_every_kind_has_a_loader_and_a_description():
    assert set(KIND_LOADERS) == set(KINDS) == {spec.kind for spec in FORMATS.values()}
    assert [str(describe_kind(kind)) for kind in KINDS] == [
        "conversations", "preference pairs (chosen/rejected)", "unpaired answers marked good or bad (KTO)",
        "plain text", "conversations with images",
    ]


def test_turn_order_rule():
    assert misplaced_turn(["user", "assistant", "user", "assistant"]) is None
    assert misplaced_turn(["user", "user"]) == (1, "assistant")
    assert misplaced_turn(["user", "assistant", "user"]) == (3, "assistant")  # does not end with a reply
    assert misplaced_turn(["user"], last="user") is None  # a preference prompt
    assert misplaced_turn([]) == (0, "assistant")


def test_a_stage_is_told_which_data_it_needs(data_dirs):
    assert stage_data_problem("dpo", ("preference",), "demo_preference") is None
    assert stage_data_problem("sft", ("conversation",), "demo_sharegpt") is None
    problem = stage_data_problem("dpo", ("preference",), "demo_alpaca_en")
    assert problem.startswith("stage dpo needs preference pairs (chosen/rejected); demo_alpaca_en is alpaca "
                              "instructions: pick a dataset that holds them (demo_preference")  # and the way out
    chinese = "阶段 dpo 需要偏好对（chosen/rejected）；demo_alpaca_en 是alpaca 指令数据：请在“数据”页选择"
    assert localize(problem, "zh").startswith(chinese) and "demo_preference" in localize(problem, "zh")
    assert stage_data_problem("pt", ("text",), "demo_messages").startswith(
        "stage pt needs plain text; demo_messages is OpenAI-style messages: pick")
    assert stage_data_problem("ppo", ("conversation", "text"), "demo_preference").startswith(
        "stage ppo needs conversations or plain text; demo_preference is preference pairs (chosen/rejected): pick")
