"""DecodeBatch bookkeeping: rows, free rows and compaction."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from tooltune.engine.batch import DecodeBatch


def _kv(length: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.randn(1, 2, length, 4), torch.randn(1, 2, length, 4)) for _ in range(3)]


def test_free_rows_do_not_count_as_live_until_compacted():
    batch = DecodeBatch(model=None)
    a, b, c = (SimpleNamespace() for _ in range(3))
    for owner, n in ((a, 5), (b, 7), (c, 3)):
        batch.add(owner, _kv(n), n)
    assert batch.live() == 3 and len(batch.rows) == 3
    batch.remove(b)  # one free row among two live ones: kept (compacting copies every row)
    assert batch.live() == 2 and len(batch.rows) == 3
    kept = batch.extract(a)
    batch.remove(c)  # now free rows outnumber live ones: compacted
    assert batch.live() == 1 and len(batch.rows) == 1 and batch.length(a) == 5
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(kept, batch.extract(a)))
    batch.remove(a)
    assert batch.live() == 0 and batch.rows == []


def test_a_lone_sequence_next_to_a_free_row_is_alone():
    """What the engine's per-row share of a pass asks: after a pair of concurrent requests, the
    one left gets the whole pass (its full forced run and draft) although its batch has two rows."""
    batch = DecodeBatch(model=None)
    a, b = SimpleNamespace(), SimpleNamespace()
    batch.add(a, _kv(4), 4)
    batch.add(b, _kv(6), 6)
    batch.remove(b)
    assert len(batch.rows) == 2 and batch.live() == 1


def test_shared_pass_width_trades_padding_against_passes():
    from tooltune.engine.hf_engine import _pass_width

    assert _pass_width([8] * 8) == 8  # everyone has a long run: take it
    assert _pass_width([1] * 6 + [8, 8]) == 1  # two long runs would pad six rows eightfold
    assert _pass_width([1, 8]) == 8  # two rows: the padding is cheaper than another pass


def test_the_last_sequence_leaves_its_buffer_for_the_next_until_released():
    batch = DecodeBatch(model=None)
    a, b = SimpleNamespace(), SimpleNamespace()
    batch.add(a, _kv(20), 20)
    buf = batch.kbufs[0]
    batch.remove(a)
    assert batch.live() == 0 and batch.kbufs[0] is buf  # kept
    kv = _kv(24)  # room: the buffer was laid out for 20 tokens and 96 + 20 // 4 more
    batch.add(b, kv, 24)
    assert batch.kbufs[0] is buf and batch.length(b) == 24  # seated without a new allocation
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(kv, batch.extract(b)))
    assert int(batch.mask.sum()) == 24  # the old sequence's columns are masked out
    batch.remove(b)
    batch.release()
    assert batch.kbufs == [] and batch.capacity == 0
    batch.add(a, _kv(200), 200)  # too long for a kept buffer would have been re-laid anyway
    assert batch.length(a) == 200
