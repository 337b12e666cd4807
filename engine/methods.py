"""Fine-tuning types: which weights train. Each entry takes (model, MethodConfig) and returns the model to train."""
from __future__ import annotations

from .config import MethodConfig


def apply_full(model, method: MethodConfig):
    for parameter in model.parameters():
        parameter.requires_grad = True
    return model


def apply_freeze(model, method: MethodConfig):
    """Only the last `freeze_trainable_layers` decoder layers train; embeddings, head and the rest stay fixed."""
    layers = decoder_layers(model)
    keep = min(method.freeze_trainable_layers, len(layers))
    for parameter in model.parameters():
        parameter.requires_grad = False
    for layer in layers[len(layers) - keep :]:
        for parameter in layer.parameters():
            parameter.requires_grad = True
    return model


def apply_lora(model, method: MethodConfig):
    from peft import LoraConfig, get_peft_model

    target = method.lora_target.strip()
    targets = target if target == "all-linear" else [name.strip() for name in target.split(",") if name.strip()]
    config = LoraConfig(
        r=method.lora_rank,
        lora_alpha=method.lora_alpha,
        lora_dropout=method.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


FINETUNING_TYPES = {"full": apply_full, "freeze": apply_freeze, "lora": apply_lora}


def apply_method(model, method: MethodConfig):
    return FINETUNING_TYPES[method.finetuning_type](model, method)


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
