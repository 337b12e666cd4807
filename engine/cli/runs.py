"""The run list and what is done to a run from it (note, tag, archive, unarchive, delete); comparing runs."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from engine.config.schema import ConfigError
from engine.messages import say
from engine.paths import PathEscapeError
from engine.runs.compare import MAX_RUNS, X_AXES, compare_runs, render_text
from engine.runs.notes import NotesRefused, RunNotes, update_notes
from engine.runs.scheduler import RunActive, delete_run
from engine.runs.store import filter_runs, find_run, folder_size, list_runs, run_directory


def add_parsers(commands) -> None:
    runs = commands.add_parser("runs", help="list runs; note, tag, archive or delete one")
    runs.add_argument("--tag", default="", help="only runs with this tag")
    runs.add_argument("--search", default="", help="only runs whose name, model, method, note or tags contain this")
    runs.add_argument("--all", action="store_true", help="archived runs too")
    actions = runs.add_subparsers(dest="runs_command")
    note = actions.add_parser("note", help="set the run's note (an empty text clears it)")
    note.add_argument("run", help="a run folder, or a run's name")
    note.add_argument("text")
    tag = actions.add_parser("tag", help="set the run's tags, comma-separated (an empty text clears them)")
    tag.add_argument("run", help="a run folder, or a run's name")
    tag.add_argument("tags")
    for name, help_text in (("archive", "hide the run from the list; its files stay"),
                            ("unarchive", "show an archived run in the list again")):
        actions.add_parser(name, help=help_text).add_argument("run", help="a run folder, or a run's name")
    delete = actions.add_parser("delete", help="delete the run folder (asks first; never a queued or training run)")
    delete.add_argument("run", help="a run folder, or a run's name")
    delete.add_argument("--yes", action="store_true", help="do not ask")
    compare = commands.add_parser("compare", help="compare 2–6 runs: curves, config differences, final metrics")
    compare.add_argument("run_dirs", nargs="+")
    compare.add_argument("--x", default="step", choices=X_AXES, help="curve x axis: optimizer step or tokens seen")
    compare.add_argument("--json", action="store_true", help="print the whole comparison as JSON")


def command_runs(args) -> int:
    if args.runs_command:
        return command_run_action(args)
    everything = list_runs()
    runs = filter_runs(everything, args.tag, args.search, args.all)
    if not runs:
        print(say("runs.none_match") if everything else "no runs yet")
        return 0
    header = (f"{'name':28} {'model':22} {'method':7} {'stage':5} {'status':22} {'steps':>9} {'loss':>8}  "
              f"{'started':19}  tags / note")
    print(header)
    for run in runs:
        loss = f"{run.final_loss:.4f}" if run.final_loss is not None else "-"
        steps = f"{run.step}/{run.total_steps}"
        print(f"{run.name:28} {run.model:22} {run.method:7} {run.stage:5} {run.status:22} {steps:>9} {loss:>8}  "
              f"{run.started}  {_notes_text(run.notes)}")
    return 0


def _notes_text(notes: RunNotes) -> str:
    """'[archived] #lr-sweep #baseline  first try' in one line."""
    marks = " ".join(["[archived]"] * notes.archived + [f"#{tag}" for tag in notes.tags])
    return "  ".join(part for part in (marks, " ".join(notes.text.split())[:60]) if part)


def command_run_action(args) -> int:
    """note / tag / archive / unarchive / delete one run."""
    try:
        run_dir = find_run(args.run)
        if args.runs_command == "delete":
            return _delete(run_dir, args.yes)
        print(RUN_ACTIONS[args.runs_command](run_dir, args))
    except (PathEscapeError, FileNotFoundError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (NotesRefused, RunActive) as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    return 0


def _set_note(run_dir: Path, args) -> str:
    update_notes(run_dir, text=args.text)
    return say("runs.note_saved", run=run_dir.name)


def _set_tags(run_dir: Path, args) -> str:
    tags = update_notes(run_dir, tags=args.tags).tags
    return say("runs.tags_saved", run=run_dir.name, tags=", ".join(tags) or "-")


def _archive(run_dir: Path, args) -> str:
    update_notes(run_dir, archived=True)
    return say("runs.archived", run=run_dir.name)


def _unarchive(run_dir: Path, args) -> str:
    update_notes(run_dir, archived=False)
    return say("runs.unarchived", run=run_dir.name)


RUN_ACTIONS = {"note": _set_note, "tag": _set_tags, "archive": _archive, "unarchive": _unarchive}


def _delete(run_dir: Path, confirmed: bool) -> int:
    """Delete after a yes on the terminal (or --yes); a queued or training run is refused by delete_run."""
    if not confirmed:
        if not sys.stdin.isatty():
            print(f"error: {say('runs.delete_needs_yes')}", file=sys.stderr)
            return 2
        answer = input(say("runs.delete_confirm", run=run_dir.name, size=folder_size(run_dir), folder=run_dir))
        if answer.strip().lower() not in ("y", "yes"):
            print(say("runs.delete_kept"))
            return 1
    size = folder_size(run_dir)
    delete_run(run_dir)
    print(say("runs.deleted", run=run_dir.name, size=size))
    return 0


def command_compare(args) -> int:
    if not 2 <= len(args.run_dirs) <= MAX_RUNS:
        print(f"error: compare takes 2 to {MAX_RUNS} runs; got {len(args.run_dirs)}", file=sys.stderr)
        return 2
    try:
        comparison = compare_runs([run_directory(path) for path in args.run_dirs], args.x)
    except (PathEscapeError, FileNotFoundError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(comparison), ensure_ascii=False, indent=2) if args.json else render_text(comparison))
    return 0
