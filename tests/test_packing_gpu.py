"""Packing and the labelled-token head on a CUDA device (skipped without one): the CPU tests' checks with the
GPU kernels, FlashAttention-2's varlen path among them when flash-attn is installed. Run by bench/gpu_checks.sh."""
import importlib.util

import pytest
import torch

from engine.train.label_logits import compute_logits_at_labels_only
from engine.train.packing import IGNORE, TOKEN_COUNTS, PackedCollator, pack_examples, pack_rows
from tests.test_packing import _examples

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

ATTENTIONS = ["sdpa"] + (["flash_attention_2"] if importlib.util.find_spec("flash_attn") else [])
# float32 (sdpa): summation order only. bfloat16 (FlashAttention computes in 16-bit only): 8 mantissa bits, a
# relative 0.4 % a rounding, on logits of size ~1-5.
TOLERANCE = {"sdpa": 1e-3, "flash_attention_2": 1e-1}


def _model(tiny_model, attention):
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if attention == "flash_attention_2" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=attention, dtype=dtype).cuda()
    model.config.use_cache = False
    return model.eval(), dtype


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_packed_logits_match_each_example_alone_on_the_gpu(tiny_model, tiny_tokenizer, attention):
    model, dtype = _model(tiny_model, attention)
    examples = _examples(tiny_tokenizer)
    members = pack_rows([len(ids) for ids in examples["input_ids"]], 512)
    batch = PackedCollator(tiny_tokenizer.pad_token_id, attention, dtype)(pack_examples(examples, 512))
    inputs = {k: v.cuda() if torch.is_tensor(v) else v for k, v in batch.items() if k not in ("labels", TOKEN_COUNTS)}
    worst = 0.0
    with torch.no_grad():
        packed = model(**inputs).logits.float()
        flat = packed.reshape(-1, packed.shape[-1]) if attention == "flash_attention_2" else None
        offset = 0  # the flat row's position (FlashAttention: every example of every row in one row)
        for r, indices in enumerate(members):
            start = 0
            for i in indices:
                ids = examples["input_ids"][i]
                alone = model(input_ids=torch.tensor([ids]).cuda()).logits[0].float()
                piece = flat[offset : offset + len(ids)] if flat is not None else packed[r, start : start + len(ids)]
                worst = max(worst, (piece - alone).abs().max().item())
                start, offset = start + len(ids), offset + len(ids)
    print(f"\n{attention} on {torch.cuda.get_device_name()}: max |logit packed - alone| = {worst:.2e}")
    assert worst < TOLERANCE[attention]


def test_labelled_head_gives_the_plain_loss_on_the_gpu(tiny_model, tiny_tokenizer):
    plain, _ = _model(tiny_model, "sdpa")
    labelled, _ = _model(tiny_model, "sdpa")
    assert compute_logits_at_labels_only(labelled)
    batch = PackedCollator(tiny_tokenizer.pad_token_id, "sdpa")(pack_examples(_examples(tiny_tokenizer, 8), 256))
    batch = {k: v.cuda() for k, v in batch.items() if k != TOKEN_COUNTS}
    assert (batch["labels"] != IGNORE).any()
    with torch.no_grad():
        losses = [model.train()(**batch).loss.item() for model in (plain, labelled)]
    print(f"\nlabelled head on {torch.cuda.get_device_name()}: |loss - plain| = {abs(losses[0] - losses[1]):.2e}")
    assert abs(losses[0] - losses[1]) < 1e-4
