"""``<tool_call>`` / ``</tool_call>`` as single added tokens.

They are added as *non-special* tokens, so decoding keeps them as text and every parser
(ours, vLLM's hermes) reads the output unchanged. New embedding rows start as the mean of
the sub-token embeddings the tag used to be split into, so the model starts near what it knew."""

from __future__ import annotations

from typing import Any

from tooltune.core.format.tokens import TOOL_TAGS


def add_tool_tokens(model: Any, tokenizer: Any) -> list[int]:
    """Add the tags the tokenizer does not already have as one token; resize and initialise the
    embeddings. Returns the ids of the new tokens (empty when nothing was added)."""
    import torch

    old_pieces = {tag: tokenizer(tag, add_special_tokens=False)["input_ids"] for tag in TOOL_TAGS}
    missing = [tag for tag, ids in old_pieces.items() if len(ids) > 1]
    if not missing:
        return []
    tokenizer.add_tokens(missing, special_tokens=False)
    new_ids = tokenizer.convert_tokens_to_ids(missing)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        for tag, tid in zip(missing, new_ids):
            emb[tid] = emb[old_pieces[tag]].mean(0)
        out = model.get_output_embeddings()
        if out is not None and out.weight.data_ptr() != emb.data_ptr():
            for tag, tid in zip(missing, new_ids):
                out.weight[tid] = out.weight[old_pieces[tag]].mean(0)
    return list(new_ids)
