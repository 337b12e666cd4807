"""Benchmarks through lm-evaluation-harness: a run's result (its LoRA adapter on the base, unmerged: lm-eval's
HF model takes `peft=`) and its base, task by task, into a job folder.

The job folder (<run>/benchmarks/, or workspace/benchmarks/<model>/ for a base model alone) holds
  results.json   {"settings": {...}, "scores": {"base"|"tuned": {task: {"metric", "value", "stderr", ...}}}}
  events.jsonl   one line per step: start, task_start, task_done, done | failed (what progress reads)
  tasks/         the generated task YAMLs of local tasks (local:<dataset>)
A task already scored with the same settings is not run again: a stopped or failed job resumes where it was.
Before anything loads, every task is looked up and its data checked: offline, a task whose data is not cached
is refused with what it needs (check_tasks).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.benchmarks import local_tasks
from engine.benchmarks.catalog import BY_NAME, LOCAL_PREFIX, is_local, title_of
from engine.config.schema import RunConfig
from engine.messages import say
from engine.models.loading import resolve_model, short_name, ships_chat_template
from engine.paths import CONFIG_FILE, FINAL_DIR, workspace_dir

JOB_DIR = "benchmarks"
RESULTS_FILE = "results.json"
EVENTS_FILE = "events.jsonl"
# The metric a task's table row shows, first found wins (lm-eval reports several; all are kept in the file).
MAIN_METRICS = ("acc_norm", "acc", "exact_match", "prompt_level_strict_acc")
# Local formats lm-eval reads without the Hub.
LOCAL_LOADERS = ("json", "csv", "parquet", "text", "arrow")
BOOTSTRAP_ITERS = 1000  # for metrics whose stderr lm-eval bootstraps: bounded work, stderr good to ~2 digits


class BenchmarkError(ValueError):
    """A benchmark that cannot start: an unknown task, data not on this machine, a target without a model."""


@dataclass
class BenchPlan:
    target: str  # a run folder, or a base model (builtin:..., a folder, a Hub id)
    tasks: list[str]  # lm-eval names, or local:<dataset>
    limit: int = 0  # examples per task, 0 = all
    num_fewshot: int = 0
    batch_size: int = 8
    with_base: bool = True  # for a run: also score its base model, for the side-by-side

    def settings(self) -> dict:
        """What makes two scores comparable: a change of these starts the job afresh."""
        return {"limit": self.limit, "num_fewshot": self.num_fewshot}


@dataclass
class ModelUnderTest:
    label: str  # "base" | "tuned"
    model_args: dict  # lm-eval's HFLM arguments
    chat_template: bool  # whether prompts go through the tokenizer's chat template


# ---------------------------------------------------------------------------------------------------------
# What is benchmarked, and where the results go


def job_folder(target: str) -> Path:
    path = Path(target)
    if (path / CONFIG_FILE).exists():
        return path / JOB_DIR
    return workspace_dir() / JOB_DIR / short_name(target)


def models_of(plan: BenchPlan) -> list[ModelUnderTest]:
    """The base (when asked, or when the target is a base model) and the run's trained result."""
    path = Path(plan.target)
    if not (path / CONFIG_FILE).exists():
        return [_model("base", plan.target, None, None)]
    config = RunConfig.load(path / CONFIG_FILE)
    final = path / FINAL_DIR
    if not final.exists():
        raise BenchmarkError(say("bench.no_result", run=path.name))
    base = config.model.name_or_path
    adapter = str(final) if (final / "adapter_config.json").exists() else None
    tuned = _model("tuned", base if adapter else str(final), adapter, str(final), config.model.trust_remote_code)
    return ([_model("base", base, None, None, config.model.trust_remote_code)] if plan.with_base else []) + [tuned]


def _model(label: str, name: str, adapter: str | None, tokenizer: str | None, trust: bool = False):
    location = resolve_model(name)
    args = {"pretrained": location, "tokenizer": tokenizer or location, "trust_remote_code": trust}
    if adapter:
        args["peft"] = adapter
    return ModelUnderTest(label, args, bool(ships_chat_template(tokenizer or name)))


# ---------------------------------------------------------------------------------------------------------
# Finding the tasks and checking their data, before anything loads


def task_manager(tasks: list[str], folder: Path):
    """lm-eval's TaskManager over the catalog folders the tasks need and the local tasks written to `folder`
    (tasks/); a name outside the catalog makes it index all of lm-eval's tasks (minutes on a busy CPU)."""
    import lm_eval.tasks
    from lm_eval.tasks import TaskManager

    root = Path(lm_eval.tasks.__file__).parent
    local = [name for name in tasks if is_local(name)]
    for name in local:
        local_tasks.write_task(name.removeprefix(LOCAL_PREFIX), folder / "tasks")
    standard = [name for name in tasks if not is_local(name)]
    paths = sorted({str(root / BY_NAME[name].folder) for name in standard if name in BY_NAME})
    paths += [str(folder / "tasks")] if local else []
    everything = any(name not in BY_NAME for name in standard)
    return TaskManager(include_defaults=everything, include_path=paths or None)


def lm_eval_name(task: str) -> str:
    return local_tasks.task_name(task.removeprefix(LOCAL_PREFIX)) if is_local(task) else task


def check_tasks(tasks: list[str], manager) -> None:
    """Refuse an unknown task name, and a task whose data must come from the Hub but cannot: offline (or with
    the Hub unreachable) and not in the datasets cache. Nothing is downloaded or loaded by the model here."""
    if not tasks:
        raise BenchmarkError(say("bench.no_tasks"))
    for task in tasks:
        name = lm_eval_name(task)
        if name not in manager.task_index:
            raise BenchmarkError(say("bench.unknown_task", task=task))
        for source in sorted(data_sources(name, manager)):
            if not data_available(*source):
                raise BenchmarkError(say("bench.not_cached", title=title_of(task), task=task, dataset=source[0]))


def data_sources(name: str, manager) -> set[tuple[str, str | None]]:
    """(dataset_path, dataset_name) of every leaf task under `name` (a task, a group, or a tag)."""
    index = manager.task_index
    entry = index[name]
    kind = entry.kind.name
    if kind == "GROUP":
        children = [child["task"] if isinstance(child, dict) else child for child in entry.cfg.get("task", [])]
        return {source for child in children if child in index for source in data_sources(child, manager)}
    if kind == "TAG":
        members = [other for other, e in index.items() if name in e.tags and other != name]
        return {source for member in members for source in data_sources(member, manager)}
    path = entry.cfg.get("dataset_path")
    return {(path, entry.cfg.get("dataset_name"))} if path and path not in LOCAL_LOADERS else set()


def data_available(path: str, name: str | None) -> bool:
    """Whether `datasets` can prepare the task's data now: from its cache offline, from the Hub online."""
    import datasets

    try:
        datasets.load_dataset_builder(path, name)
    except (OSError, datasets.exceptions.DatasetNotFoundError):  # OSError: ConnectionError, FileNotFoundError
        return False
    return True


# ---------------------------------------------------------------------------------------------------------
# Running


def run_benchmark(plan: BenchPlan, stop: Callable[[], bool] = lambda: False) -> dict:
    """Score each model on each task (skipping what results.json already holds for these settings); returns
    the results. Raises BenchmarkError before loading anything when a task cannot run."""
    folder = job_folder(plan.target)
    folder.mkdir(parents=True, exist_ok=True)
    manager = task_manager(plan.tasks, folder)
    check_tasks(plan.tasks, manager)
    models = models_of(plan)
    results = _resumed(folder, plan)
    todo = [(model, task) for model in models for task in plan.tasks if task not in results["scores"][model.label]]
    _event(folder, "start", total=len(models) * len(plan.tasks), done=len(models) * len(plan.tasks) - len(todo))
    loaded = {}
    for model, task in todo:
        if stop():
            _event(folder, "stopped")
            return results
        _event(folder, "task_start", model=model.label, task=task)
        if model.label not in loaded:
            loaded = {model.label: _load(model, plan)}  # one model in memory at a time
        results["scores"][model.label][task] = score_task(loaded[model.label], model, task, plan, manager)
        write_results(folder, results)
        _event(folder, "task_done", model=model.label, task=task, **results["scores"][model.label][task])
    _event(folder, "done")
    return results


def _load(model: ModelUnderTest, plan: BenchPlan):
    import torch
    from lm_eval.models.huggingface import HFLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return HFLM(**model.model_args, device=device, batch_size=plan.batch_size)


def score_task(lm, model: ModelUnderTest, task: str, plan: BenchPlan, manager) -> dict:
    """One task on one loaded model: its main metric with stderr, and every metric lm-eval reported."""
    from lm_eval import simple_evaluate

    name = lm_eval_name(task)
    output = simple_evaluate(model=lm, tasks=[name], task_manager=manager, num_fewshot=plan.num_fewshot or None,
                             limit=plan.limit or None, apply_chat_template=model.chat_template,
                             bootstrap_iters=BOOTSTRAP_ITERS, log_samples=False)
    reported = output["results"][name]
    metrics = {key: value for key, value in reported.items()
               if isinstance(value, (int, float)) and key != "sample_len"}
    return {**main_metric(metrics), "examples": _examples(output, name), "metrics": metrics}


def main_metric(metrics: dict) -> dict:
    """{"metric", "value", "stderr"}: the first of MAIN_METRICS lm-eval reported (under any filter)."""
    for wanted in MAIN_METRICS:
        for key, value in metrics.items():
            metric, _, filter_name = key.partition(",")
            if metric == wanted:
                stderr = metrics.get(f"{metric}_stderr,{filter_name}")
                return {"metric": metric, "value": value, "stderr": stderr if isinstance(stderr, float) else None}
    key, value = next(iter(metrics.items()), ("", None))
    return {"metric": key.partition(",")[0], "value": value, "stderr": None}


def _examples(output: dict, name: str) -> int | None:
    counts = output.get("n-samples", {})
    if name in counts:
        return counts[name].get("effective")
    return sum(count.get("effective", 0) for count in counts.values()) or None


# ---------------------------------------------------------------------------------------------------------
# The job folder


def _resumed(folder: Path, plan: BenchPlan) -> dict:
    """What results.json holds for these settings (a change of settings starts afresh)."""
    previous = read_results(folder)
    fresh = {"settings": plan.settings(), "scores": {"base": {}, "tuned": {}}}
    if previous.get("settings") != plan.settings():
        return fresh
    return {**fresh, "scores": {label: dict(previous.get("scores", {}).get(label, {})) for label in ("base", "tuned")}}


def read_results(folder: Path) -> dict:
    path = Path(folder) / RESULTS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def write_results(folder: Path, results: dict) -> None:
    temporary = Path(folder) / (RESULTS_FILE + ".tmp")
    temporary.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    temporary.replace(Path(folder) / RESULTS_FILE)  # a reader never sees half a file


def _event(folder: Path, event: str, **fields) -> None:
    with (Path(folder) / EVENTS_FILE).open("a", encoding="utf-8") as out:
        out.write(json.dumps({"event": event, "time": round(time.time(), 3), **fields}, ensure_ascii=False) + "\n")


def read_job_events(folder: Path) -> list[dict]:
    path = Path(folder) / EVENTS_FILE
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line being written
    return events


# ---------------------------------------------------------------------------------------------------------
# Base vs tuned


def side_by_side(results: dict) -> list[dict]:
    """One row per task: its metric, base and tuned value ± stderr, and tuned − base (None where one is
    missing)."""
    scores = results.get("scores", {})
    base, tuned = scores.get("base", {}), scores.get("tuned", {})
    rows = []
    for task in dict.fromkeys([*base, *tuned]):
        a, b = base.get(task, {}), tuned.get(task, {})
        difference = b["value"] - a["value"] if a.get("value") is not None and b.get("value") is not None else None
        rows.append({"task": task, "metric": a.get("metric") or b.get("metric"), "base": a.get("value"),
                     "base_stderr": a.get("stderr"), "tuned": b.get("value"), "tuned_stderr": b.get("stderr"),
                     "difference": difference})
    return rows


def render_table(results: dict) -> str:
    """The side-by-side as plain text (the CLI)."""
    lines = [f"{'task':28} {'metric':12} {'base':>16} {'tuned':>16} {'difference':>10}"]
    for row in side_by_side(results):
        lines.append(f"{row['task']:28} {row['metric'] or '':12} {with_stderr(row['base'], row['base_stderr']):>16}"
                     f" {with_stderr(row['tuned'], row['tuned_stderr']):>16} {signed(row['difference']):>10}")
    return "\n".join(lines)


def with_stderr(value, stderr) -> str:
    if value is None:
        return "-"
    return f"{value:.4f} ± {stderr:.4f}" if stderr is not None else f"{value:.4f}"


def signed(value) -> str:
    return "-" if value is None else f"{value:+.4f}"


# ---------------------------------------------------------------------------------------------------------
# In the background (the web UI): `python -m engine bench` in a process group of its own


JOB_FILE = "job.json"  # {"pid", "pgid"} of the background job
LOG_FILE = "bench.log"


def start_job(plan: BenchPlan) -> Path:
    """Check the tasks (refusing before anything starts), then start the job in the background; returns its
    folder. Its progress is read from the folder (job_progress); stop_job ends it, a later start resumes it."""
    import os
    import subprocess
    import sys

    folder = job_folder(plan.target)
    folder.mkdir(parents=True, exist_ok=True)
    check_tasks(plan.tasks, task_manager(plan.tasks, folder))
    models_of(plan)  # a run without its result is refused here too
    command = [sys.executable, "-m", "engine", "bench", plan.target, "--tasks", ",".join(plan.tasks),
               "--limit", str(plan.limit), "--num-fewshot", str(plan.num_fewshot),
               "--batch-size", str(plan.batch_size), *([] if plan.with_base else ["--no-base"])]
    with (folder / LOG_FILE).open("w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=os.environ.copy())
    (folder / JOB_FILE).write_text(json.dumps({"pid": process.pid}), encoding="utf-8")
    return folder


def job_running(folder: Path) -> bool:
    import psutil

    try:
        pid = json.loads((Path(folder) / JOB_FILE).read_text(encoding="utf-8"))["pid"]
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (FileNotFoundError, json.JSONDecodeError, KeyError, psutil.NoSuchProcess):
        return False


def stop_job(folder: Path) -> None:
    """End the background job's whole process group; the tasks it finished stay in results.json."""
    import os
    import signal

    if job_running(folder):
        pid = json.loads((Path(folder) / JOB_FILE).read_text(encoding="utf-8"))["pid"]
        os.killpg(pid, signal.SIGTERM)
        _event(folder, "stopped")


def job_progress(folder: Path) -> dict:
    """{"done", "total", "state": running | done | stopped | failed | idle, "current": model/task}."""
    events = read_job_events(folder)
    starts = [i for i, e in enumerate(events) if e["event"] == "start"]
    if not starts:
        return {"done": 0, "total": 0, "state": "idle", "current": ""}
    latest = events[starts[-1]:]
    done = latest[0]["done"] + sum(1 for e in latest if e["event"] == "task_done")
    last = latest[-1]["event"]
    running = job_running(folder)
    state = "running" if running else {"done": "done", "stopped": "stopped"}.get(last, "failed")
    current = next((f"{e['model']} · {e['task']}" for e in reversed(latest) if e["event"] == "task_start"), "")
    return {"done": done, "total": latest[0]["total"], "state": state, "current": current}
