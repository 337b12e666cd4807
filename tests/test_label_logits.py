"""Logits only at labelled positions: the same loss and the same gradients as the model's plain forward."""
import copy

import pytest
import torch

from engine.train.label_logits import compute_logits_at_labels_only, supports_label_logits
from engine.train.packing import TOKEN_COUNTS, PackedCollator, pack_examples
from tests.test_packing import _examples

# Only the rows of the head's matrix multiply differ from the plain forward: float32 rounding, measured ~1e-7.
TOLERANCE = 1e-5


def _lora_model(tiny_model):
    from transformers import AutoModelForCausalLM

    from engine.config.schema import RunConfig
    from engine.models.methods import MethodContext, apply_method

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa", dtype=torch.float32)
    model.config.use_cache = False
    method = RunConfig().method
    method.finetuning_type = "lora"
    return apply_method(model, method, MethodContext()).train()


def _loss_and_grads(model, batch, **extra):
    model.zero_grad(set_to_none=True)
    loss = model(**batch, **extra).loss
    loss.backward()
    return loss.item(), {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("items", [None, 500])
def test_labelled_head_gives_the_plain_loss_and_gradients(tiny_model, tiny_tokenizer, items):
    plain = _lora_model(tiny_model)
    labelled = copy.deepcopy(plain)
    assert compute_logits_at_labels_only(labelled)
    rows = pack_examples(_examples(tiny_tokenizer, count=8), 256)
    batch = PackedCollator(tiny_tokenizer.pad_token_id, "sdpa")(rows)
    batch.pop(TOKEN_COUNTS)
    labelled_tokens = int((batch["labels"][:, 1:] != -100).sum())
    assert 0 < labelled_tokens < batch["labels"].numel() * 0.8  # prompts are skipped: there is work to save
    extra = {"num_items_in_batch": torch.tensor(items)} if items else {}  # gradient accumulation's divisor
    plain_loss, plain_grads = _loss_and_grads(plain, batch, **extra)
    loss, grads = _loss_and_grads(labelled, batch, **extra)
    assert abs(loss - plain_loss) < TOLERANCE
    worst = max((grads[name] - plain_grads[name]).abs().max().item() for name in plain_grads)
    assert worst < TOLERANCE
    with torch.no_grad():
        assert labelled(**batch).logits is None  # training took the labelled path: no full logits
        assert labelled.eval()(**batch).logits.shape[:2] == batch["input_ids"].shape  # evaluation keeps them


def test_models_with_their_own_logit_transform_keep_the_plain_forward(tiny_model):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert supports_label_logits(model)
    model.config.final_logit_softcapping = 30.0  # Gemma 2 caps its logits before the loss
    assert not compute_logits_at_labels_only(model)
