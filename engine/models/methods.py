"""Fine-tuning types: which weights train.

`METHODS` holds one `MethodSpec` per type: the function (model, MethodConfig, context) -> the model to train,
and what the rest of the studio needs to know of the type. `context` carries what some methods need beyond
the config (AdaLoRA's total step count, whether the base is quantised). LoRA+ is not a model change but an
optimizer: see `loraplus_optimizer`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.config.schema import MethodConfig
from engine.models.shape import Shape


@dataclass
class MethodContext:
    total_steps: int = 0  # AdaLoRA schedules its rank pruning over the run
    quantized: bool = False
    task_type: str = "CAUSAL_LM"  # SEQ_CLS for reward models
    # A vision model's frozen vision modules: PEFT puts no adapter in them (see `vision_context`).
    excluded_modules: tuple[str, ...] = ()
    projector: str | None = None  # a trainable projector under a PEFT method: trained in full, saved with it


# ---------------------------------------------------------------------------------------------------------
# Whole-model types


def apply_full(model, method: MethodConfig, context: MethodContext):
    for parameter in model.parameters():
        parameter.requires_grad = True
    return model


def apply_freeze(model, method: MethodConfig, context: MethodContext):
    """Only the last `freeze_trainable_layers` decoder layers train; embeddings, head and the rest stay fixed."""
    layers = decoder_layers(model)
    keep = min(method.freeze_trainable_layers, len(layers))
    _freeze_all_but(model, [p for layer in layers[len(layers) - keep :] for p in layer.parameters()])
    return model


def apply_bitfit(model, method: MethodConfig, context: MethodContext):
    """BitFit: only bias terms train (PEFT has no BitFit, so it is a freeze variant)."""
    biases = [p for name, p in model.named_parameters() if name.endswith(".bias")]
    if not biases:
        raise ValueError(
            f"BitFit trains bias terms only, and {type(model).__name__} has none (Llama-style models are bias-free); "
            "pick a model with biases (e.g. Qwen2's attention) or another method"
        )
    _freeze_all_but(model, biases)
    return model


def _freeze_all_but(model, trainable) -> None:
    keep = {id(p) for p in trainable}
    for parameter in model.parameters():
        parameter.requires_grad = id(parameter) in keep
    _keep_heads_trainable(model)


def _keep_heads_trainable(model) -> None:
    """A reward model's new score head starts random: it must always train."""
    head = getattr(model, "score", None)
    if head is not None:
        for parameter in head.parameters():
            parameter.requires_grad = True


# ---------------------------------------------------------------------------------------------------------
# PEFT types


def _targets(method: MethodConfig):
    target = method.lora_target.strip()
    if target in ("all-linear", "all"):  # "all" is LLaMA-Factory's name for the same
        return "all-linear"
    return [name.strip() for name in target.split(",") if name.strip()]


def _modules_to_save(method: MethodConfig, context: MethodContext) -> list[str] | None:
    names = [name.strip() for name in method.modules_to_save.split(",") if name.strip()]
    if context.task_type == "SEQ_CLS":
        names.append("score")  # the reward head is new: train and save it in full
    if context.projector:
        names.append(context.projector)
    return names or None


def apply_lora(model, method: MethodConfig, context: MethodContext):
    from peft import LoraConfig

    if method.adapter_run:
        return continue_adapter(model, method.adapter_run, context)
    init = "pissa" if method.pissa_init else True
    config = LoraConfig(
        r=method.lora_rank,
        lora_alpha=method.lora_alpha,
        lora_dropout=method.lora_dropout,
        target_modules=_targets(method),
        target_parameters=expert_parameters(model) if _adapts_experts(method) else None,
        use_rslora=method.use_rslora,
        use_dora=method.use_dora,
        init_lora_weights=init,
        modules_to_save=_modules_to_save(method, context),
        exclude_modules=list(context.excluded_modules) or None,
        task_type=context.task_type,
    )
    return _wrap(model, config, context)


def _adapts_experts(method: MethodConfig) -> bool:
    """all-linear reaches fused experts too, unless DoRA is on: peft's parameter adapters have no DoRA."""
    return _targets(method) == "all-linear" and not method.use_dora


def expert_parameters(model) -> list[str] | None:
    """The names of a mixture-of-experts model's fused expert weights (3D parameters such as gate_up_proj and
    down_proj), which all-linear must reach through peft's target_parameters: they are no nn.Linear. Without
    this, gpt-oss would adapt its attention only. None for a model without them."""
    names = {name.rsplit(".", 1)[-1] for name, parameter in model.named_parameters()
             if parameter.dim() == 3 and ".experts." in f".{name}"}
    return sorted(names) or None


def expert_note(model, method: MethodConfig):
    """What LoRA did with a mixture-of-experts model's fused experts, for the run's start event; None for a model
    without them or a type that is not LoRA."""
    from engine.messages import say

    names = expert_parameters(model)
    if not names or method.finetuning_type != "lora":
        return None
    adapted = any(".experts." in name and "lora_" in name for name, _ in model.named_parameters())
    return say("method.experts_adapted" if adapted else "method.experts_not_adapted", names=", ".join(names))


def continue_adapter(model, adapter_run: str, context: MethodContext):
    """The finished LoRA run's adapter on `model`, trainable (LLaMA-Factory's adapter_name_or_path): training
    goes on from its weights, with its rank and targets."""
    from peft import PeftModel, prepare_model_for_kbit_training

    if context.quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return PeftModel.from_pretrained(model, str(adapter_folder(adapter_run)), is_trainable=True)


def adapter_folder(adapter_run: str) -> Path:
    """The adapter of `adapter_run`: a run folder under saves/ (tiny-demo/lora/my-run) or, as a converted
    LLaMA-Factory YAML names it, just the run's name (the one LoRA run of that name)."""
    from engine.paths import FINAL_DIR, inside, is_plain_name, saves_dir

    direct = inside(saves_dir(), adapter_run, "method.adapter_run") / FINAL_DIR
    if (direct / "adapter_config.json").is_file() or not is_plain_name(adapter_run):
        return direct
    named = sorted(saves_dir().glob(f"*/lora/{adapter_run}/{FINAL_DIR}/adapter_config.json"))
    return named[0].parent if named else direct


def apply_adalora(model, method: MethodConfig, context: MethodContext):
    from peft import AdaLoraConfig

    total = max(context.total_steps, 10)
    config = AdaLoraConfig(
        init_r=method.adalora_init_rank,
        target_r=method.lora_rank,
        lora_alpha=method.lora_alpha,
        lora_dropout=method.lora_dropout,
        target_modules=_targets(method),
        # Prune ranks in the middle of the run: warm up for the first 10%, settle for the last 20%.
        tinit=total // 10,
        tfinal=total // 5,
        total_step=total,
        modules_to_save=_modules_to_save(method, context),
        exclude_modules=list(context.excluded_modules) or None,
        task_type=context.task_type,
    )
    return _wrap(model, config, context)


def apply_ia3(model, method: MethodConfig, context: MethodContext):
    from peft import IA3Config

    config = IA3Config(task_type=context.task_type, modules_to_save=_modules_to_save(method, context))
    return _wrap(model, config, context)


def _prompt_learning(config_name: str):
    """Prefix tuning, prompt tuning and P-tuning: trainable virtual tokens, the model itself frozen."""

    def apply(model, method: MethodConfig, context: MethodContext):
        import peft

        config_class = getattr(peft, config_name)
        config = config_class(task_type=context.task_type, num_virtual_tokens=method.num_virtual_tokens)
        return _wrap(model, config, context)

    return apply


def _wrap(model, peft_config, context: MethodContext):
    from peft import get_peft_model, prepare_model_for_kbit_training

    if context.quantized:
        # Casts norms to fp32 and lets gradients reach the adapters through the frozen 4/8-bit layers.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, peft_config)


# ---------------------------------------------------------------------------------------------------------
# The table: one entry per fine-tuning type; the Method tab, validation, the memory estimate, the preflight's
# disk estimate and the model card all read it.


@dataclass(frozen=True)
class MethodSpec:
    apply: Callable  # (model, MethodConfig, MethodContext) -> the model to train
    peft: bool  # trains a PEFT module on a frozen base: works on a quantised base, saves only the adapter
    trainable: Callable[[MethodConfig, Shape], int]  # trainable parameters, for the memory estimate
    fields: tuple[str, ...] = ()  # method.* fields it reads: shown in the Method tab, listed in the model card
    trains_head: bool = True  # can train a reward model's new score head (virtual-token methods cannot)


def _lora_params(method: MethodConfig, shape: Shape, rank: int, experts: bool = False) -> int:
    """The adapter parameters peft creates: rank·(in + out) per adapted linear (and one DoRA magnitude per
    output); on all-linear what `Shape.adapted_linears` says, plus the fused experts when `experts`
    (see `expert_parameters`)."""
    target = method.lora_target.strip()
    every = target in ("all-linear", "all")
    wanted = {name.strip() for name in target.split(",")}
    total = 0
    for moe, count in shape.blocks:
        linears = shape.adapted_linears(moe) if every else {
            name: dims for name, dims in shape.block_linears(moe).items() if name.rsplit(".", 1)[-1] in wanted}
        per_block = sum(rank * (a + b) for a, b in linears.values())
        per_block += sum(b for _, b in linears.values()) if method.use_dora else 0  # one magnitude per output
        if moe and every and experts:
            per_block += shape.expert_lora_params(rank)
        total += count * per_block
    return total


LORA_FIELDS = ("lora_rank", "lora_alpha", "lora_dropout", "lora_target")
VIRTUAL_TOKEN_FIELDS = ("num_virtual_tokens",)

METHODS: dict[str, MethodSpec] = {
    "full": MethodSpec(apply_full, peft=False, trainable=lambda method, shape: shape.total_params),
    "freeze": MethodSpec(
        apply_freeze, peft=False, fields=("freeze_trainable_layers",),
        trainable=lambda method, shape: min(method.freeze_trainable_layers, shape.layers) * shape.layer_params,
    ),
    "bitfit": MethodSpec(apply_bitfit, peft=False, trainable=lambda method, shape: shape.layers * 4 * shape.hidden),
    "lora": MethodSpec(
        apply_lora, peft=True,
        trainable=lambda method, shape: _lora_params(method, shape, method.lora_rank, _adapts_experts(method)),
        fields=(*LORA_FIELDS, "use_rslora", "use_dora", "pissa_init", "loraplus_lr_ratio", "modules_to_save",
                "adapter_run"),
    ),
    "adalora": MethodSpec(
        apply_adalora, peft=True, fields=(*LORA_FIELDS, "adalora_init_rank", "modules_to_save"),
        trainable=lambda method, shape: _lora_params(method, shape, method.adalora_init_rank),
    ),
    "ia3": MethodSpec(
        apply_ia3, peft=True, fields=("modules_to_save",),
        trainable=lambda method, shape: shape.layers * (2 * shape.head * shape.kv_heads + shape.intermediate),
    ),
    "prefix": MethodSpec(
        _prompt_learning("PrefixTuningConfig"), peft=True, fields=VIRTUAL_TOKEN_FIELDS, trains_head=False,
        trainable=lambda method, shape: method.num_virtual_tokens * shape.hidden * 2 * shape.layers,
    ),
    "prompt": MethodSpec(
        _prompt_learning("PromptTuningConfig"), peft=True, fields=VIRTUAL_TOKEN_FIELDS, trains_head=False,
        trainable=lambda method, shape: method.num_virtual_tokens * shape.hidden,
    ),
    "ptuning": MethodSpec(
        _prompt_learning("PromptEncoderConfig"), peft=True, fields=VIRTUAL_TOKEN_FIELDS, trains_head=False,
        trainable=lambda method, shape: method.num_virtual_tokens * shape.hidden,
    ),
}


def apply_method(model, method: MethodConfig, context: MethodContext | None = None):
    context = context or MethodContext()
    parts = vision_parts(model)
    if parts:
        context = vision_context(model, method, context, parts)
    model = METHODS[method.finetuning_type].apply(model, method, context)
    if parts:
        set_vision_trainable(model, method, parts)
    return model


# ---------------------------------------------------------------------------------------------------------
# Vision models: the vision tower and the projector train only when asked

# Module names of (vision tower, projector) by config.model_type; LLaVA's names are the common default.
VISION_PARTS = {
    "llava": ("vision_tower", "multi_modal_projector"),
    "llava_next": ("vision_tower", "multi_modal_projector"),
    "gemma3": ("vision_tower", "multi_modal_projector"),
    "mistral3": ("vision_tower", "multi_modal_projector"),
    "qwen2_vl": ("visual", "visual.merger"),
    "qwen2_5_vl": ("visual", "visual.merger"),
}


def vision_parts(model) -> tuple[str, str] | None:
    """(vision tower, projector) module names of a vision model, None for a text model."""
    config = model.config
    if getattr(config, "vision_config", None) is None:
        return None
    return VISION_PARTS.get(config.model_type, VISION_PARTS["llava"])


def part_of(name: str, parts: tuple[str, str]) -> str | None:
    """"projector", "tower" or None for a parameter or module name (the projector may sit inside the tower)."""
    tower, projector = parts
    wrapped = f".{name}."
    if f".{projector}." in wrapped:
        return "projector"
    if f".{tower}." in wrapped:
        return "tower"
    return None


def _frozen(part: str | None, method: MethodConfig) -> bool:
    return (part == "tower" and method.freeze_vision_tower) or (part == "projector" and method.freeze_projector)


def vision_context(model, method: MethodConfig, context: MethodContext, parts: tuple[str, str]) -> MethodContext:
    """The context with PEFT kept out of the frozen vision modules, and a trainable projector trained whole."""
    from dataclasses import replace

    excluded = tuple(name for name, _ in model.named_modules() if name and _frozen(part_of(name, parts), method))
    projector = parts[1] if not method.freeze_projector else None
    if projector:  # trained whole, so no adapter inside it
        excluded += tuple(name for name, _ in model.named_modules() if part_of(name, parts) == "projector")
    return replace(context, excluded_modules=excluded, projector=projector)


def set_vision_trainable(model, method: MethodConfig, parts: tuple[str, str]) -> None:
    """Frozen parts stop training under every type; whole-model types (full, freeze, bitfit) also train the
    parts that are not frozen. PEFT types already train adapters (tower) or a saved copy (projector)."""
    whole_model = not METHODS[method.finetuning_type].peft
    for name, parameter in model.named_parameters():
        part = part_of(name, parts)
        if part is None or "lora_" in name or "modules_to_save" in name:
            continue
        if _frozen(part, method):
            parameter.requires_grad = False
        elif whole_model:
            parameter.requires_grad = True


def loraplus_optimizer(model, method: MethodConfig, learning_rate: float, weight_decay: float):
    """LoRA+: the B matrices learn `loraplus_lr_ratio` times faster than the A matrices."""
    import torch
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(
        model=model,
        optimizer_cls=torch.optim.AdamW,
        lr=learning_rate,
        loraplus_lr_ratio=method.loraplus_lr_ratio,
        weight_decay=weight_decay,
    )


# ---------------------------------------------------------------------------------------------------------
# Inspection


def decoder_layers(model):
    """The stack of transformer blocks: the ModuleList as long as config.num_hidden_layers (of the language
    model, for a vision model: its vision tower has blocks too)."""
    import torch

    count = model.config.get_text_config().num_hidden_layers
    parts = vision_parts(model)
    for name, module in model.named_modules():
        if parts and part_of(name, parts):
            continue
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise ValueError(f"could not find the {count} decoder layers of {type(model).__name__} to freeze")


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
