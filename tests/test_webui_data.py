"""The Data tab's handlers without a browser: uploads and their reports, the token view, the length
histogram, stats, and cleaning saved as a new dataset. They run the built-in tiny model's tokenizer."""
import json
import re
from pathlib import Path

import pytest

from webui.tabs.data_cleaning import clean, save_cleaned
from webui.tabs.data_inspect import show_lengths, show_packing, show_stats, show_tokens, tokenizer_for
from webui.tabs.data import import_upload, preview_upload

PROJECT = Path(__file__).resolve().parent.parent
BAD = PROJECT / "tests" / "data" / "bad"
MODEL = ("builtin:tiny-demo", "auto", False)  # model name, template, trust_remote_code: the demo preset's



def first_alpaca_row() -> dict:
    return json.loads((PROJECT / "data" / "demo_alpaca_en.json").read_text(encoding="utf-8"))[0]


# ---------------------------------------------------------------------------------------------------------
# Uploads: the same report as `python -m engine data check`, nothing registered for a bad file


def test_a_good_upload_states_format_and_confidence(data_dirs):
    good = data_dirs / "faq.json"
    good.write_text(json.dumps([{"instruction": "hi", "input": "", "output": "hello"}] * 4))
    found, _, _, add, *_ = preview_upload(str(good), "auto", "en")
    assert add["interactive"] is True
    assert "**alpaca** with 100% confidence, 4 rows" in found and "looks like alpaca" in found
    assert "usable: no problems found" in found  # Report.render(), as the CLI prints it


@pytest.mark.parametrize("name, message", [
    ("invalid_json.json", "a comma before `}` on line 2"),
    ("sharegpt_out_of_order.json", "turns out of order: turn 2 is from 'human' but should be from 'gpt'"),
    ("preference_identical.json", "field 'rejected': is identical to 'chosen'"),
])
def test_a_bad_upload_gets_its_specific_message(data_dirs, name, message):
    found, _, _, add, *_ = preview_upload(str(BAD / name), "auto", "en")
    assert "Cannot use this file" in found and message in found and add["interactive"] is False


def test_no_bad_file_raises_or_registers_anything(data_dirs):
    registry = (data_dirs / "dataset_info.json").read_text()
    # long_row.json is bad only against a cutoff length (`data check --cutoff-len`), which uploads do not check.
    for path in sorted(set(BAD.iterdir()) - {BAD / "long_row.json"}):
        found, _, name, *_ = preview_upload(str(path), "auto", "en")
        message, picker = import_upload(str(path), name or "bad", "auto", "en")
        assert "Cannot use this file" in message and picker == {"__type__": "update"}, path.name
    assert (data_dirs / "dataset_info.json").read_text() == registry
    assert sorted(p.name for p in (data_dirs / "data").iterdir()) == sorted(
        p.name for p in (PROJECT / "data").iterdir()
    )


def english_sentences(shown: str) -> list[str]:
    """Runs of four or more English words in `shown`, leaving out what is the user's or a program's own text:
    `code`, quoted names and values ('x', "x", 「library message」) and file names."""
    plain = re.sub(r"`[^`\n]*`|'[^'\n]*'|\"[^\"\n]*\"|「[^」]*」|\S+\.(?:jsonl?|csv|parquet|txt|xlsx)\b", " ", shown)
    return re.findall(r"[A-Za-z]{2,}(?:[ ,;:/()-]+[A-Za-z]{2,}){3,}", plain)


def test_the_bad_file_corpus_reads_in_chinese(data_dirs):
    for path in sorted(BAD.iterdir()):
        found, *_ = preview_upload(str(path), "auto", "zh")
        assert "无法使用此文件" in found or "检测到格式" in found, path.name
        assert not english_sentences(found), (path.name, english_sentences(found), found)


# ---------------------------------------------------------------------------------------------------------
# Token view, histogram, stats


def test_token_view_marks_the_reply_trained_and_the_prompt_masked(data_dirs):
    update, counts = show_tokens("demo_alpaca_en", 1, *MODEL, False, "en")
    spans, colors = update["value"], update["color_map"]
    assert set(colors) == {"trained", "masked (no loss)"} and {category for _, category in spans} == set(colors)
    trained = "".join(piece for piece, category in spans if category == "trained")
    assert trained == first_alpaca_row()["output"] + tokenizer_for("builtin:tiny-demo").eos_token
    assert first_alpaca_row()["instruction"] in "".join(piece for piece, category in spans if category != "trained")
    assert re.search(rf"Row 1 of 135: \*\*{len(spans)} tokens\*\*", counts)


def test_train_on_prompt_trains_more_tokens(data_dirs):
    masked_only, _ = show_tokens("demo_alpaca_en", 1, *MODEL, False, "en")
    with_prompt, _ = show_tokens("demo_alpaca_en", 1, *MODEL, True, "en")
    trained = [sum(category == "trained" for _, category in update["value"]) for update in (masked_only, with_prompt)]
    assert trained[1] > trained[0]


def test_token_view_in_chinese_clamps_the_row(data_dirs):
    update, counts = show_tokens("demo_alpaca_zh", 999, *MODEL, False, "zh")
    assert set(update["color_map"]) == {"训练", "屏蔽（不计损失）"}
    assert counts.startswith("第 131 行（共 131 行）")


def test_views_refuse_clearly_instead_of_raising(data_dirs):
    _, message = show_tokens("demo_preference", 1, *MODEL, False, "en")
    assert "demo_preference** is preference data" in message
    _, message = show_tokens("demo_alpaca_en", 1, "no-such/model-anywhere", "auto", False, False, "en")
    assert message.startswith("**Cannot show this:**") and "no-such/model-anywhere" in message
    figure, message = show_lengths("demo_alpaca_en", "builtin:tiny-demo", "no_such_template", False, 256, "en")
    assert figure is None and "unknown chat template" in message
    assert show_stats("", "en") == "Pick a registered dataset first."


def test_histogram_draws_the_cutoff_and_counts_truncated_rows(data_dirs):
    from matplotlib.figure import Figure

    figure, sentence = show_lengths("demo_alpaca_en", "builtin:tiny-demo", "auto", False, 48.0, "en")
    assert isinstance(figure, Figure)
    assert list(figure.axes[0].lines[0].get_xdata()) == [48, 48]  # the dashed cutoff line
    truncated = int(
        re.search(r"\*\*(\d+) of 135 rows would be truncated\*\* at the cutoff length of 48", sentence).group(1)
    )
    assert 0 < truncated < 135
    figure, sentence = show_lengths("demo_alpaca_en", "builtin:tiny-demo", "auto", False, 48, "zh")
    assert f"135 行中有 {truncated} 行会被截断" in sentence and figure.axes[0].get_xlabel() == "每行 token 数"


def test_packing_view_shows_which_rows_share_a_packed_row(data_dirs):
    # cutoff 256, batches of 4, packing auto, pack_length 0 (= the cutoff), sft with LoRA: the quick demo's
    view = show_packing("demo_alpaca_en", 3, *MODEL, 256, 4, "auto", 0, "sft", "lora", "en")
    summary = re.search(r"\*\*Packing: 135 rows → (\d+) packed rows of up to 256 tokens\*\*.*padding (\d+) → (\d+) "
                        r"tokens, steps an epoch 34 → (\d+)", view)
    packed_rows, before, after, steps = (int(group) for group in summary.groups())
    assert packed_rows < 135 / 2 and after < before and steps == -(-packed_rows // 4)
    table = [line for line in view.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert "**3**" in table[0]  # the shown row's packed row comes first, the row in bold
    members = [int(n) for line in table for n in re.findall(r"\d+", line.split("|")[2])]
    assert len(members) == len(set(members))  # no row in two packed rows
    assert "另有" in show_packing("demo_alpaca_en", 3, *MODEL, 256, 4, "auto", 0, "sft", "lora", "zh")
    assert show_packing("demo_alpaca_en", 3, *MODEL, 256, 4, "auto", 0, "dpo", "lora", "en") == (
        "**packing: off (dpo forms its own batches)**")


def test_stats_in_words(data_dirs):
    stats = show_stats("demo_alpaca_zh", "en")
    assert "**131 rows**" in stats and "zh 131" in stats and "User turns per conversation: min 1" in stats
    assert "**62 rows**" in show_stats("demo_preference", "en")  # no turns for preference pairs, but the rest


def test_the_tokenizer_is_loaded_once_per_process():
    assert tokenizer_for("builtin:tiny-demo") is tokenizer_for("builtin:tiny-demo", False)


# ---------------------------------------------------------------------------------------------------------
# Cleaning


def cleaning(dataset: str, lang: str = "en", **changes):
    """clean() with the section's default options, as the UI starts; `changes` override some."""
    options = {
        "trim": True,
        "min_prompt": 1,
        "min_response": 1,
        "max_tokens": 0,
        "exact": True,
        "near": True,
        "validation_ratio": 0.0,
        "seed": 42,
        **changes,
    }
    return clean(dataset, *options.values(), "builtin:tiny-demo", False, lang)


def test_cleaning_counts_each_reason_and_saves_a_new_dataset(data_dirs):
    rows = json.loads((data_dirs / "data" / "demo_alpaca_en.json").read_text(encoding="utf-8"))
    rows += [
        {**rows[0], "instruction": "  " + rows[0]["instruction"].upper() + "  "},  # near duplicate
        {**rows[1]},
        {**rows[2], "output": " "},
        {"instruction": "Talk", "input": "", "output": "blah " * 300},
    ]
    (data_dirs / "data" / "demo_alpaca_en.json").write_text(json.dumps(rows), encoding="utf-8")
    original = (data_dirs / "data" / "demo_alpaca_en.json").read_text(encoding="utf-8")

    report, result, name = cleaning("demo_alpaca_en", max_tokens=200, validation_ratio=0.1)
    assert name == "demo_alpaca_en_clean"
    assert "- exact duplicate: **1**" in report and "- near duplicate: **1**" in report
    assert "- empty or too short: **1**" in report and "- over the token limit: **1**" in report
    assert f"{len(result.train)} for training and {len(result.validation)} for validation" in report

    message, picker, inspect, kept = save_cleaned(result, name, ["demo_alpaca_en", "demo_sharegpt"], "en")
    registry = json.loads((data_dirs / "dataset_info.json").read_text())
    assert {"demo_alpaca_en_clean", "demo_alpaca_en_clean_validation"} <= set(registry) and kept is None
    assert picker["value"] == ["demo_alpaca_en_clean", "demo_sharegpt"] and "demo_alpaca_en_clean" in picker["choices"]
    assert inspect["value"] == "demo_alpaca_en_clean" and "demo_alpaca_en** is unchanged" in message
    assert (data_dirs / "data" / "demo_alpaca_en.json").read_text(encoding="utf-8") == original
    saved = data_dirs / "data" / registry["demo_alpaca_en_clean"]["file_name"]
    assert len(saved.read_text(encoding="utf-8").splitlines()) == len(result.train)


def test_saving_twice_or_without_a_result_changes_nothing(data_dirs):
    _, result, name = cleaning("demo_sharegpt")
    message, *_ = save_cleaned(result, "  ", [], "en")
    assert message == "Give the cleaned set a name."
    save_cleaned(result, name, [], "en")
    registry = (data_dirs / "dataset_info.json").read_text()
    message, *_ = save_cleaned(result, name, [], "en")
    assert "already registered" in message
    message, *_ = save_cleaned(result, name, [], "zh")
    assert "已被使用" in message and not english_sentences(message)
    message, picker, _, _ = save_cleaned(None, "other", [], "en")
    assert message == "Press Clean first." and picker == {"__type__": "update"}
    assert (data_dirs / "dataset_info.json").read_text() == registry


def test_cleaning_refuses_preference_data(data_dirs):
    report, result, _ = cleaning("demo_preference", lang="zh")
    assert result is None and "demo_preference** 是 preference 数据" in report
