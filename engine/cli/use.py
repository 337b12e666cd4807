"""Using a trained model: chat in the terminal, export it, evaluate it."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.config.llamafactory import TEMPLATES, MergePlan, convert, is_llamafactory, read_yaml, yaml_kind
from engine.config.schema import ConfigError, ModelConfig, RunConfig
from engine.export.gguf import GGUF_TYPES
from engine.messages import say
from engine.paths import CONFIG_FILE, saves_dir


def add_parsers(commands) -> None:
    chat = commands.add_parser("chat", help="chat with a run's result or a base model")
    chat.add_argument("source", help="a run directory, or a model (builtin:tiny-demo, Hub id, folder)")
    chat.add_argument("--max-new-tokens", type=int, default=128)
    chat.add_argument("--temperature", type=float, default=0.0)
    chat.add_argument("--image", action="append", default=[], help="a picture to ask about (vision; repeatable)")
    export = commands.add_parser("export", help="merge a run's adapter into its base and save it")
    export.add_argument("run_dir")
    export.add_argument("--name", default="")
    export.add_argument("--max-shard-size", default="2GB")
    export.add_argument("--gguf", default="", help=f"comma-separated GGUF types to add: {', '.join(GGUF_TYPES)}")
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


def command_chat(args) -> int:
    from engine.use.chat import build_messages, load_base_for_chat, load_run_for_chat, stream_reply

    try:
        run, model = _what_to_use(args.source)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    chat = load_run_for_chat(run) if run else load_base_for_chat(model)
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

    if _is_llamafactory_file(args.run_dir):  # llamafactory-cli export merge.yaml
        try:
            conversion = convert(read_yaml(Path(args.run_dir)))
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if conversion.merge is None:
            print("error: " + say("lf.export_not_merge", source=args.run_dir), file=sys.stderr)
            return 2
        return export_merge_plan(conversion.merge, args.gguf)
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
    if _is_llamafactory_file(args.source):  # llamafactory-cli eval/predict x.yaml: its run (or model), its data
        try:
            model_source, datasets = _llamafactory_evaluation(source, datasets)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    elif source.is_file():  # a config YAML that is not a run: evaluate its base model on its datasets
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


# ---------------------------------------------------------------------------------------------------------
# LLaMA-Factory YAMLs given to chat, export and eval (what `llamafactory-cli chat/export/eval x.yaml` do)


def _is_llamafactory_file(source: str) -> bool:
    path = Path(source)
    return path.is_file() and path.suffix in (".yaml", ".yml") and is_llamafactory(read_yaml(path))


def _what_to_use(source: str) -> tuple[Path | None, ModelConfig | None]:
    """(a run folder, or a base model) that `source` names: a run folder, a model, or a LLaMA-Factory YAML
    whose adapter_name_or_path names a run (else its model_name_or_path, with its template, is the base)."""
    if (Path(source) / CONFIG_FILE).exists():
        return Path(source), None
    if not _is_llamafactory_file(source):
        return None, ModelConfig(name_or_path=source)
    raw = read_yaml(Path(source))
    if raw.get("adapter_name_or_path"):
        return _one_run(str(raw["adapter_name_or_path"]), str(raw.get("model_name_or_path", ""))), None
    template = TEMPLATES.get(str(raw.get("template", "")), "auto")
    return None, ModelConfig(name_or_path=str(raw["model_name_or_path"]), template=template)


def _one_run(named: str, model: str, adapters: bool = True) -> Path:
    """The one run a LLaMA-Factory output path names; ConfigError when none or several do."""
    from engine.runs.store import runs_for_output_dir

    runs = runs_for_output_dir(named, model, adapters=adapters)
    if len(runs) != 1:
        code = "lf.merge_run_ambiguous" if runs else "lf.merge_run_missing"
        raise ConfigError([say(code, adapter=named, saves=saves_dir(), runs=", ".join(map(str, runs)))])
    return runs[0]


def _llamafactory_evaluation(source: Path, datasets: tuple) -> tuple[str, tuple]:
    """What an eval/predict YAML evaluates: its run (adapter) or model, on its eval_dataset (else dataset)."""
    raw = read_yaml(source)
    if "task" in raw:  # LLaMA-Factory's removed MMLU/C-Eval runner: lm-evaluation-harness does it here
        raise ConfigError([say("lf.eval_task", task=raw["task"], source=source)])
    if yaml_kind(raw) == "merge":
        raise ConfigError([say("lf.kind_merge_eval", source=source)])
    run, model = _what_to_use(str(source))
    names = raw.get("eval_dataset") or raw.get("dataset") or ""
    wanted = datasets or tuple(name.strip() for name in str(names).split(",") if name.strip())
    return str(run) if run else model.name_or_path, wanted


def export_merge_plan(plan: MergePlan, gguf: str = "") -> int:
    """A LLaMA-Factory merge YAML: export the run its adapter_name_or_path names (or, with no adapter, the full
    run its model_name_or_path names); several runs of that name are refused, never guessed between."""
    try:
        run = _one_run(plan.adapter or plan.model, plan.model, adapters=bool(plan.adapter))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return command_export(argparse.Namespace(run_dir=str(run), name=plan.export_dir, gguf=gguf, adapter_only=False,
                                              max_shard_size=plan.max_shard_size))
