"""Does a real small model learn, and generalise? Trains examples/real_demo.yaml (SmolLM2-135M-Instruct, LoRA, 20
questions about a made-up island) and asks, greedily, before and after: the trained questions, and reworded
questions it never saw (the `heldout` dataset). Counts exact answers and answers that contain the key fact (each
row's "key"), with the wall and CPU time of each part.

Runs live in a temporary workspace; the model cache is the studio's (STUDIO_CACHE_DIR), so a converted model
is reused: delete its cache/gguf/ folder to measure the conversion too.

    python bench/real_demo.py
    python bench/real_demo.py --preset examples/real_demo_zh.yaml --heldout real_demo_zh_heldout
    python bench/real_demo.py --set train.num_train_epochs=6 --set method.lora_rank=8
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")

from bench.quick_demo import Timer  # noqa: E402  (after the path is set)


def answers(chat, dataset: str, max_new_tokens: int) -> dict:
    """{exact, contains, total, replies}: the greedy reply to each question of `dataset` against its answer
    and its key fact."""
    from engine.data.registry import dataset_file, get_entry
    from engine.use.chat import stream_reply
    from engine.use.predict import prediction_tasks

    rows = json.loads(dataset_file(get_entry(dataset)).read_text(encoding="utf-8"))
    keys = {row["output"]: row["key"] for row in rows}
    tally = {"exact": 0, "contains": 0, "total": 0, "replies": []}
    for task in prediction_tasks([dataset]):
        reply = ""
        for reply in stream_reply(chat, task["messages"], max_new_tokens=max_new_tokens, temperature=0):
            pass
        key = keys[task["label"]]
        tally["total"] += 1
        tally["exact"] += reply.strip() == task["label"].strip()
        tally["contains"] += key.lower() in reply.lower()
        tally["replies"].append({"question": task["prompt"], "key": key, "reply": reply.strip()})
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=str(PROJECT / "examples" / "real_demo.yaml"))
    parser.add_argument("--heldout", default="real_demo_en_heldout", help="the reworded questions' dataset")
    parser.add_argument("--set", action="append", default=[], help="section.field=value, applied to the preset")
    parser.add_argument("--replies", action="store_true", help="print every reply before and after")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="per reply (the trained answers need ~15)")
    args = parser.parse_args()
    os.environ["STUDIO_WORKSPACE"] = tempfile.mkdtemp(prefix="real-demo-")
    from engine.config.parsing import read_override
    from engine.config.schema import RunConfig
    from engine.models.loading import resolve_model
    from engine.runs.events import EventLog, read_events
    from engine.runs.store import create_run
    from engine.train.trainer import RunContext, run_training
    from engine.use.chat import load_base_for_chat, load_run_for_chat

    values = dict(read_override(assignment) for assignment in args.set)  # the bounded reader, as the CLI's key=value
    config = RunConfig.load(args.preset).replace(values)
    trained = config.data.datasets[0]
    timer, result = Timer(), {"preset": Path(args.preset).name, "set": args.set, "model": config.model.name_or_path}
    resolve_model(config.model.name_or_path)
    result["convert_model"] = timer.lap()
    base = load_base_for_chat(config.model)
    before = {"trained": answers(base, trained, args.max_new_tokens),
              "heldout": answers(base, args.heldout, args.max_new_tokens)}
    result["before_time"] = timer.lap()
    run_dir = create_run(config)
    assert run_training(RunContext(config, run_dir, EventLog(run_dir), lambda: False)) == "completed"
    result["train"] = timer.lap()
    logs = [e for e in read_events(run_dir) if e["event"] == "log"]
    result["steps"], result["loss"] = logs[-1]["step"], [logs[0]["loss"], logs[-1]["loss"]]
    tuned = load_run_for_chat(run_dir)
    after = {"trained": answers(tuned, trained, args.max_new_tokens),
             "heldout": answers(tuned, args.heldout, args.max_new_tokens)}
    result["after_time"] = timer.lap()
    for when, tallies in (("before", before), ("after", after)):
        result[when] = {part: {k: v for k, v in tally.items() if k != "replies"} for part, tally in tallies.items()}
    print(json.dumps(result, ensure_ascii=False))
    print_table(result)
    if args.replies:
        for when, tallies in (("before", before), ("after", after)):
            for part, tally in tallies.items():
                for reply in tally["replies"]:
                    print(json.dumps({"when": when, "part": part, **reply}, ensure_ascii=False))


def print_table(result: dict) -> None:
    """The README's table: questions, then exact / contains-the-key-fact counts before and after."""
    print("| questions | before: exact | before: key fact | after: exact | after: key fact |")
    print("|---|---|---|---|---|")
    for part, label in (("trained", "trained"), ("heldout", "reworded, never trained")):
        b, a = result["before"][part], result["after"][part]
        print(f"| {label} ({b['total']}) | {b['exact']} | {b['contains']} | {a['exact']} | {a['contains']} |")


if __name__ == "__main__":
    main()
