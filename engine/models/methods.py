"""Fine-tuning types: which weights train.

`FINETUNING_TYPES` maps each type to a function (model, MethodConfig, context) -> the model to train.
`context` carries what some methods need beyond the config (AdaLoRA's total step count, whether the
base is quantised). LoRA+ is not a model change but an optimizer: see `loraplus_optimizer`.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.config.schema import MethodConfig


@dataclass
class MethodContext:
    total_steps: int = 0  # AdaLoRA schedules its rank pruning over the run
    quantized: bool = False
    task_type: str = "CAUSAL_LM"  # SEQ_CLS for reward models


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
    return target if target == "all-linear" else [name.strip() for name in target.split(",") if name.strip()]


def _modules_to_save(method: MethodConfig, context: MethodContext) -> list[str] | None:
    names = [name.strip() for name in method.modules_to_save.split(",") if name.strip()]
    if context.task_type == "SEQ_CLS":
        names.append("score")  # the reward head is new: train and save it in full
    return names or None


def apply_lora(model, method: MethodConfig, context: MethodContext):
    from peft import LoraConfig

    init = "pissa" if method.pissa_init else True
    config = LoraConfig(
        r=method.lora_rank,
        lora_alpha=method.lora_alpha,
        lora_dropout=method.lora_dropout,
        target_modules=_targets(method),
        use_rslora=method.use_rslora,
        use_dora=method.use_dora,
        init_lora_weights=init,
        modules_to_save=_modules_to_save(method, context),
        task_type=context.task_type,
    )
    return _wrap(model, config, context)


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


FINETUNING_TYPES = {
    "full": apply_full,
    "freeze": apply_freeze,
    "bitfit": apply_bitfit,
    "lora": apply_lora,
    "adalora": apply_adalora,
    "ia3": apply_ia3,
    "prefix": _prompt_learning("PrefixTuningConfig"),
    "prompt": _prompt_learning("PromptTuningConfig"),
    "ptuning": _prompt_learning("PromptEncoderConfig"),
}


def apply_method(model, method: MethodConfig, context: MethodContext | None = None):
    return FINETUNING_TYPES[method.finetuning_type](model, method, context or MethodContext())


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
    """The stack of transformer blocks: the ModuleList as long as config.num_hidden_layers."""
    import torch

    count = model.config.num_hidden_layers
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise ValueError(f"could not find the {count} decoder layers of {type(model).__name__} to freeze")


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
