"""Starting and stopping runs: train (a LLaMA-Factory YAML is converted first), convert, resume, stop."""
from __future__ import annotations

import sys
from pathlib import Path

from engine.cli.follow import follow
from engine.cli.use import export_merge_plan
from engine.config.llamafactory import (
    KEYS,
    MARKERS,
    Conversion,
    MergePlan,
    convert_file,
    converted_path,
    is_llamafactory,
    read_yaml,
    yaml_kind,
)
from engine.config.parsing import read_override
from engine.config.schema import ConfigError, RunConfig
from engine.messages import say
from engine.paths import PathEscapeError
from engine.runs.files import LOG_FILE
from engine.runs.preflight import StartRefused
from engine.runs.process import STOP_GRACE_S
from engine.runs.scheduler import RunHandle, resume_run, stop_and_wait, submit


def add_parsers(commands) -> None:
    train = commands.add_parser("train", help="train a run config (YAML)")
    train.add_argument("config")
    train.add_argument("overrides", nargs="*", metavar="key=value",
                       help="change a field: train.learning_rate=1e-4, or a LLaMA-Factory key: learning_rate=1e-4")
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


def command_train(args) -> int:
    path = Path(args.config)
    try:
        config, conversion = _config_of(path, args.overrides)
    except (OSError, ConfigError) as err:
        print(f"error: cannot read {path}:\n{err}", file=sys.stderr)
        return 2
    if config is None:
        return export_merge_plan(conversion.merge)
    if args.plan:
        return _print_plan(config)
    try:
        handle = submit(config)
    except StartRefused as err:
        print("error: the run cannot start:\n" + "\n".join(f"- {p}" for p in err.problems), file=sys.stderr)
        return 2
    if conversion and conversion.output_dir:
        from engine.runs.store import record_output_dir

        record_output_dir(handle.run_dir, conversion.output_dir)
    if config.distributed.nodes > 1:
        _print_node_commands(config, handle.run_dir)
    return _report_and_follow(handle, args.detach)


def _config_of(path: Path, overrides: list[str]) -> tuple[RunConfig | None, Conversion | None]:
    """The run a YAML describes with `key=value` overrides applied: a studio config's dotted fields, or a
    LLaMA-Factory YAML's own keys (applied before it is converted, as llamafactory-cli does) or dotted fields
    (after). A LLaMA-Factory YAML that is not for training names the command that runs it."""
    pairs = [read_override(text) for text in overrides]
    raw = read_yaml(path)
    if not is_llamafactory(raw):
        return RunConfig.load(path).replace(dict(_studio_fields(pairs))), None
    raw = {**raw, **{key: value for key, value in pairs if "." not in key}}
    kind = yaml_kind(raw)
    if kind not in ("train", "merge"):
        raise ConfigError([say(f"lf.kind_{kind}", source=path)])
    conversion = _converted(path, raw)
    dotted = {key: value for key, value in pairs if "." in key}
    if conversion.config is not None and dotted:
        conversion.config = conversion.config.replace(dotted)
    return conversion.config, conversion


def _studio_fields(pairs: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """Dotted fields as they are; a LLaMA-Factory key given for a studio config goes to its field."""
    fields = []
    for key, value in pairs:
        if "." in key:
            fields.append((key, value))
        elif key in KEYS:
            fields.append((KEYS[key][0], KEYS[key][1](value)))
        else:
            raise ConfigError([say("cli.override_unknown", key=key)])
    return fields


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


def _converted(path: Path, raw: dict | None = None) -> Conversion:
    """Convert a LLaMA-Factory YAML (its mapping `raw` when overridden), saving a training config beside it;
    print what carried over."""
    from engine.models.loading import ships_chat_template

    conversion = convert_file(path, ships_chat_template, raw=raw)
    for line in conversion.report():
        print(f"  {line}")
    if conversion.config is not None:
        print(say("lf.converted", source=path, target=converted_path(path)))
    return conversion


def _merge_command(plan: MergePlan) -> str:
    return f"python -m engine export {plan.adapter} --name {plan.export_dir} --max-shard-size {plan.max_shard_size}"


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


def _report_and_follow(handle: RunHandle, detach: bool) -> int:
    where = "queued; it starts when the run before it ends" if handle.status().waiting else "started in the background"
    print(f"run {where}: {handle.run_dir}")
    print(f"  log: {handle.run_dir / LOG_FILE}   stop: python -m engine stop {handle.run_dir}")
    if detach:
        return 0
    return follow(handle)
