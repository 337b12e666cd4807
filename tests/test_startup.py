"""What a training worker leaves out of its start-up: bitsandbytes, unless the model can need it."""
import json

from engine.config.schema import ModelConfig
from engine.models.loading import needs_bitsandbytes


def test_only_a_model_that_can_be_quantised_needs_bitsandbytes(tmp_path):
    assert not needs_bitsandbytes(ModelConfig(name_or_path="builtin:tiny-demo"))
    assert needs_bitsandbytes(ModelConfig(name_or_path="builtin:tiny-demo", quantization="4bit"))
    assert needs_bitsandbytes(ModelConfig(name_or_path="Qwen/Qwen2.5-0.5B"))  # a Hub id's files are not read
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert not needs_bitsandbytes(ModelConfig(name_or_path=str(tmp_path)))
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": {"quant_method": "bitsandbytes"}}))
    assert needs_bitsandbytes(ModelConfig(name_or_path=str(tmp_path)))  # saved quantised
