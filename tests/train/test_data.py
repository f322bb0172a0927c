import json

import pytest

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
