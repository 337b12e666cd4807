"""Following a run in the terminal: its events (progress, evaluations, phases, status) as readable lines."""
from __future__ import annotations

import time

from engine.runs.events import RESUMED
from engine.runs.scheduler import RunHandle, advance, stop_run
from engine.runs.status import status_of_event


def follow(handle: RunHandle) -> int:
    """Print progress until the run ends, moving the queue on meanwhile; Ctrl-C asks it to stop and save
    (or cancels it while it is queued)."""
    shown = 0
    try:
        while True:
            events = handle.events()
            for event in events[shown:]:
                print(describe(event), flush=True)
            shown = len(events)
            status = handle.status()
            if status.final:
                break
            time.sleep(0.5)
            advance()
    except KeyboardInterrupt:
        print("stopping: the run saves at its next step …", flush=True)
        stop_run(handle.run_dir)
        return follow(handle)
    print(f"{status}: {handle.run_dir}")
    return 1 if status.failed else 0


# What a stage's data summary counts that a user should hear about.
DATA_NOTES = {
    "truncated": "examples were cut at data.cutoff_len",
    "dropped_no_target": "examples were left out: nothing to train on was left after the cut",
    "prompts_too_long": "prompts were left out: longer than data.cutoff_len − method.grpo_max_new_tokens",
}


# What the worker does before the first step (the run view says the same in the page's language).
PHASES = {
    "build_model": "building the built-in model (first use only) …",
    "encode": "encoding {dataset}: {done}/{total} examples",
    "load_model": "loading the model …",
    "convert_model": "converting the GGUF base model into a plain model folder (first use only) …",
}


def describe(event: dict) -> str:
    kind = event["event"]
    if kind == "log":
        done = event["step"] / max(event["total_steps"], 1)
        bar = "#" * int(done * 20) + "." * (20 - int(done * 20))
        eta = f"{event['eta_s']:.0f}s" if event.get("eta_s") is not None else "?"
        return (
            f"[{bar}] step {event['step']}/{event['total_steps']}  loss {event['loss']:.4f}  "
            f"lr {event['learning_rate']:.2e}  {event['elapsed_s']:.0f}s elapsed, ETA {eta}  "
            f"{event.get('tokens_per_s') or 0:.0f} tok/s" + _real_throughput(event)
        )
    if kind == "eval":
        return f"eval at step {event['step']}: loss {event['eval_loss']:.4f}, perplexity {event['perplexity']:.2f}"
    if kind == "start":
        counts = event.get("data", {})
        notes = [f"{count} {DATA_NOTES[key]}" for key, count in counts.items() if key in DATA_NOTES and count]
        return "\n".join([
            f"training {event['train_examples']} examples ({event['val_examples']} held out) for "
            f"{event['total_steps']} steps; "
            f"{event['trainable_params']:,} of {event['total_params']:,} parameters train",
            *([f"on {event['world_size']} processes ({event['strategy']})"] if event.get("world_size", 1) > 1 else []),
            *notes,
            *event.get("speed", []),
            *([event["experts"]] if event.get("experts") else []),
        ])
    if kind == "resources":
        gpus = "".join(f"; GPU{gpu['device']} {gpu['allocated_mb']:.0f}/{gpu['reserved_mb']:.0f} MB "
                       f"(peak {gpu['peak_mb']:.0f})" for gpu in event.get("gpus", []))
        return f"  memory: RSS {event['cpu_rss_mb']:.0f} MB, CPU {event['cpu_percent']:.0f}%{gpus}"
    if kind == "phase":
        return PHASES[event["phase"]].format(**event)
    if kind == "end":
        return f"training ended at step {event['step']}/{event['total_steps']} after {event['elapsed_s']:.0f}s"
    if kind == "status":
        resumed = event["status"] == RESUMED
        label = f"{RESUMED} from step {event.get('from_step', 0)}" if resumed else status_of_event(event)
        details = [event.get(key) for key in ("error", "advice", "note") if event.get(key)]
        return "\n".join([f"status: {label}", *details])
    return str(event)


def _real_throughput(event: dict) -> str:
    """'  (real 1,234 tok/s, 6% padding)': the training-only rate of the last window, when the run measured it."""
    if event.get("real_tokens_per_s") is None:
        return ""
    padding = f", {event['padding_share']:.0%} padding" if event.get("padding_share") is not None else ""
    return f"  (real {event['real_tokens_per_s']:,.0f} tok/s{padding})"
