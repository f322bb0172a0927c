import json

import pytest
import torch

from tooltune.core.format import PromptFormat
from tooltune.train.data import DataError, collate, load_conversations, plan_batches, tokenize


def test_mask_covers_only_assistant_tokens(train_jsonl, tiny_tokenizer):
    convs = load_conversations(train_jsonl)
    examples, skipped = tokenize(convs[:4], tiny_tokenizer, PromptFormat(), 4096)
    assert skipped == 0
    for conv, ex in zip(convs, examples):
        trained = tiny_tokenizer.decode([t for t, m in zip(ex.ids, ex.mask) if m])
        ignored = tiny_tokenizer.decode([t for t, m in zip(ex.ids, ex.mask) if not m])
        for m in conv.messages:
            if m.role == "assistant":
                for call in m.tool_calls or []:
                    assert call.function.name in trained
                if m.content:
                    assert m.content in trained
            elif m.content:
                assert m.content in ignored and m.content not in trained
        assert "# Tools" in ignored and "# Tools" not in trained
        assert "user" not in trained.replace("<|im_end|>", "")


def test_bad_line_is_reported_with_its_number(tmp_path, train_jsonl):
    lines = train_jsonl.read_text().splitlines()
    row = json.loads(lines[2])
    row["messages"][2]["tool_calls"][0]["function"]["arguments"] = json.dumps({"title": 5})
    bad = tmp_path / "train.jsonl"
    bad.write_text("\n".join([lines[0], lines[1], json.dumps(row)]) + "\n")
    with pytest.raises(DataError, match=r"train.jsonl line 3: .*title"):
        load_conversations(bad)
    bad.write_text(lines[0] + "\n{not json\n")
    with pytest.raises(DataError, match="line 2: invalid JSON"):
        load_conversations(bad)


def test_batches_respect_budget_cover_data_and_are_deterministic(train_jsonl, tiny_tokenizer):
    examples, _ = tokenize(load_conversations(train_jsonl), tiny_tokenizer, PromptFormat(), 4096)
    a = plan_batches(examples, 2048, 64, seed=1, epoch=0, group_by_prefix=True)
    assert a == plan_batches(examples, 2048, 64, seed=1, epoch=0, group_by_prefix=True)
    assert a != plan_batches(examples, 2048, 64, seed=1, epoch=1, group_by_prefix=True)
    assert sorted(i for b in a for i in b) == list(range(len(examples)))
    for b in a:
        ids, mask, n = collate([examples[i] for i in b], tiny_tokenizer.pad_token_id)
        assert ids.numel() <= 2048 or len(b) == 1
        assert n == sum(len(examples[i].ids) for i in b)


def test_decision_tokens_weigh_more_where_a_turn_decides(train_jsonl, tiny_tokenizer):
    from tooltune.core.format.tokens import IM_END, TOOL_CALL_CLOSE

    examples, _ = tokenize(load_conversations(train_jsonl)[:4], tiny_tokenizer, PromptFormat(), 4096)
    close_id = tiny_tokenizer.encode(TOOL_CALL_CLOSE, add_special_tokens=False)[-1]
    ids, plain, _ = collate(examples, tiny_tokenizer.pad_token_id)
    _, weighted, _ = collate(examples, tiny_tokenizer.pad_token_id, 4.0, close_id)
    assert plain.dtype == torch.bool and weighted.dtype == torch.float32
    assert torch.equal(weighted > 0, plain)  # the same tokens have a loss
    for row, e in enumerate(examples):
        decisions = [i for i in range(len(e.ids)) if weighted[row, i] == 4.0]
        starts = [i for i in range(len(e.ids)) if e.mask[i] and (i == 0 or not e.mask[i - 1])]
        after_calls = [i for i in range(1, len(e.ids)) if e.mask[i] and e.ids[i - 1] == close_id]
        assert decisions == sorted(set(starts) | set(after_calls)) and starts
        # after a call comes another call's separator or the end of the turn
        assert {tiny_tokenizer.decode([e.ids[i]]) for i in after_calls} <= {"\n", IM_END}
        assert set(weighted[row, :len(e.ids)].unique().tolist()) <= {0.0, 1.0, 4.0}
