"""Command line: the same runs as the web UI, without it.

  python -m engine train CONFIG.yaml [--detach]   queue a run (it starts when the machine is free) and follow it;
                                                  a LLaMA-Factory YAML is converted first (a merge YAML exports)
  python -m engine train CONFIG.yaml --plan       several machines: create the run folder, print each node's
                                                  torchrun command and write a Slurm script; start nothing
  python -m engine convert LF.yaml                write a LLaMA-Factory YAML's studio config beside it, no run
  python -m engine resume RUN_DIR [--detach]      continue a stopped or failed run from its last checkpoint
  python -m engine stop RUN_DIR [--grace S]       stop a run (cancel it if queued) and wait until it has ended
  python -m engine runs [--tag T] [--search S] [--all]
                                                  list runs (archived ones with --all)
  python -m engine runs note RUN "TEXT"           the run's note ("" clears it)
  python -m engine runs tag RUN "a, b"            set the run's tags ("" clears them)
  python -m engine runs archive|unarchive RUN     hide a run from the list (files kept), or show it again
  python -m engine runs delete RUN [--yes]        delete a run that is not queued or training (asks first)
  python -m engine compare RUN RUN [RUN...] [--x tokens] [--json]
                                                  curves, differing config fields and final metrics of 2–6 runs
  python -m engine worker RUN_DIR                 the training process itself (the queue starts it)
  python -m engine standby                        a worker that imports first and reads its run folder from stdin
  python -m engine rank RUN_DIR [--resume-from C] one rank of a multi-process run (torchrun starts it on each node)
  python -m engine chat RUN_DIR|MODEL             chat in the terminal
  python -m engine export RUN_DIR [--name NAME] [--gguf f16,q8_0] [--adapter-only]
                                                  merge and save a standalone model (or the adapter)
  python -m engine eval|evaluate CONFIG|RUN_DIR [--dataset NAME] [--max-samples N] [--generate]
                                                  loss, perplexity; with --generate BLEU-4 / ROUGE
  python -m engine data check PATH|NAME [--format F] [--cutoff-len N]
                                                  check a dataset file (or a registered dataset)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from engine.config.llamafactory import (
    MARKERS,
    Conversion,
    MergePlan,
    convert_file,
    converted_path,
    is_llamafactory,
    read_yaml,
)
from engine.config.schema import ConfigError, ModelConfig, RunConfig
from engine.data.formats import FORMATS
from engine.messages import say
from engine.paths import CONFIG_FILE, PathEscapeError, saves_dir
from engine.runs.compare import MAX_RUNS, X_AXES, compare_runs, render_text
from engine.runs.events import RESUMED
from engine.runs.files import LOG_FILE
from engine.runs.preflight import StartRefused
from engine.runs.process import STOP_GRACE_S
from engine.runs.notes import NotesRefused, RunNotes, update_notes
from engine.runs.scheduler import (
    RunActive,
    RunHandle,
    advance,
    delete_run,
    resume_run,
    stop_and_wait,
    stop_run,
    submit,
)
from engine.runs.status import status_of_event
from engine.runs.store import filter_runs, find_run, folder_size, list_runs, run_directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Finetune Studio engine")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a run config (YAML)")
    train.add_argument("config")
    train.add_argument("--detach", action="store_true", help="start in the background and return at once")
    train.add_argument("--plan", action="store_true",
                       help="create the run folder, print each node's command and write a Slurm script; start nothing")
    convert = commands.add_parser("convert", help="convert a LLaMA-Factory YAML to a studio config beside it")
    convert.add_argument("config")
    resume = commands.add_parser("resume", help="continue a stopped or failed run from its last checkpoint")
    resume.add_argument("run_dir")
    resume.add_argument("--detach", action="store_true", help="start in the background and return at once")
    stop = commands.add_parser("stop", help="stop a run (cancel it if queued) and wait until it has ended")
    stop.add_argument("run_dir")
    stop.add_argument("--grace", type=float, default=STOP_GRACE_S, help="seconds to stop cleanly before it is killed")
    add_runs_parser(commands)
    compare = commands.add_parser("compare", help="compare 2–6 runs: curves, config differences, final metrics")
    compare.add_argument("run_dirs", nargs="+")
    compare.add_argument("--x", default="step", choices=X_AXES, help="curve x axis: optimizer step or tokens seen")
    compare.add_argument("--json", action="store_true", help="print the whole comparison as JSON")
    worker = commands.add_parser("worker", help="train a run folder in this process (the queue starts this)")
    worker.add_argument("run_dir")
    commands.add_parser("standby", help="a worker started ahead of a run (the web UI keeps one): imports, then "
                                        "trains the run folder named on its stdin")
    rank = commands.add_parser("rank", help="one rank of a run started by torchrun (each node of a cluster)")
    rank.add_argument("run_dir")
    rank.add_argument("--resume-from", default=None, help="a checkpoint folder of the run to continue from")
    chat = commands.add_parser("chat", help="chat with a run's result or a base model")
    chat.add_argument("source", help="a run directory, or a model (builtin:tiny-demo, Hub id, folder)")
    chat.add_argument("--max-new-tokens", type=int, default=128)
    chat.add_argument("--temperature", type=float, default=0.0)
    chat.add_argument("--image", action="append", default=[], help="a picture to ask about (vision; repeatable)")
    export = commands.add_parser("export", help="merge a run's adapter into its base and save it")
    export.add_argument("run_dir")
    export.add_argument("--name", default="")
    export.add_argument("--max-shard-size", default="2GB")
    export.add_argument("--gguf", default="", help="comma-separated GGUF types to add: f16, q8_0")
    export.add_argument("--adapter-only", action="store_true", help="export the LoRA adapter alone, unmerged")
    evaluate = commands.add_parser("eval", aliases=["evaluate"],
                                   help="evaluate a run's result or a config's base model on a dataset")
    evaluate.add_argument("source", help="a run directory, or a run config YAML (its base model is evaluated)")
    evaluate.add_argument("--dataset", action="append", default=[],
                          help="registered dataset (repeatable); default: the config's")
    evaluate.add_argument("--max-samples", type=int, default=0)
    evaluate.add_argument("--split", default="all", choices=("all", "validation"))
    evaluate.add_argument("--generate", action="store_true",
                          help="also generate replies and score them (BLEU-4, ROUGE)")
    evaluate.add_argument("--max-new-tokens", type=int, default=128)
    evaluate.add_argument("--batch-size", type=int, default=8)
    evaluate.add_argument("--output-dir", default="", help="where generated_predictions.jsonl and metrics.json go")
    data = commands.add_parser("data", help="dataset tools").add_subparsers(dest="data_command", required=True)
    check = data.add_parser("check", help="check a dataset file; exit 0 when usable, 1 when not")
    check.add_argument("path", help="a dataset file, or the name of a registered dataset")
    check.add_argument("--format", default="auto", choices=("auto", *FORMATS), help="skip detection: use this format")
    check.add_argument("--cutoff-len", type=int, default=None,
                       help="report rows far longer than this many tokens (estimated)")
    fill = data.add_parser("fill", help="register a copy of a dataset with its {{name}} placeholders filled in")
    fill.add_argument("name", help="the registered dataset")
    fill.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a placeholder's value")
    fill.add_argument("--as", dest="new_name", required=True, help="the name of the new dataset")
    for command in (check, fill):
        command.add_argument("--dataset-dir", default="",
                             help="a folder with its own dataset_info.json (LLaMA-Factory's data/) to read names from")
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


# ---------------------------------------------------------------------------------------------------------


def command_train(args) -> int:
    path = Path(args.config)
    try:
        conversion = _converted(path) if is_llamafactory(read_yaml(path)) else None
        config = conversion.config if conversion else RunConfig.load(path)
    except (OSError, ConfigError) as err:
        print(f"error: cannot read {path}:\n{err}", file=sys.stderr)
        return 2
    if config is None:
        return _merge(conversion.merge)
    if args.plan:
        return _print_plan(config)
    try:
        handle = submit(config)
    except StartRefused as err:
        print("error: the run cannot start:\n" + "\n".join(f"- {p}" for p in err.problems), file=sys.stderr)
        return 2
    if config.distributed.nodes > 1:
        _print_node_commands(config, handle.run_dir)
    return _report_and_follow(handle, args.detach)


def _print_plan(config: RunConfig) -> int:
    from engine.train.rules import validate
    from engine.runs.store import create_run

    problems = validate(config)
    if problems:
        print("error: the config has problems:\n" + "\n".join(f"- {p}" for p in problems), file=sys.stderr)
        return 2
    run_dir = create_run(config)
    print(f"run folder: {run_dir}")
    _print_node_commands(config, run_dir)
    return 0


def _print_node_commands(config: RunConfig, run_dir: Path) -> None:
    """What to run on each machine: torchrun per node, and a Slurm script written into the run folder."""
    from engine.runs.cluster import node_commands, write_slurm_script

    print(f"on {config.distributed.nodes} machines, each with the run folder at this path, run:")
    for node, command in enumerate(node_commands(config, run_dir)):
        print(f"  node {node}: {command}")
    print(f"or with Slurm: sbatch {write_slurm_script(config, run_dir)}")


def command_convert(args) -> int:
    path = Path(args.config)
    try:
        raw = read_yaml(path)
        if not is_llamafactory(raw):
            print(f"{path} is not a LLaMA-Factory YAML (it has none of {', '.join(MARKERS)})")
            return 2
        conversion = _converted(path)
    except (OSError, ConfigError) as err:
        print(f"error: cannot convert {path}:\n{err}", file=sys.stderr)
        return 2
    if conversion.merge:
        print(say("lf.merge_converted", source=path, command=_merge_command(conversion.merge)))
    return 0


def _converted(path: Path) -> Conversion:
    """Convert a LLaMA-Factory YAML, saving a training config beside it; print what carried over."""
    from engine.models.loading import ships_chat_template

    conversion = convert_file(path, ships_chat_template)
    for line in conversion.report():
        print(f"  {line}")
    if conversion.config is not None:
        print(say("lf.converted", source=path, target=converted_path(path)))
    return conversion


def _merge_command(plan: MergePlan) -> str:
    return f"python -m engine export {plan.adapter} --name {plan.export_dir} --max-shard-size {plan.max_shard_size}"


def _merge(plan: MergePlan) -> int:
    """A LLaMA-Factory merge YAML: export the run its adapter_name_or_path names."""
    from engine.runs.store import run_for_output_dir

    run_dir = run_for_output_dir(plan.adapter, plan.model)
    if run_dir is None:
        print("error: " + say("lf.merge_run_missing", adapter=plan.adapter, saves=saves_dir()), file=sys.stderr)
        return 2
    return command_export(argparse.Namespace(run_dir=run_dir, name=plan.export_dir, gguf="", adapter_only=False,
                                              max_shard_size=plan.max_shard_size))


def command_resume(args) -> int:
    try:
        handle = resume_run(args.run_dir)
    except (StartRefused, PathEscapeError, FileNotFoundError) as err:
        print(f"error: cannot resume:\n{err}", file=sys.stderr)
        return 2
    return _report_and_follow(handle, args.detach)


def command_stop(args) -> int:
    try:
        status = stop_and_wait(args.run_dir, grace_s=args.grace)
    except (PathEscapeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{status}: {args.run_dir}")
    return 0


def command_worker(args) -> int:
    from engine.runs.worker import train_in_this_process

    return train_in_this_process(Path(args.run_dir))


def command_standby(args) -> int:
    from engine.runs.worker import train_when_handed_a_run

    return train_when_handed_a_run()


def command_rank(args) -> int:
    from engine.runs.launch import train_rank

    train_rank(args.run_dir, args.resume_from, True)
    return 0


def _report_and_follow(handle: RunHandle, detach: bool) -> int:
    where = "queued; it starts when the run before it ends" if handle.status().waiting else "started in the background"
    print(f"run {where}: {handle.run_dir}")
    print(f"  log: {handle.run_dir / LOG_FILE}   stop: python -m engine stop {handle.run_dir}")
    if detach:
        return 0
    return follow(handle)


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


def add_runs_parser(commands) -> None:
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


def command_chat(args) -> int:
    from engine.use.chat import build_messages, load_base_for_chat, load_run_for_chat, stream_reply

    source = Path(args.source)
    is_run = (source / CONFIG_FILE).exists()
    chat = load_run_for_chat(source) if is_run else load_base_for_chat(ModelConfig(name_or_path=args.source))
    print(f"chatting with {chat.label}; an empty line ends")
    history: list[dict] = []
    while (message := input("you> ").strip()):
        # The pictures belong to the first question: its placeholders stand for them for the whole chat.
        history = build_messages("", history, message, images=0 if history else len(args.image))
        shown = ""
        for reply in stream_reply(chat, history, args.max_new_tokens, args.temperature, images=args.image):
            print(reply[len(shown):], end="", flush=True)
            shown = reply
        print()
        history.append({"role": "assistant", "content": shown})
    return 0


def command_export(args) -> int:
    from engine.export.merge import export_run

    gguf_types = [kind.strip() for kind in args.gguf.split(",") if kind.strip()]
    try:
        result = export_run(Path(args.run_dir), args.name, args.max_shard_size, args.adapter_only, gguf_types)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"exported to {result.folder} ({result.total_bytes / 1e6:.1f} MB)")
    for name, size in result.files:
        print(f"  {name:40} {size / 1e6:9.2f} MB")
    return 0


def command_eval(args) -> int:
    from engine.use.evaluate import EvalPlan, stream_evaluation

    source = Path(args.source)
    datasets = tuple(args.dataset)
    model_source = args.source
    if source.is_file():  # a config YAML that is not a run: evaluate its base model on its datasets
        config = RunConfig.load(source)
        model_source, datasets = config.model.name_or_path, datasets or tuple(config.data.datasets)
    plan = EvalPlan(model_source, datasets, args.max_samples, args.split, args.generate, args.max_new_tokens,
                    args.batch_size, output_dir=args.output_dir)
    progress = None
    for progress in stream_evaluation(plan):
        metrics = progress.metrics
        scores = "  ".join(f"{k} {metrics[k]:.2f}" for k in ("bleu-4", "rouge-1", "rouge-2", "rouge-l")
                           if k in metrics)
        print(f"[{progress.done}/{progress.total}] loss {metrics['eval_loss']:.4f}  "
              f"ppl {metrics['perplexity']:.2f}  {scores}", flush=True)
    print(json.dumps(progress.metrics, ensure_ascii=False, indent=2))
    return 0


def command_data(args) -> int:
    from engine.data.registry import DataError, using_dataset_dir

    try:
        with using_dataset_dir(args.dataset_dir):
            return DATA_COMMANDS[args.data_command](args)
    except DataError as err:
        print(err.args[0], file=sys.stderr)
        return 1


def command_data_check(args) -> int:
    from engine.data.checker import check_file, check_registered
    from engine.data.registry import read_registry

    path = Path(args.path)
    registered = not path.exists() and args.path in read_registry()
    if registered:
        report = check_registered(args.path, args.cutoff_len)
    else:
        report = check_file(path, args.format, args.cutoff_len)
    print(report.render())
    return 0 if report.ok else 1


def command_data_fill(args) -> int:
    from engine.data.cleaning import save_filled
    from engine.data.placeholders import parse_values

    print(save_filled(args.name, args.new_name, parse_values("\n".join(args.set))))
    return 0


DATA_COMMANDS = {"check": command_data_check, "fill": command_data_fill}


COMMANDS = {
    "train": command_train,
    "convert": command_convert,
    "resume": command_resume,
    "stop": command_stop,
    "worker": command_worker,
    "standby": command_standby,
    "rank": command_rank,
    "runs": command_runs,
    "compare": command_compare,
    "chat": command_chat,
    "export": command_export,
    "eval": command_eval,
    "evaluate": command_eval,
    "data": command_data,
}
