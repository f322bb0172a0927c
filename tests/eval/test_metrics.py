"""Metric functions on hand-written cases: one test per branch of the scoring rules."""

import pytest

from tooltune.core.format import parse_output
from tooltune.core.types import FunctionCall, ToolCall
from tooltune.eval.cases import cases_from_conversation, load_cases
from tooltune.eval.metrics import (
    NONE, Prediction, by_category, confusion_matrix, conversation_success, no_call_precision_recall, percentile,
    score_case, summarize,
)

from .helpers import assistant, call, conv, tool_result, user


def one_case(kind, expected, prompt="do it"):
    return cases_from_conversation(conv(kind, user(prompt), expected), "c")[0]


def pred(text):
    """A prediction from raw model text, parsed exactly as the runners do."""
    r = parse_output(text)
    return Prediction(content=r.content, tool_calls=r.tool_calls, malformed=r.malformed, raw=text)


def tc(name, args):
    import json
    return f'<tool_call>{{"name":"{name}","arguments":{json.dumps(args)}}}</tool_call>'


SINGLE = lambda: one_case("single", assistant(calls=[call("create_task", title="buy milk", priority="high")]))  # noqa: E731
PARALLEL = lambda: one_case("parallel", assistant(calls=[call("complete_task", task_id=3), call("complete_task", task_id=4)]))  # noqa: E731


def test_right_call():
    s = score_case(SINGLE(), pred(tc("create_task", {"priority": "high", "title": "buy milk"})))
    assert s.correct and s.tool_selection and s.exact_match
    assert (s.args_right, s.args_total) == (2, 2)
    assert s.json_valid is True and s.schema_valid is True and s.reasons == []


def test_wrong_name():
    s = score_case(SINGLE(), pred(tc("update_task", {"task_id": 1, "title": "buy milk"})))
    assert not s.correct and not s.tool_selection and not s.exact_match
    assert (s.args_right, s.args_total) == (0, 2)  # the expected call is unmatched: all its args count against
    assert "expected create_task" in s.reasons[0]


def test_wrong_argument():
    s = score_case(SINGLE(), pred(tc("create_task", {"title": "buy milk", "priority": "low"})))
    assert not s.correct and s.tool_selection and not s.exact_match
    assert (s.args_right, s.args_total) == (1, 2)
    assert s.schema_valid is True and "wrong arguments" in s.reasons


def test_extra_and_missing_argument_count_against():
    s = score_case(SINGLE(), pred(tc("create_task", {"title": "buy milk", "due_date": "2026-01-02"})))
    assert (s.args_right, s.args_total) == (1, 3)  # title right; priority missing; due_date extra


def test_numbers_compare_by_value():
    case = one_case("single", assistant(calls=[call("complete_task", task_id=3)]))
    assert score_case(case, pred(tc("complete_task", {"task_id": 3.0}))).exact_match


def test_extra_call():
    s = score_case(SINGLE(), pred(tc("create_task", {"title": "buy milk", "priority": "high"}) + tc("list_tasks", {})))
    assert not s.correct and not s.tool_selection
    assert s.predicted_names == ["create_task", "list_tasks"]


def test_missing_call_in_parallel():
    s = score_case(PARALLEL(), pred(tc("complete_task", {"task_id": 3})))
    assert not s.correct and not s.tool_selection
    assert (s.args_right, s.args_total) == (1, 2)


def test_no_call_when_call_expected():
    s = score_case(SINGLE(), pred("Sure, I will do that."))
    assert not s.correct and not s.predicted_call and s.json_valid is None and s.schema_valid is None
    assert s.reasons == ["no call; expected create_task"]


def test_invalid_json():
    s = score_case(SINGLE(), pred('<tool_call>{"name":"create_task","arguments":{"title":"buy milk",}</tool_call>'))
    assert s.predicted_call and s.json_valid is False and not s.correct
    assert any("invalid JSON" in r for r in s.reasons)


def test_invalid_json_arguments_from_a_server():
    bad = ToolCall(function=FunctionCall(name="create_task", arguments='{"title": "buy'))
    s = score_case(SINGLE(), Prediction(tool_calls=[bad]))
    assert s.json_valid is False and s.schema_valid is False and not s.correct


def test_schema_invalid_call():
    s = score_case(SINGLE(), pred(tc("create_task", {"title": "buy milk", "priority": "urgent"})))
    assert s.json_valid is True and s.schema_valid is False
    assert any(r.startswith("schema:") for r in s.reasons)


def test_parallel_calls_in_swapped_order():
    s = score_case(PARALLEL(), pred(tc("complete_task", {"task_id": 4}) + tc("complete_task", {"task_id": 3})))
    assert s.correct and s.exact_match and (s.args_right, s.args_total) == (2, 2)


def test_parallel_duplicate_is_not_a_match():
    s = score_case(PARALLEL(), pred(tc("complete_task", {"task_id": 3}) + tc("complete_task", {"task_id": 3})))
    assert not s.exact_match  # multiset, not set


def test_no_call_right_and_wrong():
    case = one_case("no_call", assistant("Hello!"), prompt="hi")
    right = score_case(case, pred("Hi! What can I do for you?"))
    wrong = score_case(case, pred(tc("list_tasks", {})))
    assert right.correct and right.tool_selection and not right.predicted_call
    assert not wrong.correct and not wrong.tool_selection and wrong.predicted_call
    p, r = no_call_precision_recall([right, wrong, score_case(SINGLE(), pred("no"))])
    assert p == pytest.approx(1 / 2)  # one right no-call, one no-call where a call was due
    assert r == pytest.approx(1 / 2)  # one of two no-call turns kept quiet


def test_clarify():
    case = one_case("clarify", assistant("Which task do you mean?"), prompt="change the due date")
    assert case.expects_clarification and not case.expects_call
    asked = score_case(case, pred("Sure — which task, and to what date?"))
    silent = score_case(case, pred("OK."))
    called = score_case(case, pred(tc("update_task", {"task_id": 1})))
    assert asked.correct and asked.asked_clarification
    assert not silent.correct and silent.reasons == ["did not ask a clarifying question"]
    assert not called.correct and called.reasons[-1] == "called a tool instead of asking"
    assert summarize([asked, silent, called])["clarify_rate"] == pytest.approx(1 / 3)


def test_engine_error_is_a_wrong_turn():
    s = score_case(SINGLE(), Prediction(error="context too long"))
    assert not s.correct and s.reasons[0].startswith("request failed")


def test_cases_from_multi_turn_conversation_use_gold_history():
    c1 = call("create_task", title="x")
    c = conv("multi_turn", user("add x"), assistant(calls=[c1]), tool_result(c1, "{}"), assistant("Done."),
             user("and done"), assistant(calls=[call("complete_task", task_id=1)]))
    cases = cases_from_conversation(c, "m")
    assert [len(k.messages) for k in cases] == [1, 3, 5]
    assert [k.expects_call for k in cases] == [True, False, True]
    assert [k.id for k in cases] == ["m#0", "m#1", "m#2"]


def test_multi_turn_success_needs_every_turn(eval_file):
    cases = load_cases(eval_file)
    multi = [c for c in cases if c.category == "multi_turn"]
    good = [tc("create_task", {"title": "buy milk"}), "Created it.", tc("complete_task", {"task_id": 7})]
    scores = [score_case(c, pred(t)) for c, t in zip(multi, good)]
    assert conversation_success(scores) == 1.0
    scores[1] = score_case(multi[1], pred(tc("list_tasks", {})))
    assert conversation_success(scores) == 0.0
    assert by_category(scores)["multi_turn"]["accuracy"] == pytest.approx(2 / 3)


def test_confusion_matrix():
    scores = [
        score_case(SINGLE(), pred(tc("create_task", {"title": "buy milk", "priority": "high"}))),
        score_case(SINGLE(), pred(tc("update_task", {"task_id": 1}))),
        score_case(SINGLE(), pred("nothing")),
        score_case(one_case("no_call", assistant("hi")), pred(tc("list_tasks", {}))),
        score_case(one_case("no_call", assistant("hi")), pred("hello")),
        score_case(SINGLE(), pred("<tool_call>{oops</tool_call>")),
    ]
    cm = confusion_matrix(scores)
    assert cm["create_task"] == {"create_task": 1, "update_task": 1, NONE: 1, "<malformed>": 1}
    assert cm[NONE] == {"list_tasks": 1, NONE: 1}


def test_summary_rates_and_latency():
    cases = [SINGLE(), SINGLE()]
    preds = [pred(tc("create_task", {"title": "buy milk", "priority": "high"})), pred("no")]
    preds[0].total_s, preds[0].ttft_s, preds[0].completion_tokens = 0.2, 0.05, 20
    preds[1].total_s, preds[1].ttft_s, preds[1].completion_tokens = 0.4, 0.1, 4
    out = summarize([score_case(c, p) for c, p in zip(cases, preds)])
    assert out["accuracy"] == 0.5 and out["exact_match"] == 0.5 and out["json_valid"] == 1.0
    assert out["latency_p50_s"] == pytest.approx(0.3) and out["ttft_p95_s"] == pytest.approx(0.0975)
    assert out["single_call_latency_p50_s"] == pytest.approx(0.3)  # both expect one call
    answer = score_case(one_case("no_call", assistant("hi")), pred("hello"))
    answer.total_s = 5.0  # a long written answer
    mixed = summarize([score_case(c, p) for c, p in zip(cases, preds)] + [answer])
    assert mixed["latency_p95_s"] > 1.0 and mixed["single_call_latency_p95_s"] < 0.5  # the answer is left out
    assert out["tokens_per_s_p50"] == pytest.approx((100 + 10) / 2)
    assert out["no_call_recall"] is None  # no turn expected silence
    assert percentile([], 50) is None
