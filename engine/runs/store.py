"""Run directories: creating and finding them, their checkpoints, and the list of runs.

What each file of a run directory is: engine/runs/files.py. The worker process that trains into one:
engine/runs/process.py; its status: engine/runs/status.py; when it starts: engine/runs/scheduler.py.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from engine.config.schema import RunConfig
from engine.models.loading import short_name
from engine.models.methods import METHODS
from engine.paths import PathEscapeError, inside, saves_dir
from engine.runs.events import current_events, final_status, latest_progress, peak_memory_mb, read_events
from engine.runs.files import CHECKPOINT_PREFIX, CONFIG_FILE, LLAMAFACTORY_FILE
from engine.messages import say
from engine.runs.notes import RunNotes, read_notes
from engine.runs.status import Reason, RunStatus, damaged_file, run_status

# ---------------------------------------------------------------------------------------------------------
# Creating and finding run directories


def create_run(config: RunConfig) -> Path:
    """A new, empty run directory holding config.yaml; never one that already exists."""
    # Confined by resolved path: neither the model's name nor the method may lead out of the saves folder.
    model, method = short_name(config.model.name_or_path), config.method.finetuning_type
    parent = inside(saves_dir(), f"{model}/{method}", "run folder")
    parent.mkdir(parents=True, exist_ok=True)
    base = config.train.run_name or f"{datetime.now():%Y%m%d-%H%M%S}-{config.method.stage}"
    for attempt in range(1, 1000):
        # validate() refuses odd run names already; this keeps a config that skipped it inside saves/ too.
        run_dir = inside(parent, base if attempt == 1 else f"{base}-{attempt}", "run name")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        config.save(run_dir / CONFIG_FILE)
        return run_dir
    raise RuntimeError(f"could not find a free run name under {parent}")


def run_directory(path: str | Path) -> Path:
    """A user-given run folder, checked to be a run inside the saves folder (symlinks resolved)."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_relative_to(saves_dir()):
        raise PathEscapeError(f"{path} is not a run folder: runs live inside {saves_dir()}")
    if not (resolved / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{path} is not a run folder: it holds no {CONFIG_FILE}")
    return resolved


def record_output_dir(run_dir: Path, output_dir: str) -> None:
    """Remember the LLaMA-Factory output_dir a run was trained for: its merge YAML names that path."""
    (run_dir / LLAMAFACTORY_FILE).write_text(json.dumps({"output_dir": _same_path(output_dir)}), encoding="utf-8")


def runs_for_output_dir(output_dir: str, model: str, adapters: bool = True) -> list[Path]:
    """The runs a LLaMA-Factory path names (adapter_name_or_path; with `adapters` False, a full run's
    model_name_or_path), newest last: a run folder itself; else the runs trained from a YAML with that
    output_dir (each records it); else the runs of `model` whose folder is named like its last part, under the
    fine-tuning type its path names (saves/<model>/lora/sft → lora)."""
    given = Path(output_dir).expanduser()
    if (given / CONFIG_FILE).is_file():
        return [run_directory(given)]
    runs = [path.parent for path in saves_dir().glob(f"*/*/*/{CONFIG_FILE}")]
    recorded = [run for run in runs if _recorded_output_dir(run) == _same_path(output_dir)]
    if recorded:  # trained again from the same YAML: LLaMA-Factory's output_dir holds the newest training
        return sorted(recorded, key=lambda run: run.stat().st_mtime)[-1:]
    method = given.parent.name if given.parent.name in METHODS else "*"
    candidates = (saves_dir() / short_name(model)).glob(f"{method}/{given.name}/{CONFIG_FILE}") if model else ()
    found = [path.parent for path in candidates
             if not adapters or METHODS.get(path.parent.parent.name, METHODS["full"]).peft]
    return sorted(found, key=lambda run: run.stat().st_mtime)


def _same_path(output_dir: str) -> str:
    return os.path.normpath(os.path.abspath(os.path.expanduser(str(output_dir))))


def _recorded_output_dir(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / LLAMAFACTORY_FILE).read_text(encoding="utf-8"))["output_dir"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint the Trainer finished writing: it writes trainer_state.json last."""
    for checkpoint in sorted(_checkpoints(run_dir), key=_checkpoint_step, reverse=True):
        if checkpoint_step(checkpoint) is not None:
            return checkpoint
    return None


def checkpoint_step(checkpoint: Path) -> int | None:
    """The step a complete checkpoint was saved at; None when it is half-written."""
    try:
        return int(json.loads((checkpoint / "trainer_state.json").read_text())["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def set_aside_incomplete_checkpoints(run_dir: Path) -> list[Path]:
    """Rename checkpoints a killed worker left half-written, so that neither a resume nor the Trainer's
    rotation of old checkpoints mistakes them for real ones; they are kept, not deleted."""
    moved = []
    for checkpoint in _checkpoints(run_dir):
        if checkpoint_step(checkpoint) is None:
            target = checkpoint.with_name(f"incomplete-{checkpoint.name}-{int(time.time())}")
            checkpoint.rename(target)
            moved.append(target)
    return moved


def _checkpoints(run_dir: Path) -> list[Path]:
    return [p for p in Path(run_dir).glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir() and _checkpoint_step(p) >= 0]


def _checkpoint_step(checkpoint: Path) -> int:
    suffix = checkpoint.name.removeprefix(CHECKPOINT_PREFIX)
    return int(suffix) if suffix.isdigit() else -1


# ---------------------------------------------------------------------------------------------------------
# The run list


@dataclass
class RunSummary:
    run_dir: Path
    name: str
    model: str
    method: str
    stage: str
    status: RunStatus
    step: int
    total_steps: int
    final_loss: float | None
    started: str
    error: str = ""  # why the newest attempt failed, with advice, when it did
    peak_memory_mb: float | None = None  # GPU peak per device when on GPUs, else the peak resident memory
    note: str = ""  # what the final status adds, e.g. "early stop at step S, best step B"
    notes: RunNotes = RunNotes()  # what the user wrote about it: note, tags, archived


def summarize_run(run_dir: Path) -> RunSummary:
    config = RunConfig.load(run_dir / CONFIG_FILE)
    events = current_events(read_events(run_dir))
    logs = [e for e in events if e["event"] == "log"]
    start = next((e for e in reversed(events) if e["event"] == "start"), None)
    progress = latest_progress(events)
    status = run_status(run_dir)
    ended = final_status(events)
    final = ended if status.failed else None
    return RunSummary(
        run_dir=run_dir,
        name=run_dir.name,
        model=config.model.name_or_path,
        method=config.method.finetuning_type,
        stage=config.method.stage,
        status=status,
        step=progress["step"] if progress else 0,
        total_steps=start["total_steps"] if start else 0,
        final_loss=logs[-1]["loss"] if logs else None,
        started=datetime.fromtimestamp((run_dir / CONFIG_FILE).stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S"),
        error=_failure_text(run_dir, status, final),
        peak_memory_mb=peak_memory_mb(events),
        note=(ended or {}).get("note", ""),
        notes=read_notes(run_dir),
    )


def _failure_text(run_dir: Path, status: RunStatus, final: dict | None) -> str:
    if status.reason is Reason.DAMAGED:
        return say("runs.damaged", run=run_dir.name, detail=damaged_file(run_dir) or "?")
    return "\n".join(str(part) for part in (final.get("error"), final.get("advice")) if part) if final else ""


def all_run_dirs() -> list[Path]:
    return [config_path.parent for config_path in saves_dir().glob(f"*/*/*/{CONFIG_FILE}")]


def list_runs() -> list[RunSummary]:
    """Every run under the saves dir, newest first; unreadable folders are skipped."""
    summaries = []
    for run_dir in all_run_dirs():
        try:
            summaries.append(summarize_run(run_dir))
        except (OSError, ValueError):
            continue
    return sorted(summaries, key=lambda s: s.started, reverse=True)


def filter_runs(runs: list[RunSummary], tag: str = "", search: str = "", archived: bool = False) -> list[RunSummary]:
    """The runs a history shows: archived ones only when `archived`; with `tag`, those tagged so; with
    `search`, those whose name, model, method, stage, note or tags contain it (any case)."""
    needle = search.strip().casefold()
    return [run for run in runs
            if (archived or not run.notes.archived)
            and (not tag or tag in run.notes.tags)
            and (not needle or needle in _searchable(run))]


def _searchable(run: RunSummary) -> str:
    return " ".join([run.name, run.model, run.method, run.stage, run.notes.text, *run.notes.tags]).casefold()


def all_tags(runs: list[RunSummary]) -> list[str]:
    """Every tag some run carries, sorted."""
    return sorted({tag for run in runs for tag in run.notes.tags}, key=str.casefold)


def find_run(given: str) -> Path:
    """A run named on the command line: its folder, or its bare name when exactly one run has it."""
    if (Path(given).expanduser() / CONFIG_FILE).is_file() or "/" in given:
        return run_directory(given)
    named = [run_dir for run_dir in all_run_dirs() if run_dir.name == given]
    if len(named) != 1:
        raise FileNotFoundError(say("runs.name_not_unique" if named else "runs.name_unknown", name=given,
                                    folders=", ".join(str(run_dir) for run_dir in named)))
    return named[0]


def folder_size(folder: Path) -> str:
    """What deleting the folder frees, e.g. "12.3 MB": the size of its files (links not followed)."""
    total = sum(path.lstat().st_size for path in Path(folder).rglob("*") if path.is_symlink() or not path.is_dir())
    return f"{total / 1e6:.1f} MB"
