"""The tables where things are added (stages, fine-tuning types, rewards) agree with the config and with each
other, so that a forgotten entry fails here instead of falling back silently somewhere else."""
import importlib

import pytest

from engine.config.schema import all_fields, field_info
from engine.models.methods import METHODS
from engine.models.shape import model_shape
from engine.train.rewards import REWARDS
from engine.train.stages import STAGES

DATA_KINDS = {"conversation", "preference", "kto", "text", "vision"}


def test_every_stage_and_type_the_config_offers_has_a_table_entry():
    assert set(STAGES) == set(field_info("method.stage")["choices"])
    assert set(METHODS) == set(field_info("method.finetuning_type")["choices"])
    assert set(REWARDS) == set(field_info("method.grpo_rewards")["choices"])


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_stage_names_a_function_that_trains_it(name):
    module, function = STAGES[name].runner.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(f"engine.train.stages.{module}"), function))
    assert STAGES[name].data_kinds and set(STAGES[name].data_kinds) <= DATA_KINDS


def test_every_method_field_is_read_by_some_stage_or_type():
    claimed = {name for spec in [*METHODS.values(), *STAGES.values()] for name in spec.fields}
    fields = {f.removeprefix("method.") for f in all_fields() if f.startswith("method.")}
    assert fields - {"stage", "finetuning_type"} == claimed


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_type_counts_its_trainable_parameters(name, tiny_model):
    from engine.config.schema import MethodConfig

    count = METHODS[name].trainable(MethodConfig(finetuning_type=name), model_shape(str(tiny_model)))
    assert 0 < count <= model_shape(str(tiny_model)).total_params


@pytest.mark.parametrize(
    "stage, dataset, expected",
    [
        (
            "dpo",
            "demo_alpaca_en",
            "stage dpo needs preference pairs (chosen/rejected); demo_alpaca_en is alpaca instructions",
        ),
        ("pt", "demo_alpaca_en", "stage pt needs plain text"),
        ("sft", "demo_preference", "stage sft needs conversations"),
    ],
)
def test_start_refuses_a_stage_its_data_cannot_feed(studio_dirs, stage, dataset, expected):
    from engine.runs.preflight import StartRefused
    from engine.runs.scheduler import submit
    from conftest import short_run_config

    config = short_run_config(max_steps=1)
    config.method.stage, config.data.datasets = stage, [dataset]
    with pytest.raises(StartRefused) as refused:
        submit(config)
    assert any(expected in problem for problem in refused.value.problems), refused.value.problems
    assert not list((studio_dirs / "saves").glob("*/*/*")), "nothing may be created for a refused run"
