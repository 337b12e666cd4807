"""The memory estimator: exact parameter counts against real models, sane orderings, and auto-configure."""
import pytest

from engine.config.schema import RunConfig
from engine.models.shape import model_shape
from engine.train.memory import GIB, auto_configure, estimate_memory, trainable_params
from engine.models.methods import MethodContext, apply_method, count_parameters
from engine.models.loading import load_model


@pytest.mark.parametrize("kind,extra", [("full", {}), ("freeze", {}), ("lora", {}), ("lora", {"use_dora": True}),
                                        ("lora", {"lora_target": "q_proj,v_proj"}), ("prompt", {})])
def test_parameter_counts_match_the_real_model(tiny_model, kind, extra):
    config = RunConfig()
    config.method.finetuning_type = kind
    for name, value in extra.items():
        setattr(config.method, name, value)
    shape = model_shape("builtin:tiny-demo")
    model = load_model(config.model)
    assert shape.total_params == count_parameters(model)[1]
    trainable, _ = count_parameters(apply_method(model, config.method, MethodContext()))
    assert trainable_params(config, shape) == trainable


def seven_b(**changes) -> RunConfig:
    config = RunConfig()
    config.model.name_or_path = "Qwen/Qwen2.5-7B-Instruct"
    config.model.dtype = "bfloat16"
    config.data.cutoff_len = 1024
    for dotted, value in changes.items():
        section, name = dotted.split(".")
        setattr(getattr(config, section), name, value)
    return config


def test_known_shapes_give_the_published_sizes():
    assert model_shape("Qwen/Qwen2.5-7B-Instruct").total_params / 1e9 == pytest.approx(7.6, abs=0.1)
    assert model_shape("meta-llama/Llama-3.2-1B-Instruct").total_params / 1e9 == pytest.approx(1.24, abs=0.02)
    assert model_shape("Qwen/Qwen3-0.6B").total_params / 1e9 == pytest.approx(0.6, abs=0.05)


def test_orderings_follow_the_method():
    full = estimate_memory(seven_b(**{"method.finetuning_type": "full"}))
    lora = estimate_memory(seven_b())
    qlora = estimate_memory(seven_b(**{"model.quantization": "4bit"}))
    assert qlora.weights < lora.weights / 2 and lora.weights == full.weights
    assert lora.optimizer < full.optimizer / 100
    assert qlora.total < lora.total < full.total
    assert 14 < lora.weights / GIB < 15.5  # 7.6 B parameters in bf16
    checkpointed = estimate_memory(seven_b(**{"train.gradient_checkpointing": True}))
    assert checkpointed.activations < lora.activations / 2  # the fp32 logits stay


def test_auto_configure_fits_a_24_gib_gpu_and_keeps_the_effective_batch():
    config = seven_b(**{"train.per_device_train_batch_size": 16})
    fitted, estimate = auto_configure(config, 24 * GIB)
    assert estimate.total <= 24 * GIB * 0.85
    train = fitted.train
    assert train.per_device_train_batch_size * train.gradient_accumulation_steps == 16
    assert estimate_memory(config).total > 24 * GIB  # it really had to change something


def test_reference_models_and_generation_are_counted():
    full_dpo = estimate_memory(seven_b(**{"method.finetuning_type": "full", "method.stage": "dpo"}))
    full_sft = estimate_memory(seven_b(**{"method.finetuning_type": "full"}))
    assert full_dpo.weights == 2 * full_sft.weights  # TRL keeps a frozen copy as the reference
    lora_dpo = estimate_memory(seven_b(**{"method.stage": "dpo"}))
    assert lora_dpo.weights == estimate_memory(seven_b()).weights  # the adapter is switched off instead
    grpo = estimate_memory(seven_b(**{"method.stage": "grpo"}))
    assert grpo.activations > estimate_memory(seven_b()).activations  # the answers' key/value cache


def test_auto_configure_keeps_grpo_groups_whole():
    config = seven_b(**{"method.stage": "grpo", "train.per_device_train_batch_size": 12,
                        "method.grpo_num_generations": 6})
    fitted, _ = auto_configure(config, 24 * GIB)
    train = fitted.train
    assert train.per_device_train_batch_size * train.gradient_accumulation_steps == 12
