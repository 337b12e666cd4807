"""Logits only where a label is: the output head and the cross-entropy skip the tokens that are not trained.

A causal LM computes (batch, tokens, vocabulary) logits and then ignores every position whose next token carries
no label: the prompt of every SFT example, the first token of every packed example, padding. With a vocabulary of
32k-150k the output head and its softmax are a large share of a small model's step (the benchmark's 7 M-parameter
Llama spends ~40 % of its matrix multiplies there), and a third to a half of it goes to prompts. Training forward
here runs the decoder as usual, gathers the hidden states of the positions that predict a labelled token, and
applies the head and the loss to those alone:

    hidden (B, T, H) -> hidden[:, :-1][labels[:, 1:] != IGNORE] (K, H) -> head -> (K, V) -> cross-entropy

The loss is the model's own: summed over the labelled tokens and divided by the Trainer's `num_items_in_batch`
(gradient accumulation) when it passes one, else their mean; logits upcast to float32 as transformers does. Only
the rows of the head's matrix multiply differ, so the loss matches the plain forward to float rounding
(tests/test_label_logits.py). Evaluation and generation keep the plain forward (they may want the logits).
"""
from __future__ import annotations

import types

IGNORE = -100
# Config attributes of models whose head output is rescaled or capped before the loss (Gemma 2/3, Cohere, Granite):
# their own forward applies it, so they keep it.
LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling")
PLAIN_ONLY = ("inputs_embeds", "past_key_values", "cache", "logits_to_keep", "pixel_values")


def causal_lm_of(model):
    """The transformers *ForCausalLM inside `model` (a PEFT wrapper or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def supports_label_logits(model) -> bool:
    """A text-only causal LM whose loss is a plain cross-entropy over its head's output."""
    lm = causal_lm_of(model)
    config = lm.config
    return (type(lm).__name__.endswith("ForCausalLM") and getattr(config, "vision_config", None) is None
            and lm.get_output_embeddings() is not None and hasattr(lm, "get_decoder")
            and not any(getattr(config, name, None) for name in LOGIT_TRANSFORMS))


def compute_logits_at_labels_only(model) -> bool:
    """Switch `model`'s training forward to the labelled-positions head (see the module docstring); False, and
    nothing changed, when the model is not one it applies to."""
    if not supports_label_logits(model):
        return False
    lm = causal_lm_of(model)
    lm.forward = types.MethodType(_labelled_forward(lm.forward), lm)
    return True


def _labelled_forward(plain):
    def forward(self, input_ids=None, attention_mask=None, position_ids=None, labels=None, **kwargs):
        if not self.training or labels is None or any(kwargs.get(name) is not None for name in PLAIN_ONLY):
            return plain(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         labels=labels, **kwargs)
        return labelled_loss(self, input_ids, attention_mask, position_ids, labels, **kwargs)

    return forward


def labelled_loss(lm, input_ids, attention_mask, position_ids, labels, num_items_in_batch=None, **kwargs):
    """CausalLMOutputWithPast(loss) of `lm` on the batch, the head applied at labelled positions only."""
    import torch
    from transformers.modeling_outputs import CausalLMOutputWithPast

    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    kwargs.pop("use_cache", None)
    hidden = lm.get_decoder()(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                              use_cache=False, **kwargs).last_hidden_state
    targets = labels[:, 1:].to(hidden.device)
    keep = targets != IGNORE
    logits = lm.get_output_embeddings()(hidden[:, :-1][keep]).float()  # (labelled tokens, vocabulary)
    loss = torch.nn.functional.cross_entropy(logits, targets[keep], reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else keep.sum()
    if torch.is_tensor(count):
        count = count.to(loss.device)
    return CausalLMOutputWithPast(loss=loss / count)
