"""Training throughput: the seed-style baseline (Trainer + peft, every example padded to 512) against the
engine's default path (packed rows with per-example attention, the automatic attention kernel, Liger on a GPU).

The same model (a real architecture config with random weights), the same synthetic alpaca-like lengths
(log-normal, median 176, p90 385, cut at 512; the first 40 % of each example is prompt and carries no label),
the same batch of 8 rows, AdamW. Every variant warms up first; then each trains on the same measured examples
(the baseline in batches of 8 padded examples, the engine in batches of 8 packed rows):
  CPU  the variants take turns step by step, the one furthest behind in its pass next (a shared machine's load
       hits all of them alike), in one process
  GPU  the variants run one after another, each with its own peak-memory count
and the script prints, per variant: real (non-padding) tokens/s over the whole pass, peak memory (GPU), MFU, the
padding share, and the ratio to its baseline. Rates of the same examples are compared, not of single steps:
a padded step costs the same whatever its examples' lengths, so its real tokens/s depends on which examples it
drew. Real tokens are counted by the engine's own TokenTally and the rate by its Throughput meter: the numbers
a run's log events carry.

MFU = real tokens/s x FLOPs per real token / the device's peak FLOP/s, with
  FLOPs per real token = c x N + 12 x L x d x s
  c = 6 for full fine-tuning (forward 2N, backward 4N), 4 for LoRA / QLoRA (no weight gradients for the frozen
  weights), N = parameters in the matrix multiplies (embedding lookup excluded, output head included), L layers,
  d = heads x head_dim, s = the mean number of keys a token attends to ((n + 1) / 2 in an example of n tokens);
  12 = 2 (QK^T and AV) x 2 FLOPs per multiply-add x 3 (forward + backward).
Padding tokens are not counted as useful work. CPU peak FLOP/s is not known reliably, so MFU is left out there
unless --peak-tflops is given.

    python bench/train_throughput.py --quick      # CPU, a 7 M-parameter Llama, LoRA and full (~1.5 min, 2 idle cores)
    python bench/train_throughput.py              # GPU: Qwen2.5-0.5B and Llama-3.2-1B shapes, LoRA, QLoRA, full

The last line reads `engine LoRA vs baseline: X.XXx`. Results are written to bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")

# The engine is imported once the project folder is on the path.
from engine.config.schema import RunConfig  # noqa: E402
from engine.train.label_logits import compute_logits_at_labels_only  # noqa: E402
from engine.train.packing import (  # noqa: E402
    IGNORE,
    TOKEN_COUNTS,
    CountingCollator,
    PackedCollator,
    count_tokens,
    pack_examples,
)
from engine.train.speed import plan_speed  # noqa: E402
from engine.train.throughput import Throughput  # noqa: E402

CUTOFF = 512
BATCH = 8
PROMPT_SHARE = 0.4
BASELINE_METHODS = {"lora": "peft LoRA r16", "qlora": "peft QLoRA r16 (nf4)", "full": "every weight"}
H200_BF16_TFLOPS = 989.0  # dense bf16 peak of an H100/H200 SXM

# Random-weight models: the quick CPU one, and published shapes for a GPU.
QUICK_SHAPE = {"vocab_size": 8192, "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
               "num_attention_heads": 4, "num_key_value_heads": 4, "tie_word_embeddings": False}
GPU_SHAPES = {
    "qwen2.5-0.5b": ("qwen2", {"vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
                               "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
                               "tie_word_embeddings": True}),
    "llama-3.2-1b": ("llama", {"vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192,
                               "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
                               "tie_word_embeddings": True}),
}


# ---------------------------------------------------------------------------------------------------------
# Data


def synthetic_examples(count: int, vocab: int, seed: int = 0) -> dict:
    """{"input_ids", "labels"} columns with alpaca-like lengths; the prompt part carries IGNORE labels."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    sigma = math.log(385 / 176) / 1.2816  # p90 / median of a log-normal
    lengths = (176 * torch.exp(sigma * torch.randn(count, generator=generator))).round().clamp(16, CUTOFF).int()
    columns = {"input_ids": [], "labels": []}
    for length in lengths.tolist():
        ids = torch.randint(3, vocab, (length,), generator=generator).tolist()
        prompt = int(length * PROMPT_SHARE)
        columns["input_ids"].append(ids)
        columns["labels"].append([IGNORE] * prompt + ids[prompt:])
    return columns


def padded_batches(examples: dict) -> list[list[dict]]:
    """The seed-style baseline: BATCH examples a step (each padded to CUTOFF tokens by PadToCutoff)."""
    rows = [{"input_ids": ids, "labels": labels} for ids, labels in zip(examples["input_ids"], examples["labels"])]
    return in_batches(rows)


def in_batches(rows: list) -> list[list]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


class PadToCutoff:
    """Every example padded on the right to CUTOFF tokens, as the seed's `padding="max_length"` did."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        pads = [CUTOFF - len(f["input_ids"]) for f in features]
        return {
            "input_ids": torch.tensor([f["input_ids"] + [self.pad_id] * n for f, n in zip(features, pads)]),
            "attention_mask": torch.tensor([[1] * len(f["input_ids"]) + [0] * n for f, n in zip(features, pads)]),
            "labels": torch.tensor([f["labels"] + [IGNORE] * n for f, n in zip(features, pads)]),
        }


def packed_batches(examples: dict) -> list[list[dict]]:
    """The engine's default: examples packed into rows of CUTOFF tokens, BATCH rows a step."""
    return in_batches(pack_examples(examples, CUTOFF))


# ---------------------------------------------------------------------------------------------------------
# Models


def build_model(kind: str, shape: dict, attention: str, dtype, device, quantized: bool):
    """A model of `shape` with random weights (seeded); with `quantized`, saved and reloaded in 4-bit."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    config = AutoConfig.for_model(kind, **shape, use_cache=False)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attention)
    if not quantized:
        return model.to(device)
    from transformers import BitsAndBytesConfig

    folder = tempfile.mkdtemp(prefix="bench-weights-")
    model.save_pretrained(folder)
    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
                                      bnb_4bit_use_double_quant=True)
    return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation=attention,
                                                quantization_config=quantization, device_map={"": device})


def baseline_method(model, method: str):
    """Seed-style: peft LoRA r16 on every linear layer, or the whole model trained."""
    if method == "full":
        return model
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))


def engine_method(model, method: str):
    """The engine's own fine-tuning set-up (engine/models/methods.py) for the same method."""
    from engine.models.methods import MethodContext, apply_method

    config = RunConfig()
    config.method.finetuning_type = "full" if method == "full" else "lora"
    config.method.lora_rank, config.method.lora_alpha = 16, 32
    return apply_method(model, config.method, MethodContext(quantized=method == "qlora"))


# ---------------------------------------------------------------------------------------------------------
# Variants


@dataclass
class Variant:
    name: str
    method: str  # lora | qlora | full
    engine: bool
    model: object = None
    optimizer: object = None
    collator: object = None
    warmup: list = field(default_factory=list)  # batches of the warm-up steps
    batches: list = field(default_factory=list)  # batches of the measured pass
    meter: Throughput = field(default_factory=Throughput)
    real_tokens_per_s: float = 0.0  # over the measured pass
    real_tokens_per_cpu_s: float = 0.0  # the same, per CPU-second (all threads)
    padding: float = 0.0  # padding share of the measured pass
    real: int = 0  # real tokens of the measured steps so far
    cpu_seconds: float = 0.0
    steps_done: int = 0  # of the measured pass
    peak_gib: float | None = None
    flops_per_token: float = 0.0
    peak_tflops: float | None = None
    notes: list = field(default_factory=list)  # what is on, in words

    def step(self, rows: list, device) -> None:
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in self.collator(rows).items()}
        loss = self.model(**batch).loss
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def prepare(variant: Variant, model_spec: tuple, examples: tuple[dict, dict], warmup_steps: int, device, dtype,
            peak_tflops: float | None) -> None:
    """The variant's model, optimizer and batches; `examples` = (warm-up examples, measured examples)."""
    import torch

    kind, shape = model_spec
    plan = plan_speed(engine_config(variant.method), cuda=device.type == "cuda")
    attention = plan.attention if variant.engine else "sdpa"
    model = build_model(kind, shape, attention, dtype, device, variant.method == "qlora")
    model = engine_method(model, variant.method) if variant.engine else baseline_method(model, variant.method)
    if variant.engine and plan.label_logits:
        compute_logits_at_labels_only(model)
    if variant.engine and plan.liger:
        from transformers.integrations.liger import apply_liger_kernel

        apply_liger_kernel(model, None)
    model.train()
    variant.model = torch.compile(model) if variant.engine and plan.torch_compile else model
    trainable = [p for p in model.parameters() if p.requires_grad]
    variant.optimizer = torch.optim.AdamW(trainable, lr=1e-4, fused=device.type == "cuda")
    packed = variant.engine and plan.packing
    variant.collator = PackedCollator(0, attention, dtype) if packed else CountingCollator(PadToCutoff(0))
    variant.warmup, variant.batches = (packed_batches(part) if packed else padded_batches(part) for part in examples)
    variant.warmup = variant.warmup[:warmup_steps]
    count_tokens(model, variant.collator.tally)  # as a run counts them: when the batch is trained on
    variant.flops_per_token = flops_per_token(shape, variant.method, examples[1])
    variant.peak_tflops = peak_tflops
    baseline_notes = [f"pad to 512, sdpa, {BASELINE_METHODS[variant.method]}"]
    variant.notes = [str(n) for n in plan.notes[:4]] if variant.engine else baseline_notes


def engine_config(method: str) -> RunConfig:
    config = RunConfig()
    config.data.cutoff_len = CUTOFF
    config.method.finetuning_type = "full" if method == "full" else "lora"
    config.model.quantization = "4bit" if method == "qlora" else "none"
    return config


def flops_per_token(shape: dict, method: str, examples: dict) -> float:
    """c x N + 12 x L x d x s (see the module docstring)."""
    hidden, layers, heads = shape["hidden_size"], shape["num_hidden_layers"], shape["num_attention_heads"]
    head_dim = hidden // heads
    q, kv = heads * head_dim, shape["num_key_value_heads"] * head_dim
    per_layer = hidden * (q + 2 * kv) + q * hidden + 3 * hidden * shape["intermediate_size"]
    matmul_params = layers * per_layer + shape["vocab_size"] * hidden  # output head
    lengths = [len(ids) for ids in examples["input_ids"]]
    mean_keys = sum(n * (n + 1) / 2 for n in lengths) / sum(lengths)
    return (6 if method == "full" else 4) * matmul_params + 12 * layers * q * mean_keys


def warm_up(variant: Variant, device) -> None:
    for rows in variant.warmup:
        variant.step(rows, device)
    variant.meter.window()  # nothing of the warm-up counts


def measure_step(variant: Variant, device) -> None:
    """The variant's next measured step: its real tokens and time join the window of its pass."""
    import torch

    tally = variant.collator.tally
    real_before, cpu_before = tally.real, time.process_time()
    variant.meter.restart((tally.real, tally.total))  # the clock excludes the other variants' steps between
    variant.step(variant.batches[variant.steps_done], device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    variant.meter.step_done((tally.real, tally.total))
    variant.real += tally.real - real_before
    variant.cpu_seconds += time.process_time() - cpu_before
    variant.steps_done += 1
    if variant.steps_done == len(variant.batches):  # the pass is over: its rates
        window = variant.meter.window()
        variant.real_tokens_per_s, variant.padding = window["real_tokens_per_s"], window.get("padding_share", 0.0)
        variant.real_tokens_per_cpu_s = variant.real / variant.cpu_seconds


def run_interleaved(variants: list[Variant], device) -> None:
    """CPU: the variants take turns, the one furthest behind in its pass next, so that load from elsewhere
    hits them alike although their passes have different numbers of steps."""
    for variant in variants:
        warm_up(variant, device)
    while unfinished := [v for v in variants if v.steps_done < len(v.batches)]:
        measure_step(min(unfinished, key=lambda v: v.steps_done / len(v.batches)), device)


def run_in_turn(variants: list[Variant], device) -> None:
    """GPU: one variant after another, each with its own peak memory (models are freed in between)."""
    import torch

    for variant in variants:
        torch.cuda.reset_peak_memory_stats()
        warm_up(variant, device)
        while variant.steps_done < len(variant.batches):
            measure_step(variant, device)
        variant.peak_gib = torch.cuda.max_memory_allocated() / 1024**3
        variant.model = variant.optimizer = None
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------------------------
# Report


def report_rows(model_name: str, variants: list[Variant]) -> list[str]:
    baselines = {v.method: v for v in variants if not v.engine}
    rows = []
    for v in variants:
        mfu = (f"{v.real_tokens_per_s * v.flops_per_token / (v.peak_tflops * 1e12):.1%}" if v.peak_tflops else "n/a")
        peak = f"{v.peak_gib:.2f}" if v.peak_gib is not None else "n/a"
        base = baselines[v.method]
        rate, cpu_rate = v.real_tokens_per_s, v.real_tokens_per_cpu_s
        rows.append(f"| {model_name} | {v.name} | {rate:,.0f} | {cpu_rate:,.0f} | {peak} | {mfu} | {v.padding:.1%} "
                    f"| {rate / base.real_tokens_per_s:.2f}x | {cpu_rate / base.real_tokens_per_cpu_s:.2f}x "
                    f"| {'; '.join(v.notes)} |")
    return rows


def packed_loss_check(examples: dict, model_spec: tuple, device, dtype) -> float:
    """The largest |mean loss - the plain padded batch's| of the same examples (packing must not change what is
    learned) over: packed rows under the plain head, and packed rows under the engine's training forward (the
    head at labelled tokens only)."""
    import torch

    model = build_model(*model_spec, "sdpa", dtype, device, False).eval()
    subset = {key: column[:24] for key, column in examples.items()}
    rows = [{"input_ids": ids, "labels": labels} for ids, labels in zip(subset["input_ids"], subset["labels"])]
    packed = PackedCollator(0, "sdpa", dtype)(pack_examples(subset, CUTOFF))  # every example, in one batch each
    padded = CountingCollator(PadToCutoff(0))(rows)
    losses = []
    with torch.no_grad():
        for batch in (padded, packed):
            batch = {k: v.to(device) for k, v in batch.items() if k != TOKEN_COUNTS}
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.float()
            labels = batch["labels"][:, 1:]
            total = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE, reduction="sum")
            count = (labels != IGNORE).sum()
            losses.append((total / count).item())
        compute_logits_at_labels_only(model)
        losses.append(model.train()(**batch).loss.item())  # the packed batch, as the engine trains on it
    return max(abs(loss - losses[0]) for loss in losses[1:])


def environment() -> str:
    import peft
    import torch
    import transformers

    cpu = f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu
    return (f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n- device: {device}\n"
            f"- python {platform.python_version()}, torch {torch.__version__}, "
            f"transformers {transformers.__version__}, "
            f"peft {peft.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CPU-sized: a 7 M-parameter Llama, LoRA and full")
    parser.add_argument("--examples", type=int, default=None,
                        help="measured examples, the same for every variant (default: 96 on a CPU, 640 on a GPU)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up steps per variant")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="device peak for MFU (default: H200 bf16 on a GPU)")
    parser.add_argument("--results", default=str(PROJECT / "bench" / "RESULTS.md"))
    args = parser.parse_args()

    import torch

    load = os.getloadavg()
    cuda = torch.cuda.is_available() and not args.quick
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32  # bf16 matmuls are ~15x slower on CPUs without bf16 units
    peak = args.peak_tflops or (H200_BF16_TFLOPS if cuda else None)
    models = GPU_SHAPES if cuda else {"llama-7m (quick)": ("llama", QUICK_SHAPE)}
    methods = ("lora", "qlora", "full") if cuda else ("lora", "full")
    measured = args.examples or (640 if cuda else 96)
    rows, check = [], None
    lora_ratio = None
    for model_name, spec in models.items():
        vocab = spec[1]["vocab_size"]
        examples = synthetic_examples(BATCH * 3 * args.warmup, vocab, seed=1), synthetic_examples(measured, vocab)
        check = packed_loss_check(examples[1], spec, device, dtype) if check is None else check
        for method in methods:  # one method at a time: its two models, and the LoRA figure comes first
            variants = [Variant(f"{'engine' if engine else 'baseline'} {method}", method, engine)
                        for engine in (False, True)]
            for variant in variants:
                prepare(variant, spec, examples, args.warmup, device, dtype, peak)
            (run_in_turn if cuda else run_interleaved)(variants, device)
            rows += report_rows(model_name, variants)
            for variant in variants:
                print(f"{model_name:18} {variant.name:16} {variant.real_tokens_per_s:>9,.0f} real tok/s "
                      f"{variant.real_tokens_per_cpu_s:>7,.0f} per CPU-s  padding "
                      f"{variant.padding:5.1%}" + (f"  peak {variant.peak_gib:.2f} GiB" if variant.peak_gib else ""),
                      flush=True)
            if method == "lora" and lora_ratio is None:
                baseline, engine = variants
                lora_ratio = engine.real_tokens_per_s / baseline.real_tokens_per_s
                cpu_ratio = engine.real_tokens_per_cpu_s / baseline.real_tokens_per_cpu_s
    write_results(Path(args.results), rows, check, measured, args.warmup, cuda, load)
    print(f"mean loss packed (plain head; head at labelled tokens) vs padded, same examples: max |diff| = {check:.2e}")
    print(f"engine LoRA vs baseline per CPU-second: {cpu_ratio:.2f}x")
    print(f"engine LoRA vs baseline: {lora_ratio:.2f}x")


def write_results(path: Path, rows: list[str], check: float, measured: int, warmup: int, cuda: bool,
                  load: tuple) -> None:
    how = "one variant after another, peak memory each" if cuda else "the two variants interleaved step by step"
    path.write_text(
        "# Training throughput (bench/train_throughput.py)\n\n"
        f"{environment()}\n- {warmup} warm-up step(s), then a pass over the same {measured} examples per variant "
        f"({how}); batch {BATCH} rows, cutoff {CUTOFF}; rate = real (non-padding) tokens / seconds of the pass\n"
        f"- mean loss on the same examples, packed (plain head; head at labelled tokens) vs padded: max |diff| = "
        f"{check:.2e}\n"
        "- MFU = real tokens/s x (c x N + 12 x L x d x s) / peak FLOP/s; c = 6 full, 4 LoRA/QLoRA "
        "(see the script's docstring); n/a without a known peak (CPU)\n"
        f"- load average (1 min) at the start / end: {load[0]:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
        "cores; "
        "x baseline per CPU-s compares real tokens per CPU-second (all threads), which load from others changes "
        "least\n\n"
        "| model | variant | real tokens/s | real tokens/CPU-s | peak GiB | MFU | padding | x baseline "
        "| x baseline per CPU-s | what is on |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
