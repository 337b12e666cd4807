"""engine/data/checker.py and `python -m engine data check` against the corpus of broken files in tests/data/bad."""
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.data.checker import SHOWN, check_file, check_registered

DATA = Path(__file__).parent / "data"
BAD, GOOD = DATA / "bad", DATA / "good"
PROJECT = Path(__file__).resolve().parent.parent

# file -> (extra CLI arguments, words the report must contain)
BAD_FILES = {
    "empty.json": ([], "empty (0 bytes)"),
    "whitespace_only.jsonl": ([], "only whitespace"),
    "invalid_json.json": ([], "a comma before `}` on line 2"),
    "jsonl_bad_line.jsonl": ([], "line 2 is not valid JSON"),
    "jsonl_named_json.json": ([], "looks like JSON Lines"),
    "top_level_object.json": ([], "the top level is an object; it must be a list of rows"),
    "top_level_string.json": ([], "the top level is text"),
    "list_of_strings.json": ([], "row 1: is text, not an object"),
    "jsonl_array_line.jsonl": ([], "row 2: is a list, not an object"),
    "empty_list.json": ([], "the file has no rows"),
    "missing_output.json": ([], "row 1, field 'output': missing"),
    "csv_missing_column.csv": ([], "field 'output': missing"),
    "empty_output.json": ([], "row 2, field 'output': is empty"),
    "output_not_text.json": ([], "row 2, field 'output': must be text, but is a number"),
    "all_rows_empty.json": ([], "all 2 rows are empty"),
    "mixed_formats.jsonl": ([], "row 4: mixed formats: this row looks like sharegpt but the file is alpaca"),
    "sharegpt_out_of_order.json": ([], "turns out of order: turn 2 is from 'human' but should be from 'gpt'"),
    "sharegpt_wrong_role.json": ([], "turn 2 has from='bot'; role names must be"),
    "sharegpt_ends_with_user.json": ([], "the last turn must be from 'gpt'"),
    "openai_wrong_role.jsonl": ([], "turn 2 has role='model'"),
    "openai_empty_content.jsonl": ([], "turn 2 has an empty or non-text 'content'"),
    "preference_identical.json": ([], "field 'rejected': is identical to 'chosen'"),
    "preference_sharegpt_identical.json": ([], "field 'rejected': is identical to 'chosen'"),
    "preference_missing_rejected.json": (
        ["--format", "preference"],
        "every preference row needs a chosen and a rejected",
    ),
    "kto_label_not_bool.jsonl": ([], "field 'label': must be true or false"),
    "history_not_pairs.json": ([], "field 'history': must be a list of [question, answer] pairs"),
    "csv_broken_quoting.csv": ([], "broken CSV quoting near line 3"),
    "csv_field_count.csv": ([], "row 2: has 4 fields but the header has 3"),
    "csv_duplicate_header.csv": ([], "must name every column once"),
    "parquet_is_text.parquet": ([], "not a Parquet file: it is text"),
    "binary.json": ([], "binary file (a NUL byte at byte offset 0)"),
    "zip_archive.jsonl": ([], "ZIP archive"),
    "latin1.json": ([], "not valid UTF-8: byte 0xe9 at byte offset 26 (line 3)"),
    "gbk.txt": ([], "not valid UTF-8: byte 0xb5 at byte offset 0"),
    "utf16.jsonl": ([], "UTF-16 encoded"),
    "long_row.json": (["--cutoff-len", "256"], "row 2: is about 6255 tokens, 24.4× the cutoff length 256"),
    "unknown_format.json": ([], "unknown format: none of 1 rows looks like a known format (columns seen: bar, foo)"),
    "spreadsheet.xlsx": ([], "unsupported file type '.xlsx'"),
}
GOOD_FILES = {
    "alpaca.json": "alpaca",
    "alpaca.jsonl": "alpaca",
    "alpaca.csv": "alpaca",
    "sharegpt.json": "sharegpt",
    "openai.jsonl": "openai",
    "preference.json": "preference",
    "preference_sharegpt.json": "preference",
    "kto.jsonl": "kto",
    "text.txt": "text",
}


def _check_args(arguments: list[str]) -> dict:
    """The check_file keyword arguments matching the CLI arguments."""
    pairs = dict(zip(arguments[::2], arguments[1::2]))
    return {
        "formatting": pairs.get("--format", "auto"),
        "cutoff_len": int(pairs["--cutoff-len"]) if "--cutoff-len" in pairs else None,
    }


def test_the_corpus_has_every_file_and_at_least_30():
    assert sorted(BAD_FILES) == sorted(path.name for path in BAD.iterdir())
    assert len(BAD_FILES) >= 30


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_gives_its_specific_message(name):
    arguments, expected = BAD_FILES[name]
    report = check_file(BAD / name, **_check_args(arguments))
    assert not report.ok
    assert expected in report.render()


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_cli_reports_bad_file_and_exits_1(name, capsys):
    arguments, expected = BAD_FILES[name]
    assert main(["data", "check", str(BAD / name), *arguments]) == 1
    assert expected in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(GOOD_FILES))
def test_good_file_is_usable_and_detected(name, capsys):
    report = check_file(GOOD / name)
    assert report.ok, report.render()
    assert report.detection.formatting == GOOD_FILES[name]
    assert main(["data", "check", str(GOOD / name)]) == 0
    assert "usable: no problems found" in capsys.readouterr().out


def test_generated_parquet_is_usable(tmp_path):
    import pandas as pd

    path = tmp_path / "alpaca.parquet"
    pd.DataFrame([{"instruction": "Say hi", "input": "", "output": "Hi"}] * 3).to_parquet(path)
    report = check_file(path)
    assert report.ok and report.rows == 3 and report.detection.formatting == "alpaca"


def test_bom_is_accepted_in_json_and_jsonl(tmp_path):
    rows = [{"instruction": "Say hi", "output": "Hi"}]
    (tmp_path / "a.json").write_text("\ufeff" + json.dumps(rows), encoding="utf-8")
    (tmp_path / "a.jsonl").write_text("\ufeff" + json.dumps(rows[0]) + "\n", encoding="utf-8")
    assert check_file(tmp_path / "a.json").ok
    assert check_file(tmp_path / "a.jsonl").ok


def test_row_far_over_cutoff_is_counted_with_a_tokenizer(tmp_path):
    from test_token_view import make_tokenizer

    path = tmp_path / "long.json"
    path.write_text(json.dumps([{"instruction": "hi", "output": "hello " * 300}]), encoding="utf-8")
    report = check_file(path, cutoff_len=64, tokenizer=make_tokenizer())
    assert not report.ok
    assert "the cutoff length 64" in report.render() and "about" not in report.render()


def test_render_shows_first_20_and_a_count(tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text(
        "".join(json.dumps({"instruction": f"q{n}", "output": ""}) + "\n" for n in range(45)), encoding="utf-8"
    )
    text = check_file(path).render()
    assert text.count("is empty") == SHOWN
    assert f"... and {45 - SHOWN} more" in text


def test_forced_format_overrides_detection():
    report = check_file(GOOD / "alpaca.json", formatting="text")
    assert report.detection.formatting == "text"
    assert "format set to text" in report.detection.reason
    assert not report.ok  # alpaca rows have no "text" column


def test_200_mb_jsonl_is_streamed(tmp_path):
    """A 200 MB file is checked line by line: peak memory grows far less than the file."""
    path = tmp_path / "big.jsonl"
    line = (
        json.dumps({"instruction": "Summarise the text.", "input": "x" * 2000, "output": "A summary."}) + "\n"
    ).encode()
    with path.open("wb") as handle:
        block = line * 1000
        while handle.tell() < 200 * 1024**2:
            handle.write(block)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    report = check_file(path)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert report.ok and report.rows > 95_000
    assert grown_mib < 100, f"peak memory grew by {grown_mib:.0f} MiB checking a 200 MB file"


def test_big_json_array_is_refused_with_advice(tmp_path, monkeypatch):
    import engine.data.reader as file_reading

    monkeypatch.setattr(file_reading, "JSON_ARRAY_LIMIT", 1024)
    path = tmp_path / "big.json"
    path.write_text(json.dumps([{"instruction": "q" * 100, "output": "a"}] * 20), encoding="utf-8")
    assert "Convert it to JSON Lines" in check_file(path).render()


# ---------------------------------------------------------------------------------------------------------
# Registered datasets: file_name must stay inside the data folder


@pytest.fixture
def escape_registry(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "outside.json").write_text('[{"instruction": "a", "output": "b"}]', encoding="utf-8")
    (data / "link_out.json").symlink_to(tmp_path / "outside.json")
    registry = tmp_path / "dataset_info.json"
    registry.write_text((DATA / "registry_escapes.json").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data))
    monkeypatch.setenv("STUDIO_REGISTRY", str(registry))
    return registry


@pytest.mark.parametrize(
    "name, expected",
    [
        ("dotdot", "'../outside.json' points outside"),
        ("absolute", "must be a path inside"),
        ("symlink_out", "'link_out.json' points outside"),
        ("hub_only", "(hf_hub_url) from the Hugging Face Hub, which cannot be reached from here (offline)"),
    ],
)
def test_registered_file_name_must_stay_inside_data_dir(escape_registry, name, expected, capsys):
    report = check_registered(name)
    assert not report.ok and expected in report.render()
    assert main(["data", "check", name]) == 1
    assert expected in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------
# The real command line


def _run_cli(*arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", "data", "check", *arguments],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_python_m_engine_data_check_exit_codes():
    good = _run_cli(str(GOOD / "sharegpt.json"))
    assert good.returncode == 0, good.stderr
    assert "looks like sharegpt" in good.stdout
    bad = _run_cli(str(BAD / "latin1.json"))
    assert bad.returncode == 1
    assert "not valid UTF-8" in bad.stdout
    forced = _run_cli(str(BAD / "preference_missing_rejected.json"), "--format", "preference")
    assert forced.returncode == 1 and "chosen and a rejected" in forced.stdout
