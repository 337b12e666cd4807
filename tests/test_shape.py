"""The shape behind the memory estimate, held to transformers and peft themselves: the parameter count of each
published config against the model transformers builds from it (on the meta device: no memory, no weights),
and the LoRA count against the adapters peft really creates on it."""
import pytest

from engine.config.schema import MethodConfig, RunConfig
from engine.models.methods import METHODS, MethodContext, apply_method, count_parameters
from engine.models.published_configs import PUBLISHED_CONFIGS
from engine.models.shape import model_shape
from engine.train.memory import GIB, auto_configure


def exact_count(values: dict) -> int:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**values))
    return sum(parameter.numel() for parameter in model.parameters())


@pytest.mark.parametrize("name", sorted(PUBLISHED_CONFIGS))
def test_estimated_parameters_are_within_2_percent_of_the_published_model(name):
    exact = exact_count(PUBLISHED_CONFIGS[name])
    assert model_shape(name).total_params == pytest.approx(exact, rel=0.02)


def test_mixture_of_experts_counts_every_expert():
    """The issue's numbers: the estimate used to count one expert (Mixtral 7.2 B, DeepSeek-V3 40 B)."""
    assert model_shape("mistralai/Mixtral-8x7B-Instruct-v0.1").total_params / 1e9 == pytest.approx(46.7, abs=0.1)
    assert model_shape("Qwen/Qwen3-30B-A3B").total_params / 1e9 == pytest.approx(30.5, abs=0.1)
    assert model_shape("openai/gpt-oss-20b").total_params / 1e9 == pytest.approx(20.9, abs=0.1)
    assert model_shape("deepseek-ai/DeepSeek-V3").total_params / 1e9 == pytest.approx(671, abs=1)


def adapted_on_meta(name: str, method: MethodConfig):
    """The published model with the method applied, all on the meta device (peft's adapters too)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**PUBLISHED_CONFIGS[name]))
        return apply_method(model, method, MethodContext())


@pytest.mark.parametrize("name", sorted(PUBLISHED_CONFIGS))
def test_lora_count_is_what_peft_creates(name):
    """all-linear on fused projections (Phi-3, GLM-4), latent attention and experts: the estimate's count is
    the adapter peft builds, experts included (gpt-oss's through target_parameters)."""
    method = MethodConfig(finetuning_type="lora")
    adapted = adapted_on_meta(name, method)
    assert METHODS["lora"].trainable(method, model_shape(name)) == count_parameters(adapted)[0]
    if model_shape(name).experts:
        assert any(".experts." in key and "lora_" in key for key, _ in adapted.named_parameters())


@pytest.mark.parametrize("name,extra", [("openai/gpt-oss-20b", {"use_dora": True}),
                                        ("THUDM/GLM-4-9B-0414", {"use_dora": True}),
                                        ("google/gemma-2-9b-it", {"lora_target": "q_proj,v_proj"}),
                                        ("mistralai/Mixtral-8x7B-Instruct-v0.1", {"lora_target": "q_proj,o_proj"})])
def test_lora_count_with_dora_or_named_targets(name, extra):
    method = MethodConfig(finetuning_type="lora", **extra)
    assert METHODS["lora"].trainable(method, model_shape(name)) == count_parameters(adapted_on_meta(name, method))[0]


def test_auto_configure_refuses_a_mixture_of_experts_that_cannot_fit():
    """Mixtral-8x7B holds 46.7 B weights: no batch, checkpointing, 4-bit (its experts stay 16-bit) or cutoff
    brings LoRA on it under 24 GiB, and auto-configure must say so instead of approving it."""
    config = RunConfig()
    config.model.name_or_path = "mistralai/Mixtral-8x7B-Instruct-v0.1"
    config.model.dtype = "bfloat16"
    _, estimate = auto_configure(config, 24 * GIB)
    assert estimate.total > 24 * GIB
    assert estimate.weights > 20 * GIB  # 4-bit attention, 16-bit experts
