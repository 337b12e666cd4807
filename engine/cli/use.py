"""Using a trained model: chat in the terminal, export it, evaluate it."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.config.schema import ModelConfig, RunConfig
from engine.export.gguf import GGUF_TYPES
from engine.paths import CONFIG_FILE


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
