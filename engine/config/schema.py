"""The run config: one dataclass tree that the UI, the CLI and a saved run all share.

Every field declares its help text, allowed choices and bounds in its metadata, so the web UI builds
labels and tooltips from here and `validate()` checks the same rules the UI shows. Reading YAML and raw
mappings into the tree is engine/config/parsing.py's.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from engine.config.parsing import ConfigError, build, excerpt, hints, read_yaml
from engine.messages import say
from engine.paths import is_plain_name


def option(default, help: str, choices: tuple | None = None, minimum=None, maximum=None, above=None):
    """A config field with its help text and rules (`above` is an exclusive lower bound)."""
    meta = {"help": help, "choices": choices, "minimum": minimum, "maximum": maximum, "above": above}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


# ---------------------------------------------------------------------------------------------------------
# Sections


@dataclass
class ModelConfig:
    name_or_path: str = option(
        "builtin:tiny-demo",
        "Base model: builtin:tiny-demo (a tiny offline demo that memorises but does not generalise; built on first "
        "use, which takes tens of seconds to minutes on a CPU), a packaged real model "
        "(packaged:smollm2-135m-instruct, packaged:gemma3-270m), a Hugging Face Hub id, a local folder, or a local "
        ".gguf file (converted once).",
    )
    template: str = option(
        "auto", "Chat template used for training and chat: auto = the tokenizer's own, or a file in templates/."
    )
    dtype: str = option(
        "auto",
        "Compute dtype: auto = bfloat16 on GPUs that support it, else float32.",
        choices=("auto", "float32", "bfloat16", "float16"),
    )
    trust_remote_code: bool = option(
        False, "Run Python code shipped inside the model repository. Only tick this for repositories you trust."
    )
    quantization: str = option(
        "none",
        "Load the base model quantised with bitsandbytes: 4bit with LoRA = QLoRA. Saves memory; needs bitsandbytes.",
        choices=("none", "8bit", "4bit"),
    )
    quant_type: str = option("nf4", "4-bit number format: nf4 (recommended) or fp4.", choices=("nf4", "fp4"))
    double_quant: bool = option(True, "4-bit: also quantise the quantisation constants (saves ~0.4 bit/weight).")
    allow_pickle_weights: bool = option(
        False,
        "Also load weights stored as pickle files (.bin, .pt); these can run code when loaded, so by default "
        "only safetensors weights are read. Only tick this for models you trust.",
    )
    enable_thinking: bool = option(
        True,
        "Models that think before answering (<think>…</think>, e.g. Qwen3): on = train the thinking in the data "
        "(an empty block where a reply has none) and let the model think in chat; off = thinking is removed from "
        "the replies, an empty block is part of the prompt, and chat asks for no thinking.",
    )


@dataclass
class DataConfig:
    datasets: list[str] = option(["demo_alpaca_en"], "Registered datasets (dataset_info.json) to train on.")
    cutoff_len: int = option(512, "Longest example in tokens; longer ones are truncated and counted.", minimum=8)
    train_on_prompt: bool = option(False, "Also train on prompt tokens (by default only assistant replies are).")
    val_size: float = option(
        0.0, "Fraction of examples held out for validation (0 = none).", minimum=0.0, maximum=0.5
    )
    max_samples: int = option(0, "Use at most this many examples per dataset (0 = all).", minimum=0)
    dataset_dir: str = option(
        "", "A folder with its own dataset_info.json (LLaMA-Factory's data/ folder): its datasets can be chosen too, "
        "file names relative to it; your workspace registry wins on a shared name. Empty = none.",
    )
    mask_history: bool = option(
        False, "Train only the last assistant reply of each conversation; earlier replies are context (masked)."
    )


@dataclass
class MethodConfig:
    stage: str = option(
        "sft",
        "sft = supervised fine-tuning on conversations; pt = pretraining on plain text; rm = reward model on "
        "preference pairs; dpo / orpo / kto = preference optimisation; grpo = reinforcement learning: the model "
        "answers each prompt several times and reward functions score the answers (PPO is not offered: TRL 1.16 has "
        "none; GRPO replaces it).",
        choices=("sft", "pt", "rm", "dpo", "orpo", "kto", "grpo"),
    )
    finetuning_type: str = option(
        "lora",
        "full = every weight; freeze = only the last layers; bitfit = only bias terms; lora = low-rank adapters "
        "(QLoRA with 4-bit quantisation); adalora, ia3, prefix, prompt, ptuning = other PEFT methods.",
        choices=("full", "freeze", "bitfit", "lora", "adalora", "ia3", "prefix", "prompt", "ptuning"),
    )
    lora_rank: int = option(
        8, "LoRA rank r: adapter size; 8–64 is typical. AdaLoRA: the average rank it ends at.", minimum=1
    )
    lora_alpha: int = option(16, "LoRA alpha: scales the adapter; usually 2 × rank.", minimum=1)
    lora_dropout: float = option(0.0, "Dropout on the LoRA input.", minimum=0.0, maximum=0.9)
    lora_target: str = option(
        "all-linear", "Modules that get adapters: all-linear, or comma-separated names such as q_proj,v_proj. "
        "all-linear also adapts a mixture-of-experts model's fused experts (not with DoRA).",
    )
    use_rslora: bool = option(False, "rsLoRA: scale by alpha/√r instead of alpha/r, steadier at high ranks.")
    use_dora: bool = option(False, "DoRA: learn each weight's magnitude and direction separately.")
    pissa_init: bool = option(False, "PiSSA: start the adapter from the weight's principal singular vectors.")
    loraplus_lr_ratio: float = option(
        0.0, "LoRA+: learning rate of the B matrices = this × the learning rate (0 = off; 16 is typical).", minimum=0.0
    )
    modules_to_save: str = option(
        "", "Extra modules trained in full and saved with the adapter, e.g. embed_tokens,lm_head."
    )
    adalora_init_rank: int = option(12, "AdaLoRA: rank every adapter starts with before pruning.", minimum=1)
    num_virtual_tokens: int = option(
        16, "Prefix / prompt / P-tuning: number of trainable virtual tokens.", minimum=1
    )
    freeze_trainable_layers: int = option(
        2, "Freeze: number of last decoder layers left trainable.", minimum=1
    )
    pref_beta: float = option(
        0.1,
        "DPO / ORPO / KTO β: how far the model may move from the reference (ORPO: weight of the odds-ratio term).",
        above=0.0,
    )
    pref_loss: str = option(
        "sigmoid",
        "DPO loss: sigmoid (DPO), ipo, hinge (SLiC), or simpo (reference-free, length-normalised).",
        choices=("sigmoid", "ipo", "hinge", "simpo"),
    )
    simpo_gamma: float = option(0.5, "SimPO: target reward margin γ.", minimum=0.0)
    grpo_rewards: list[str] = option(
        ["reference_rouge"],
        "GRPO: what a good answer is. reference_rouge = close to the dataset's answer (ROUGE-L); answer_match = "
        "contains the dataset answer's final number or text; format = matches the regular expression below; "
        "brevity = shorter is better; reward_model = the score of a finished reward-model run. Several add up.",
        choices=("reference_rouge", "answer_match", "format", "brevity", "reward_model"),
    )
    grpo_num_generations: int = option(
        4, "GRPO: answers written per prompt; each is judged against its group's mean reward.", minimum=2
    )
    grpo_max_new_tokens: int = option(64, "GRPO: longest answer the model may write, in tokens.", minimum=1)
    grpo_temperature: float = option(1.0, "GRPO: sampling temperature; the answers of a group must differ.", above=0.0)
    grpo_kl_beta: float = option(
        0.04, "GRPO: weight of the penalty for drifting from the base model (0 = none, and no reference pass).",
        minimum=0.0,
    )
    grpo_format_regex: str = option(
        "", "GRPO format reward: a regular expression a good answer matches as a whole, e.g. <think>.*</think>.*"
    )
    grpo_reward_run: str = option(
        "", "GRPO reward_model reward: a finished reward-model (rm) run, as its folder under saves/."
    )
    adapter_run: str = option(
        "", "LoRA: continue training the adapter of a finished LoRA run (its folder under saves/, e.g. "
        "tiny-demo/lora/my-run) instead of starting a new one; its rank and targets are kept. Empty = a new adapter.",
    )
    freeze_vision_tower: bool = option(
        True,
        "Vision models: keep the image encoder fixed (the usual choice: it already sees; the language part learns).",
    )
    freeze_projector: bool = option(
        True,
        "Vision models: keep the projector (image features → language embeddings) fixed. Untick to train it: in "
        "full with LoRA and saved with the adapter.",
    )


@dataclass
class TrainConfig:
    run_name: str = option("", "Name of the run folder; empty = date, time and stage.")
    num_train_epochs: float = option(3.0, "Passes over the training data.", above=0.0)
    max_steps: int = option(0, "Stop after this many optimizer steps (0 = use epochs).", minimum=0)
    learning_rate: float = option(2e-4, "Peak learning rate.", above=0.0, maximum=1.0)
    per_device_train_batch_size: int = option(4, "Examples per step on each device.", minimum=1)
    gradient_accumulation_steps: int = option(1, "Steps whose gradients add up before an update.", minimum=1)
    lr_scheduler_type: str = option(
        "cosine",
        "How the learning rate changes over the run.",
        choices=("linear", "cosine", "constant", "constant_with_warmup"),
    )
    warmup_ratio: float = option(
        0.0, "Fraction of steps spent warming up the learning rate.", minimum=0.0, maximum=0.5
    )
    weight_decay: float = option(0.0, "AdamW weight decay.", minimum=0.0)
    max_grad_norm: float = option(1.0, "Clip gradients to this norm (0 = no clipping).", minimum=0.0)
    logging_steps: int = option(5, "Write a loss point every N steps.", minimum=1)
    save_steps: int = option(100, "Save a checkpoint every N steps.", minimum=1)
    save_total_limit: int = option(2, "Keep only the newest N checkpoints (0 = keep all).", minimum=0)
    seed: int = option(42, "Random seed for shuffling and initialisation.", minimum=0)
    gradient_checkpointing: bool = option(False, "Recompute activations to save memory (slower).")
    report_to: list[str] = option(
        [], "Also log to these experiment trackers when their package is installed (TensorBoard files are always "
        "written into the run folder).", choices=("wandb", "mlflow", "swanlab"),
    )
    neftune_noise_alpha: float = option(
        0.0, "NEFTune: add uniform noise of this scale to the embeddings while training (0 = off; 5 is typical).",
        minimum=0.0,
    )
    extra_args: str = option(
        "", "More Hugging Face TrainingArguments as a JSON or YAML mapping, e.g. {\"optim\": \"adafactor\"}; "
        "each key is checked before Start. Options the studio sets from its own fields are refused.",
    )


@dataclass
class EvalConfig:
    eval_steps: int = option(0, "Evaluate on the validation split every N steps (0 = once per epoch).", minimum=0)
    per_device_eval_batch_size: int = option(8, "Examples per evaluation step.", minimum=1)
    early_stopping_patience: int = option(
        0, "Stop when the validation loss has not improved for N evaluations in a row (0 = never); the best "
        "checkpoint is kept and loaded at the end.", minimum=0,
    )
    load_best_model_at_end: bool = option(
        False, "Save checkpoints at every evaluation and finish with the one of lowest validation loss "
        "(always on with early stopping).",
    )


@dataclass
class ExportConfig:
    export_dir: str = option("", "Folder under exports/ for the merged model; empty = named after the run.")
    max_shard_size: str = option("2GB", "Largest safetensors shard, e.g. 500MB or 2GB.")


STRATEGIES = ("auto", "ddp", "fsdp", "zero2", "zero3")


@dataclass
class DistributedConfig:
    processes_per_node: int = option(
        0,
        "Training processes on this machine, one per GPU: 0 = auto (every visible GPU; 1 on a CPU-only machine). "
        "On a CPU, 2 or more processes share the cores over gloo: for trying the multi-GPU path, not for speed.",
        minimum=0, maximum=64,
    )
    strategy: str = option(
        "auto",
        "How the processes share the work: ddp = each holds the whole model and they average gradients; "
        "zero2 = DeepSpeed ZeRO-2 (optimizer states and gradients sharded); zero3 = DeepSpeed ZeRO-3 (weights "
        "sharded too); fsdp = PyTorch FSDP (weights, gradients and optimizer sharded, like ZeRO-3); "
        "auto = ddp with several processes, plain training with one.",
        choices=STRATEGIES,
    )
    offload_optimizer: bool = option(
        False, "ZeRO-2/3: keep the optimizer states in CPU memory (much less GPU memory, slower steps)."
    )
    offload_parameters: bool = option(
        False, "ZeRO-3 / FSDP: keep the weights in CPU memory between uses (FSDP offloads the optimizer with them)."
    )
    nodes: int = option(
        1, "Machines taking part; more than 1 prints the command to run on each.", minimum=1, maximum=1024
    )
    node_rank: int = option(0, "This machine's number among the nodes, 0 = the one that coordinates.", minimum=0)
    master_address: str = option(
        "127.0.0.1", "Several machines: address of node 0, which every node must reach."
    )
    master_port: int = option(
        29500, "Several machines: a free TCP port on node 0 for the rendezvous.", minimum=1024, maximum=65535
    )


@dataclass
class SpeedConfig:
    """How fast the same training runs; none of these changes what is learned from an example."""

    packing: str = option(
        "auto",
        "SFT: put several examples in one row of the batch, each attending only to itself (positions restart per "
        "example), so no compute goes to padding. A batch then holds rows, not examples. auto = on for sft.",
        choices=("auto", "on", "off"),
    )
    pack_length: int = option(
        0, "Tokens per packed row (0 = the cutoff length). Longer rows hold more examples per step.", minimum=0
    )
    attention: str = option(
        "auto",
        "Attention kernel: auto = flash_attention_2 on a GPU when the flash-attn package is installed, else sdpa; "
        "eager for models that support neither (Gemma 2, gpt-oss).",
        choices=("auto", "flash_attention_2", "sdpa", "eager"),
    )
    liger: str = option(
        "auto",
        "Liger kernels (fused RMSNorm, RoPE, SwiGLU and a cross-entropy that never holds the full logits): "
        "auto = on a GPU when the liger-kernel package is installed.",
        choices=("auto", "on", "off"),
    )
    torch_compile: bool = option(False, "Compile the model with torch.compile: a slow first step, faster ones after.")


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)

    # -- YAML ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_yaml(), encoding="utf-8")

    @classmethod
    def from_dict(cls, raw: dict | None) -> "RunConfig":
        problems: list[str] = []
        config = build(cls, raw or {}, "", problems)
        if problems:
            raise ConfigError(problems)
        return config

    @classmethod
    def from_yaml(cls, text: str) -> "RunConfig":
        """The config of a YAML text (engine/config/parsing.py says what is refused before it is read)."""
        return cls.from_dict(read_yaml(text, [field.name for field in dataclasses.fields(cls)]))

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        return cls.from_yaml(Path(path).read_text(encoding="utf-8"))

    # -- dotted access, for the UI's one-control-one-field binding -----------------------------------------
    def get(self, dotted: str):
        section, name = dotted.split(".")
        return getattr(getattr(self, section), name)

    def replace(self, values: dict[str, object]) -> "RunConfig":
        """A new config with `{"train.learning_rate": 1e-4, ...}` applied and coerced to each field's type."""
        raw = self.to_dict()
        for dotted, value in values.items():
            section, name = dotted.split(".")
            raw[section][name] = value
        return RunConfig.from_dict(raw)


def field_info(dotted: str) -> dict:
    """Help text, choices, bounds and default of one field, e.g. field_info("train.learning_rate")."""
    section, name = dotted.split(".")
    section_type = hints(RunConfig)[section]
    spec = next(f for f in dataclasses.fields(section_type) if f.name == name)
    default = spec.default_factory() if spec.default_factory is not dataclasses.MISSING else spec.default
    return {**spec.metadata, "default": default, "type": hints(section_type)[name]}


def all_fields() -> list[str]:
    """Every dotted field name, in declaration order."""
    return [
        f"{section.name}.{spec.name}"
        for section in dataclasses.fields(RunConfig)
        for spec in dataclasses.fields(hints(RunConfig)[section.name])
    ]


# ---------------------------------------------------------------------------------------------------------
# Field rules: each field by itself (engine/train/rules.py adds the rules that combine fields)


def field_problems(config: RunConfig) -> list[str]:
    """Every field of `config` against its own choices and bounds, plus the fields that may not be empty or
    must be plain names; the combinations of fields are engine/train/rules.py's."""
    problems = []
    for dotted in all_fields():
        info, value = field_info(dotted), config.get(dotted)
        chosen = value if isinstance(value, list) else [value]
        if info["choices"] and any(item not in info["choices"] for item in chosen):
            choices = ", ".join(info["choices"])
            problems.append(say("config.not_a_choice", field=dotted, choices=choices, value=excerpt(value)))
        if info["minimum"] is not None and value < info["minimum"]:
            problems.append(say("config.below_minimum", field=dotted, bound=info["minimum"], value=value))
        if info["maximum"] is not None and value > info["maximum"]:
            problems.append(say("config.above_maximum", field=dotted, bound=info["maximum"], value=value))
        if info["above"] is not None and value <= info["above"]:
            problems.append(say("config.not_above", field=dotted, bound=info["above"], value=value))
    if not config.data.datasets:
        problems.append(say("config.no_datasets"))
    if not config.model.name_or_path.strip():
        problems.append(say("config.no_model"))
    if config.train.run_name and not is_plain_name(config.train.run_name):
        problems.append(say("names.run_name_unusable", name=config.train.run_name))
    if config.export.export_dir and not is_plain_name(config.export.export_dir):
        problems.append(f"export.export_dir must be a plain folder name; got {excerpt(config.export.export_dir)}")
    return problems
