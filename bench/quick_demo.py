"""Does the quick demo visibly learn? Trains examples/quick_demo.yaml and counts the trained questions whose
greedy chat answer is exactly the trained answer, before and after, with the wall and CPU time of each part.

Everything happens in a temporary workspace (the built-in model too, unless STUDIO_CACHE_DIR is set), so the
built-in model's build time is measured on a cold cache.

    python bench/quick_demo.py                                   # the preset as it ships
    python bench/quick_demo.py --data tests/data/星湾岛问答.json   # the preset on the user's own file instead
    python bench/quick_demo.py --set train.num_train_epochs=20 --set method.finetuning_type=full
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Timer:
    def __init__(self):
        self.wall, self.cpu = time.time(), cpu_seconds()

    def lap(self) -> dict:
        now = {"wall_s": round(time.time() - self.wall, 1), "cpu_s": round(cpu_seconds() - self.cpu, 1)}
        self.wall, self.cpu = time.time(), cpu_seconds()
        return now


def exact_answers(chat, datasets: list[str]) -> tuple[int, int, list[dict]]:
    """(exact, total, misses): the greedy chat reply to each trained question against its trained answer."""
    from engine.use.chat import stream_reply
    from engine.use.predict import prediction_tasks

    misses, tasks = [], prediction_tasks(datasets)
    for task in tasks:
        reply = ""
        for reply in stream_reply(chat, task["messages"], max_new_tokens=160, temperature=0):
            pass
        if reply.strip() != task["label"].strip():
            misses.append({"question": task["prompt"], "answer": task["label"], "reply": reply})
    return len(tasks) - len(misses), len(tasks), misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="train on this file (imported into the workspace) instead of the preset's data")
    parser.add_argument("--set", action="append", default=[], help="section.field=value, applied to the preset")
    parser.add_argument("--preset", default=str(PROJECT / "examples" / "quick_demo.yaml"))
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp(prefix="quick-demo-"))
    os.environ.setdefault("STUDIO_CACHE_DIR", str(workspace / "cache"))
    os.environ["STUDIO_WORKSPACE"] = str(workspace)
    from engine.config.parsing import load_yaml
    from engine.config.schema import RunConfig
    from engine.models.builtin import builtin_path
    from engine.runs.events import EventLog, read_events
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training
    from engine.use.chat import load_base_for_chat, load_run_for_chat

    values = {dotted: load_yaml(text) for dotted, text in (assignment.split("=", 1) for assignment in args.set)}
    config = RunConfig.load(args.preset).replace(values)
    timer, result = Timer(), {"preset": Path(args.preset).name, "set": args.set}
    builtin_path(config.model.name_or_path)
    result["build_model"] = timer.lap()
    if args.data:
        from engine.data.uploads import import_dataset

        config.data.datasets = [import_dataset(Path(args.data), Path(args.data).stem).name]
    result["datasets"] = config.data.datasets
    result["before"] = exact_answers(load_base_for_chat(config.model), config.data.datasets)[:2]
    print(json.dumps(result, ensure_ascii=False), flush=True)  # so far, in case training fails
    timer.lap()
    run_dir = create_run(config)
    assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    result["train"] = timer.lap()
    logs = [e for e in read_events(run_dir) if e["event"] == "log"]
    result["steps"], result["loss"] = logs[-1]["step"], [logs[0]["loss"], logs[-1]["loss"]]
    exact, total, misses = exact_answers(load_run_for_chat(run_dir), config.data.datasets)
    result["after"], result["answer"] = [exact, total], timer.lap()
    print(json.dumps(result, ensure_ascii=False))
    for miss in misses[:5]:
        print(json.dumps(miss, ensure_ascii=False))


if __name__ == "__main__":
    main()
