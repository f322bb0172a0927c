"""OutputHistory: confident next-token predictions from recent completions."""

from __future__ import annotations

from tooltune.engine.output_history import OutputHistory


def test_proposes_what_followed_confidently_and_chains():
    h = OutputHistory()
    for _ in range(2):
        h.add([1, 2, 3, 4, 5])
    assert h.propose([9, 2], 10) == [3, 4, 5]
    assert h.propose([9, 2], 2) == [3, 4]
    assert h.propose([7], 5) == []  # never seen
    assert h.propose([], 5) == [] and h.propose([2], 0) == []


def test_needs_enough_evidence_and_a_clear_majority():
    h = OutputHistory(min_count=2, min_share=0.6)
    h.add([1, 2, 3])
    assert h.predict([2]) is None  # seen once
    h.add([1, 2, 3])
    assert h.predict([2]) == 3
    h.add([5, 2, 4])
    h.add([6, 2, 4])
    assert h.predict([9, 2]) is None  # 3 and 4 twice each after 2: no majority


def test_the_longest_matching_context_decides():
    h = OutputHistory()
    for _ in range(3):
        h.add([8, 2, 3])
    for _ in range(2):
        h.add([7, 2, 4])
    assert h.predict([5, 2]) == 3  # after 2 alone: 3 is the majority
    assert h.predict([7, 2]) == 4  # after 7 2: always 4


def test_forgets_the_oldest_outputs():
    h = OutputHistory(max_outputs=2, min_count=1)
    h.add([1, 2])
    assert h.predict([1]) == 2
    h.add([3, 4])
    h.add([5, 6])
    assert len(h) == 2
    assert h.predict([1]) is None and h.predict([5]) == 6
    assert all(key[-1] != 1 for key in h._next)  # its n-grams are gone, not just outvoted


def test_disabled_history_keeps_nothing():
    h = OutputHistory(max_outputs=0)
    h.add([1, 2, 3])
    assert len(h) == 0 and h.predict([1]) is None
