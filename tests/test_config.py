"""The run config: lossless YAML, every problem named at once, unknown keys refused."""
import pytest

from engine.config.schema import ConfigError, RunConfig, all_fields, field_info
from engine.train.rules import validate


def test_yaml_round_trip_is_lossless():
    config = RunConfig()
    config.train.learning_rate = 3e-5
    config.data.datasets = ["demo_alpaca_en", "demo_alpaca_zh"]
    config.method.finetuning_type = "freeze"
    config.train.run_name = "学习-run_1"
    again = RunConfig.from_yaml(config.to_yaml())
    assert again == config
    assert again.to_yaml() == config.to_yaml()


def test_example_config_loads_and_validates():
    config = RunConfig.load("examples/sft_lora_demo.yaml")
    assert validate(config) == []
    assert config.train.learning_rate == 0.002


def test_yaml_numbers_written_as_exponents_are_numbers():
    # YAML 1.1 reads "2e-4" as a string; the config must still see a float.
    config = RunConfig.from_yaml("train:\n  learning_rate: 2e-4\n")
    assert config.train.learning_rate == pytest.approx(2e-4)


def test_a_bare_on_or_off_is_the_choice_not_a_boolean():
    # YAML 1.1 reads `packing: off` as false; for a field whose choices are on/off that can only mean "off".
    config = RunConfig.from_yaml("speed:\n  packing: off\n  liger: on\n")
    assert (config.speed.packing, config.speed.liger) == ("off", "on")
    with pytest.raises(ConfigError, match="model.dtype must be text; got False"):
        RunConfig.from_yaml("model:\n  dtype: off\n")  # no on/off among its choices: still refused


def test_validate_lists_every_problem_with_field_and_fix():
    config = RunConfig()
    config.train.learning_rate = -1
    config.train.per_device_train_batch_size = 0
    config.method.finetuning_type = "magic"
    config.data.datasets = []
    problems = validate(config)
    assert "train.learning_rate must be > 0.0; got -1" in problems
    assert "train.per_device_train_batch_size must be ≥ 1; got 0" in problems
    assert any(
        p.startswith("method.finetuning_type must be one of full, freeze, bitfit, lora,") and p.endswith("got 'magic'")
        for p in problems
    )
    assert any(p.startswith("data.datasets is empty") for p in problems)
    assert len(problems) == 4


def test_unknown_keys_are_errors_that_name_the_key():
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_yaml("train:\n  learnin_rate: 0.1\nmodle: {}\n")
    problems = caught.value.problems
    assert any("unknown key 'train.learnin_rate'" in p for p in problems)
    assert any("unknown key 'modle'" in p for p in problems)


def test_wrong_types_are_named():
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_yaml("train:\n  num_train_epochs: lots\n  seed: 1.5\ndata:\n  datasets: 3\n")
    text = str(caught.value)
    assert "train.num_train_epochs must be a number; got 'lots'" in text
    assert "train.seed must be a whole number; got 1.5" in text
    assert "data.datasets must be a list of names; got 3" in text


def test_run_names_cannot_leave_the_saves_folder():
    config = RunConfig()
    config.train.run_name = "../../etc"
    assert any(p.startswith("train.run_name may use") for p in validate(config))


def test_replace_coerces_ui_values():
    config = RunConfig().replace({"train.learning_rate": "1e-3", "data.datasets": "a, b", "train.seed": 7.0})
    assert config.train.learning_rate == 1e-3
    assert config.data.datasets == ["a", "b"]
    assert config.train.seed == 7


def test_every_field_has_help_text():
    for dotted in all_fields():
        assert field_info(dotted)["help"], dotted
