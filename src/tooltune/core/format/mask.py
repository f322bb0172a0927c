"""Token ids plus the assistant-token mask, from a rendered conversation."""

from __future__ import annotations

from typing import Any

from .render import Rendered


def tokenize_with_mask(tokenizer: Any, rendered: Rendered) -> tuple[list[int], list[bool]]:
    """Tokenize the whole text at once (so ids equal plain tokenization) and mark each token
    whose characters fall inside an assistant span. Needs a fast tokenizer (offset mapping)."""
    enc = tokenizer(rendered.text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = enc["input_ids"]
    mask = [False] * len(ids)
    spans = rendered.assistant_spans
    k = 0
    for i, (start, end) in enumerate(enc["offset_mapping"]):
        while k < len(spans) and spans[k][1] <= start:
            k += 1
        if k < len(spans) and start >= spans[k][0] and end > start:
            mask[i] = True
    return ids, mask
