"""Bootstrap intervals over conversations and paired comparisons (tooltune.eval.stats)."""

import pytest

from tooltune.eval.stats import bootstrap_interval, compare_results, paired_comparison, turn_hits


def cases(outcomes, turns_per_conv=1, expected_call=True, prefix="c"):
    """Case dicts as score_suite writes them: one per outcome, grouped into conversations."""
    return [{"id": f"{prefix}{i // turns_per_conv}#{i % turns_per_conv}", "conversation_id": f"{prefix}{i // turns_per_conv}",
             "correct": hit, "exact_match": hit, "expected_call": expected_call} for i, hit in enumerate(outcomes)]


def test_interval_holds_the_rate_and_narrows_with_more_conversations():
    small = bootstrap_interval(turn_hits(cases([True, False] * 20), "accuracy"))
    large = bootstrap_interval(turn_hits(cases([True, False] * 500), "accuracy"))
    assert small[0] < 0.5 < small[1] and large[0] < 0.5 < large[1]
    assert large[1] - large[0] < (small[1] - small[0]) / 3
    assert bootstrap_interval(turn_hits(cases([True, False] * 20), "accuracy")) == small  # fixed seed


def test_turns_of_one_conversation_are_resampled_together():
    """The same 200 turns, independent or in conversations that are all right or all wrong:
    the clustered ones carry less information, so their interval is wider."""
    outcomes = ([True] * 10 + [False] * 10) * 10
    independent = bootstrap_interval(turn_hits(cases(outcomes), "accuracy"))
    clustered = bootstrap_interval(turn_hits(cases(outcomes, turns_per_conv=10), "accuracy"))
    assert clustered[1] - clustered[0] > 2 * (independent[1] - independent[0])


def test_no_interval_from_one_conversation_and_exact_match_counts_call_turns_only():
    assert bootstrap_interval(turn_hits(cases([True, False, True], turns_per_conv=3), "accuracy")) is None
    mixed = cases([True, False]) + cases([False, False], expected_call=False, prefix="n")
    assert [hit for _, hit in turn_hits(mixed, "exact_match")] == [True, False]
    assert len(turn_hits(mixed, "accuracy")) == 4


def test_paired_comparison_counts_flips_on_shared_turns():
    base = cases([True] * 30 + [False] * 10)
    other = cases([True] * 28 + [False, False] + [True] * 3 + [False] * 7)  # 2 lost, 3 gained
    cmp = paired_comparison(base, other + cases([True] * 5, prefix="extra"), "accuracy")
    assert (cmp["n"], cmp["gained"], cmp["lost"]) == (40, 3, 2)  # turns only one side has are left out
    assert cmp["base"] == 0.75 and cmp["other"] == pytest.approx(0.775) and cmp["difference"] == pytest.approx(0.025)
    lo, hi = cmp["difference_ci95"]
    assert lo < 0 < hi  # 5 flips out of 40 turns: within the noise
    same = paired_comparison(base, base, "accuracy")
    assert (same["difference"], same["difference_ci95"], same["gained"], same["lost"]) == (0.0, [0.0, 0.0], 0, 0)


def test_a_consistent_gain_is_outside_the_noise():
    base = cases([False] * 100)
    other = cases([True] * 60 + [False] * 40)
    lo, hi = paired_comparison(base, other, "exact_match")["difference_ci95"]
    assert 0.4 < lo < 0.6 < hi < 0.8


def test_nothing_in_common_is_no_comparison():
    assert paired_comparison(cases([True]), cases([True], prefix="other"), "accuracy") is None
    relabelled = [{**c, "category": "parallel"} for c in cases([True, False])]  # same ids, another eval file
    assert paired_comparison(cases([True, False]), relabelled, "accuracy") is None
    assert compare_results({"cases": cases([True])}, {"cases": cases([True], prefix="other")}) == {}
    assert set(compare_results({"cases": cases([True, False])}, {"cases": cases([False, True])})) == {"accuracy", "exact_match"}
