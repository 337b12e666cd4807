"""Attention one packed example at a time, for machines without FlashAttention (the CPU).

With sdpa a packed row needs a (row x row) block-diagonal mask, and a kernel given a mask computes every block of
the row: three examples of 170 tokens in a row of 512 cost 512^2 scores a head, nine times the 3 x 170^2 / ... of
the causal triangles that are actually used. `sdpa_documents` is an attention function registered with
transformers that takes the batch FlashAttention's varlen kernel takes (one flat row of every example, and
`cu_seq_lens_q` saying where each starts; engine/train/packing.py builds it) and runs sdpa with `is_causal=True` on
each example's own span, so no mask is built and the masked-out scores are never computed. A batch without
`cu_seq_lens_q` (evaluation of unpacked data, chat) goes to transformers' own sdpa unchanged.
"""
from __future__ import annotations

DOCUMENT_ATTENTION = "sdpa_documents"


def register_document_attention() -> None:
    """Make `sdpa_documents` a valid attn_implementation (idempotent; before the model is loaded)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    AttentionInterface.register(DOCUMENT_ATTENTION, document_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(DOCUMENT_ATTENTION, document_mask)


def document_mask(*args, attention_mask=None, **kwargs):
    """No mask for a batch without padding (the packed flat row: `document_attention` confines each example by
    itself); sdpa's own mask when there is padding to hide."""
    from transformers.masking_utils import sdpa_mask

    return None if attention_mask is None else sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


def document_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None,
                       cu_seq_lens_q=None, **kwargs):
    """(batch, tokens, heads, head_dim) attention output. Shapes in: (batch, heads, tokens, head_dim) with
    batch 1 when `cu_seq_lens_q` (int tensor: 0, end of example 1, end of example 2, ...) is given."""
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    if cu_seq_lens_q is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    bounds = cu_seq_lens_q.tolist()
    pieces = [
        torch.nn.functional.scaled_dot_product_attention(query[:, :, start:end], key[:, :, start:end],
                                                         value[:, :, start:end], dropout_p=dropout, scale=scaling,
                                                         is_causal=True)
        for start, end in zip(bounds, bounds[1:])
    ]
    return torch.cat(pieces, dim=2).transpose(1, 2).contiguous(), None
