"""The README.md written into every export: what the model is, how it was made, how well it did, how to run it.

Everything comes from the run directory: config.yaml (base model, method, data, hyperparameters),
events.jsonl (final training loss, last validation loss, peak memory) and metrics.json (the latest evaluation), if any.
"""
from __future__ import annotations

from pathlib import Path

from engine.config.schema import RunConfig
from engine.models.methods import METHODS
from engine.runs.events import latest_progress, peak_memory_mb, read_events
from engine.use.predict import read_metrics
from engine.paths import CONFIG_FILE


def final_metrics(run_dir: Path) -> dict:
    """The numbers worth quoting: last logged training loss, last validation loss, latest evaluation scores."""
    events = read_events(run_dir)
    logs = [e for e in events if e["event"] == "log"]
    evals = [e for e in events if e["event"] == "eval"]
    found = {}
    if logs:
        found["train_loss"] = logs[-1]["loss"]
        found["steps"] = latest_progress(events)["step"]
    if evals:
        found["eval_loss"] = evals[-1]["eval_loss"]
        found["eval_perplexity"] = evals[-1].get("perplexity")
    peak = peak_memory_mb(events)
    if peak is not None:
        found["peak memory (MB)"] = peak
    evaluation = read_metrics(run_dir)
    for key in ("bleu-4", "rouge-1", "rouge-2", "rouge-l"):
        if key in evaluation:
            found[f"{key} ({'+'.join(evaluation.get('datasets', []))})"] = evaluation[key]
    return found


def render_model_card(run_dir: Path, kind: str, files: list[str]) -> str:
    """Markdown for an export of `kind` ("merged model", "LoRA adapter") holding `files`."""
    run_dir = Path(run_dir)
    config = RunConfig.load(run_dir / CONFIG_FILE)
    method = config.method
    adapter = kind == "LoRA adapter"
    front = [
        "---",
        f"base_model: {config.model.name_or_path}",
        f"library_name: {'peft' if adapter else 'transformers'}",
        "tags: [finetune-studio, " + f"{method.stage}, {method.finetuning_type}]",
        "---",
    ]
    body = [
        f"# {run_dir.name} ({kind})",
        "",
        f"Fine-tuned with Finetune Studio from run `{run_dir.name}`.",
        "",
        "| | |",
        "|---|---|",
        f"| base model | `{config.model.name_or_path}` |",
        f"| stage / method | {method.stage} / {method.finetuning_type} |",
        *(f"| {name} | {getattr(method, name)} |" for name in METHODS[method.finetuning_type].fields),
        f"| chat template | {config.model.template} |",
        f"| data | {', '.join(config.data.datasets)} "
        f"(cutoff_len {config.data.cutoff_len}, val_size {config.data.val_size}) |",
        "",
        "## Hyperparameters",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in config.to_dict()["train"].items() if name != "run_name"),
        "",
        "## Final metrics",
        "",
        *_metric_lines(final_metrics(run_dir)),
        "",
        "## Files",
        "",
        *(f"- `{name}`" for name in sorted(files)),
        "",
        "## Use",
        "",
        *_usage(adapter, config.model.name_or_path, files),
    ]
    return "\n".join(front + body) + "\n"


def _metric_lines(metrics: dict) -> list[str]:
    if not metrics:
        return ["No metrics were recorded for this run."]
    rows = ["| metric | value |", "|---|---|"]
    for name, value in metrics.items():
        rows.append(f"| {name} | {value:.4f} |" if isinstance(value, float) else f"| {name} | {value} |")
    return rows


def _usage(adapter: bool, base: str, files: list[str]) -> list[str]:
    if adapter:
        code = [
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "from peft import PeftModel",
            f'base = AutoModelForCausalLM.from_pretrained("{base}")',
            'model = PeftModel.from_pretrained(base, "path/to/this/folder")',
            'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
        ]
    else:
        code = [
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")',
            'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
        ]
    lines = ["```python", *code, "```"]
    if "Modelfile" in files:
        lines += ["", "With Ollama: `ollama create my-model -f Modelfile && ollama run my-model`.",
                  "With llama.cpp: `llama-cli -m <file>.gguf -cnv`."]
    return lines


def write_model_card(folder: Path, run_dir: Path, kind: str) -> Path:
    files = [p.name for p in Path(folder).iterdir() if p.is_file()] + ["README.md"]
    path = Path(folder) / "README.md"
    path.write_text(render_model_card(run_dir, kind, files), encoding="utf-8")
    return path
