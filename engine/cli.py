"""Command line: the same runs as the web UI, without it.

  python -m engine train CONFIG.yaml [--detach]   start a run in the background and follow it
  python -m engine runs                           list runs
  python -m engine chat RUN_DIR|MODEL             chat in the terminal
  python -m engine export RUN_DIR [--name NAME]   merge and save a standalone model
  python -m engine data check PATH|NAME [--format F] [--cutoff-len N]
                                                  check a dataset file (or a registered dataset)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .config import ConfigError, ModelConfig, RunConfig, validate
from .formats import FORMATS
from .runs import RunHandle, is_fresh_run, list_runs, request_stop, start_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Finetune Studio engine")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a run config (YAML)")
    train.add_argument("config")
    train.add_argument("--detach", action="store_true", help="start in the background and return at once")
    commands.add_parser("runs", help="list runs")
    chat = commands.add_parser("chat", help="chat with a run's result or a base model")
    chat.add_argument("source", help="a run directory, or a model (builtin:tiny-demo, Hub id, folder)")
    chat.add_argument("--max-new-tokens", type=int, default=128)
    chat.add_argument("--temperature", type=float, default=0.0)
    export = commands.add_parser("export", help="merge a run's adapter into its base and save it")
    export.add_argument("run_dir")
    export.add_argument("--name", default="")
    export.add_argument("--max-shard-size", default="2GB")
    data = commands.add_parser("data", help="dataset tools").add_subparsers(dest="data_command", required=True)
    check = data.add_parser("check", help="check a dataset file; exit 0 when usable, 1 when not")
    check.add_argument("path", help="a dataset file, or the name of a registered dataset")
    check.add_argument("--format", default="auto", choices=("auto", *FORMATS), help="skip detection: use this format")
    check.add_argument("--cutoff-len", type=int, default=None, help="report rows far longer than this many tokens (estimated)")
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


# ---------------------------------------------------------------------------------------------------------


def command_train(args) -> int:
    path = Path(args.config)
    if is_fresh_run(path):  # the background worker's own invocation: train here
        from .worker import train_in_this_process

        return train_in_this_process(path.resolve().parent)
    try:
        config = RunConfig.load(path)
    except (OSError, ConfigError) as err:
        print(f"error: cannot read {path}:\n{err}", file=sys.stderr)
        return 2
    problems = validate(config)
    if problems:
        print("error: the config has problems:\n" + "\n".join(f"- {p}" for p in problems), file=sys.stderr)
        return 2
    handle = start_run(config)
    print(f"run started in the background: {handle.run_dir}")
    print(f"  log: {handle.run_dir / 'train.log'}   stop: touch {handle.run_dir / 'STOP'}")
    if args.detach:
        return 0
    return follow(handle)


def follow(handle: RunHandle) -> int:
    """Print progress until the run ends; Ctrl-C asks it to stop and save."""
    shown = 0
    try:
        while True:
            events = handle.events()
            for event in events[shown:]:
                print(describe(event), flush=True)
            shown = len(events)
            status = handle.status()
            if status not in ("created", "starting", "running"):
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping: the run saves at its next step …", flush=True)
        request_stop(handle.run_dir)
        return follow(handle)
    print(f"{status}: {handle.run_dir}")
    return 0 if status in ("completed", "stopped") else 1


def describe(event: dict) -> str:
    kind = event["event"]
    if kind == "log":
        done = event["step"] / max(event["total_steps"], 1)
        bar = "#" * int(done * 20) + "." * (20 - int(done * 20))
        eta = f"{event['eta_s']:.0f}s" if event.get("eta_s") is not None else "?"
        return (
            f"[{bar}] step {event['step']}/{event['total_steps']}  loss {event['loss']:.4f}  "
            f"lr {event['learning_rate']:.2e}  {event['elapsed_s']:.0f}s elapsed, ETA {eta}  "
            f"{event.get('tokens_per_s') or 0:.0f} tok/s"
        )
    if kind == "eval":
        return f"eval at step {event['step']}: loss {event['eval_loss']:.4f}, perplexity {event['perplexity']:.2f}"
    if kind == "start":
        return (
            f"training {event['train_examples']} examples ({event['val_examples']} held out) for "
            f"{event['total_steps']} steps; {event['trainable_params']:,} of {event['total_params']:,} parameters train"
        )
    if kind == "status":
        return f"status: {event['status']}" + (f"\n{event['error']}" if event.get("error") else "")
    return str(event)


def command_runs(args) -> int:
    runs = list_runs()
    if not runs:
        print("no runs yet")
        return 0
    header = f"{'name':28} {'model':22} {'method':7} {'stage':5} {'status':16} {'steps':>9} {'loss':>8}  started"
    print(header)
    for run in runs:
        loss = f"{run.final_loss:.4f}" if run.final_loss is not None else "-"
        steps = f"{run.step}/{run.total_steps}"
        print(f"{run.name:28} {run.model:22} {run.method:7} {run.stage:5} {run.status:16} {steps:>9} {loss:>8}  {run.started}")
    return 0


def command_chat(args) -> int:
    from .chat import load_base_for_chat, load_run_for_chat, stream_reply

    source = Path(args.source)
    chat = load_run_for_chat(source) if (source / "config.yaml").exists() else load_base_for_chat(ModelConfig(name_or_path=args.source))
    print(f"chatting with {chat.label}; an empty line ends")
    history: list[dict] = []
    while (message := input("you> ").strip()):
        history.append({"role": "user", "content": message})
        shown = ""
        for reply in stream_reply(chat, history, args.max_new_tokens, args.temperature):
            print(reply[len(shown):], end="", flush=True)
            shown = reply
        print()
        history.append({"role": "assistant", "content": shown})
    return 0


def command_export(args) -> int:
    from .export import export_run

    result = export_run(Path(args.run_dir), args.name, args.max_shard_size)
    print(f"exported to {result.folder} ({result.total_bytes / 1e6:.1f} MB)")
    for name, size in result.files:
        print(f"  {name:40} {size / 1e6:9.2f} MB")
    return 0


def command_data(args) -> int:
    from .data import read_registry
    from .validation import check_file, check_registered

    path = Path(args.path)
    registered = not path.exists() and args.path in read_registry()
    report = check_registered(args.path, args.cutoff_len) if registered else check_file(path, args.format, args.cutoff_len)
    print(report.render())
    return 0 if report.ok else 1


COMMANDS = {
    "train": command_train,
    "runs": command_runs,
    "chat": command_chat,
    "export": command_export,
    "data": command_data,
}
