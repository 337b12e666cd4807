"""The presets the page offers beside Reset (webui/presets.py): each is a valid config on the shipped data, and
choosing one fills every control of the form with it."""
import pytest

from engine.config.schema import RunConfig
from engine.data.registry import dataset_names
from engine.train.rules import validate
from webui.presets import PRESETS, load_preset

FIELDS = ["model.name_or_path", "model.template", "data.datasets", "train.learning_rate", "method.lora_rank"]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_is_valid_on_the_shipped_data(name):
    config = RunConfig.load(PRESETS[name])
    assert validate(config) == []
    assert set(config.data.datasets) <= set(dataset_names())


def test_choosing_a_preset_fills_the_form():
    updates = load_preset("real_demo", FIELDS)
    config = RunConfig.load(PRESETS["real_demo"])
    assert [update["value"] for update in updates] == [config.get(dotted) for dotted in FIELDS]
    assert updates[0]["value"] == "packaged:smollm2-135m-instruct"


def test_an_empty_choice_changes_nothing():
    assert load_preset(None, FIELDS) == [{"__type__": "update"}] * len(FIELDS)  # gr.skip(): no value given
