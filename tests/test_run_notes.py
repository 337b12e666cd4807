"""Run notes, tags, archive and delete: kept in the run folder, filtered in the history and the CLI, shown in a
comparison; deleting refuses a queued or training run and anything outside the saves folder.

No training here: notes and deletion only read config.yaml and the run's status files, so the runs are real run
folders (create_run) with a completed status written into their events, the way a worker ends them.
"""
import json
import os

import pytest

from engine.cli import main
from engine.paths import PathEscapeError, saves_dir
from engine.runs.compare import compare_runs, render_text
from engine.runs.events import EventLog
from engine.runs.files import NOTES_FILE, QUEUED_FILE
from engine.runs.notes import MAX_TAG_LENGTH, NotesRefused, read_notes, update_notes
from engine.runs.process import claim_run
from engine.runs.scheduler import RunActive, delete_run
from engine.runs.store import create_run, filter_runs, list_runs
from tests.conftest import short_run_config
from webui import history_panel, run_view
from webui.compare_panel import notes_markdown


def finished_run(name: str, learning_rate: float = 1e-4):
    config = short_run_config(max_steps=2)
    config.train.run_name = name
    config.train.learning_rate = learning_rate
    run_dir = create_run(config)
    EventLog(run_dir).write("status", status="completed")
    return run_dir


@pytest.fixture
def runs(studio_dirs):
    return {name: finished_run(name, rate) for name, rate in (("sweep-a", 1e-4), ("sweep-b", 2e-4), ("other", 1e-4))}


def test_notes_and_tags_are_kept_in_the_run_folder(runs):
    run = runs["sweep-a"]
    assert read_notes(run).text == "" and read_notes(run).tags == ()
    update_notes(run, text="first try\nlr 1e-4", tags="lr-sweep， baseline,  lr-sweep , two  words")
    notes = read_notes(run)
    assert notes.text == "first try\nlr 1e-4" and notes.tags == ("lr-sweep", "baseline", "two words")
    assert json.loads((run / NOTES_FILE).read_text(encoding="utf-8"))["tags"] == ["lr-sweep", "baseline", "two words"]
    update_notes(run, archived=True)
    assert read_notes(run).archived and read_notes(run).text == "first try\nlr 1e-4"  # the rest stays
    with pytest.raises(NotesRefused) as refused:
        update_notes(run, tags="x" * (MAX_TAG_LENGTH + 1))
    assert refused.value.message.code == "runs.tag_too_long"
    assert read_notes(run).tags == ("lr-sweep", "baseline", "two words")  # nothing changed on a refusal
    (run / NOTES_FILE).write_text("{not json")
    assert read_notes(run) == type(notes)()  # a damaged file reads as no notes: the run list still works


def test_the_history_filters_by_tag_search_and_archive(runs):
    update_notes(runs["sweep-a"], text="the baseline", tags="lr-sweep")
    update_notes(runs["sweep-b"], tags="lr-sweep, high")
    update_notes(runs["other"], archived=True)
    everything = list_runs()
    assert {run.name for run in filter_runs(everything)} == {"sweep-a", "sweep-b"}
    assert {run.name for run in filter_runs(everything, archived=True)} == {"sweep-a", "sweep-b", "other"}
    assert [run.name for run in filter_runs(everything, tag="high")] == ["sweep-b"]
    assert [run.name for run in filter_runs(everything, search="BASELINE")] == ["sweep-a"]

    table = run_view.history_table("zh", tag="lr-sweep")
    assert list(table.columns)[6:8] == ["标签", "备注"] and len(table) == 2
    row = table[table["运行"] == "sweep-b"].iloc[0]
    assert row["标签"] == "lr-sweep, high" and run_view.run_dir_of_row(list(row)) == str(runs["sweep-b"])
    archived = run_view.history_table("en", archived=True)
    assert archived[archived["run"] == "other"].iloc[0]["status"] == "completed · archived"
    table, tags = history_panel.history_view("en", "", "high", False)
    assert list(table["run"]) == ["sweep-b"]
    assert [value for _, value in tags["choices"]] == ["", "high", "lr-sweep"] and tags["value"] == "high"


def test_the_cli_notes_tags_archives_and_lists(runs, capsys):
    assert main(["runs", "note", "sweep-a", "baseline run"]) == 0
    assert main(["runs", "tag", str(runs["sweep-a"]), "lr-sweep, baseline"]) == 0
    assert "tags lr-sweep, baseline" in capsys.readouterr().out
    assert read_notes(runs["sweep-a"]).text == "baseline run"
    assert main(["runs", "archive", "other"]) == 0
    assert "archived" in capsys.readouterr().out
    assert main(["runs"]) == 0
    listed = capsys.readouterr().out
    assert "#lr-sweep #baseline  baseline run" in listed and "other" not in listed
    assert main(["runs", "--all"]) == 0
    assert "[archived]" in capsys.readouterr().out
    assert main(["runs", "--tag", "baseline"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["sweep-a"]
    assert main(["runs", "unarchive", "other"]) == 0 and not read_notes(runs["other"]).archived
    assert main(["runs", "note", "no-such-run", "x"]) == 2
    assert "no run is named no-such-run" in capsys.readouterr().err


def test_delete_refuses_an_active_run_and_deletes_a_finished_one(runs, capsys):
    queued = runs["sweep-b"]
    (queued / QUEUED_FILE).write_text(json.dumps({"queued_at_ns": 1}))
    with pytest.raises(RunActive) as refused:
        delete_run(queued)
    assert refused.value.message.code == "runs.delete_queued" and queued.is_dir()
    (queued / QUEUED_FILE).unlink()

    training = runs["other"]
    lock = claim_run(training)  # what a live worker holds: the run counts as running
    try:
        message, page_run, _, confirm, _ = history_panel.confirm_delete(str(training), "", "zh")
        assert message == f"运行 {training.name} 正在训练：请先停止并等它结束，再删除" and training.is_dir()
        assert page_run == "" and confirm["visible"] is False
        assert main(["runs", "delete", str(training), "--yes"]) == 2
        assert "is training" in capsys.readouterr().err and training.is_dir()
    finally:
        lock.close()

    assert main(["runs", "delete", "sweep-a"]) == 2  # not a terminal: deleting asks, so it needs --yes
    assert "--yes" in capsys.readouterr().err and runs["sweep-a"].is_dir()
    assert main(["runs", "delete", "sweep-a", "--yes"]) == 0
    assert "deleted run sweep-a" in capsys.readouterr().out and not runs["sweep-a"].exists()
    assert {run.name for run in list_runs()} == {"sweep-b", "other"}


def test_delete_stays_inside_the_saves_folder(runs, tmp_path):
    outside = tmp_path / "outside" / "precious"
    outside.mkdir(parents=True)
    (outside / "config.yaml").write_text("x: 1\n")
    link = saves_dir() / "tiny-demo" / "lora" / "link"
    os.symlink(outside, link)
    shallow = saves_dir() / "tiny-demo" / "not-a-method-folder"
    shallow.mkdir()
    (shallow / "config.yaml").write_text("x: 1\n")
    for target in (outside, link, saves_dir() / "tiny-demo/lora/../../../outside/precious", shallow, saves_dir()):
        with pytest.raises((PathEscapeError, FileNotFoundError)):
            delete_run(target)
    assert (outside / "config.yaml").exists() and link.is_symlink() and (shallow / "config.yaml").exists()
    message, run_dir, *_ = history_panel.confirm_delete(str(link), "kept", "en")
    assert "is not a run folder" in message and run_dir == "kept" and outside.is_dir()


def test_the_page_edits_notes_archives_and_deletes_after_asking(runs):
    run = str(runs["sweep-a"])
    shown, heading, note, tags, archive, unarchive = history_panel.editor_view(run, "zh")
    assert shown["visible"] and heading.startswith("**sweep-a**") and (note, tags) == ("", "")
    assert history_panel.save_notes(run, "基线", "lr-sweep, 基线", "zh") == "已保存 sweep-a 的备注和标签。"
    assert history_panel.save_notes(run, "x", "y" * 41, "en").startswith("the tag “yyy")
    assert history_panel.editor_view(run, "en")[2:4] == ("基线", "lr-sweep, 基线")
    assert "hidden from the history" in history_panel.set_archived(run, True, "en")
    assert history_panel.editor_view(run, "en")[4:] == ({"__type__": "update", "visible": False},
                                                        {"__type__": "update", "visible": True})

    pending, confirm, question = history_panel.ask_delete(run, "en")
    assert pending == run and confirm["visible"] and question.startswith("Delete run **sweep-a** and all its files (")
    assert runs["sweep-a"].is_dir()  # asking deletes nothing
    message, page_run, drawn, confirm, pending = history_panel.confirm_delete(pending, run, "en")
    assert message == "Deleted run sweep-a and its files." and not runs["sweep-a"].exists()
    assert (page_run, drawn, pending) == ("", None, None) and not confirm["visible"]
    assert history_panel.editor_view(run, "en")[0]["visible"] is False


def test_a_comparison_shows_the_notes_and_tags(runs):
    update_notes(runs["sweep-a"], text="the baseline", tags="lr-sweep")
    comparison = compare_runs([runs["sweep-a"], runs["sweep-b"]])
    assert comparison.notes == ["the baseline", ""] and comparison.tags == [["lr-sweep"], []]
    assert comparison.diff == {"train.learning_rate": [1e-4, 2e-4]}
    assert "[1] sweep-a  #lr-sweep  — the baseline" in render_text(comparison)
    assert notes_markdown(comparison, "zh") == "**备注**\n- **sweep-a** `lr-sweep` · the baseline"
