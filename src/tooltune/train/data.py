"""Training data: validated conversations -> token ids + assistant masks -> length-bucketed batches."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from tooltune.core.format import PromptFormat, render, tokenize_with_mask
from tooltune.core.dataset import read_conversations
from tooltune.core.types import Conversation
from tooltune.core.validate import conversation_errors


class DataError(ValueError):
    """A dataset line that cannot be trained on: ``FILE line N: reason``."""


def load_conversations(path: Path, limit: int | None = None) -> list[Conversation]:
    """Every conversation of a JSONL file, each validated (schema, role order, call arguments);
    the first bad line stops everything, before any model is loaded."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    out: list[Conversation] = []
    for n, conv, why in read_conversations(path):
        where = f"{path.name} line {n}"
        if conv is None:
            raise DataError(f"{where}: {why}")
        errors = conversation_errors(conv.messages, conv.tools)
        if errors:
            raise DataError(f"{where}: {errors[0]}")
        out.append(conv)
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise DataError(f"{path}: no conversations")
    return out


@dataclass
class Example:
    ids: list[int]
    mask: list[bool]
    """True where the token is the assistant's (it is predicted, i.e. has loss)."""
    group: int
    """Conversations with the same tools share a group (and so the tools block, a shared prefix)."""


def tokenize(convs: list[Conversation], tokenizer: Any, fmt: PromptFormat, max_len: int) -> tuple[list[Example], int]:
    """(examples, number skipped as longer than ``max_len`` or without assistant tokens)."""
    groups: dict[str, int] = {}
    out, skipped = [], 0
    for conv in convs:
        rendered = render(conv.messages, conv.tools, fmt)
        ids, mask = tokenize_with_mask(tokenizer, rendered)
        if len(ids) > max_len or not any(mask[1:]):
            skipped += 1
            continue
        key = json.dumps([t.model_dump() for t in conv.tools], sort_keys=True)
        out.append(Example(ids, mask, groups.setdefault(key, len(groups))))
    return out, skipped


def plan_batches(
    examples: list[Example], batch_tokens: int, max_batch_size: int, seed: int, epoch: int, group_by_prefix: bool
) -> list[list[int]]:
    """One epoch's micro-batches (lists of example indices), deterministic in (seed, epoch).

    Shuffle, then sort chunks of ~50 batches by (group, length) so each batch has similar
    lengths (little padding) and, where possible, one tool set (a shared prefix); batches
    are then shuffled so the order stays random."""
    rng = random.Random(seed * 1000003 + epoch)
    order = list(range(len(examples)))
    rng.shuffle(order)
    avg = max(1, sum(len(e.ids) for e in examples) // len(examples))
    chunk = max(1, 50 * max(1, batch_tokens // avg))
    batches: list[list[int]] = []
    for c in range(0, len(order), chunk):
        part = order[c:c + chunk]
        part.sort(key=lambda i: ((examples[i].group if group_by_prefix else 0), len(examples[i].ids)))
        cur: list[int] = []
        longest = 0
        for i in part:
            n = len(examples[i].ids)
            same_group = not cur or not group_by_prefix or examples[cur[0]].group == examples[i].group
            if cur and (max(longest, n) * (len(cur) + 1) > batch_tokens or len(cur) >= max_batch_size or not same_group):
                batches.append(cur)
                cur, longest = [], 0
            cur.append(i)
            longest = max(longest, n)
        if cur:
            batches.append(cur)
    rng.shuffle(batches)
    return batches


def collate(examples: list[Example], pad_id: int, decision_weight: float = 1.0,
            close_id: int | None = None) -> tuple[Any, Any, int]:
    """(input_ids [B, L] right-padded, loss mask [B, L] on the *target* token, real token count).
    Right padding needs no attention mask under causal attention: real tokens never see pads.

    With ``decision_weight`` != 1 the mask is a float weight per token instead: the tokens where an
    assistant turn decides (its first: a call or words; the one after each ``close_id``: another
    call or the end of the turn) weigh ``decision_weight``, other assistant tokens 1."""
    import torch

    width = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.bool)
    for row, e in enumerate(examples):
        ids[row, : len(e.ids)] = torch.tensor(e.ids)
        mask[row, : len(e.mask)] = torch.tensor(e.mask)
    if decision_weight != 1.0:
        before = torch.zeros_like(mask)
        before[:, 1:] = mask[:, :-1]
        decides = mask & ~before
        if close_id is not None:
            decides[:, 1:] |= mask[:, 1:] & (ids[:, :-1] == close_id)
        mask = mask.float().masked_fill(decides, decision_weight)
    return ids, mask, sum(len(e.ids) for e in examples)
