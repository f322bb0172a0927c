import json
import re
from datetime import date, timedelta

import pytest

from tooltune.core.dates import resolve_date
from tooltune.core.tools import load_tools
from tooltune.core.types import Conversation
from tooltune.core.validate import conversation_errors
from tooltune.data.generate import KINDS, allocate, generate, parse_mix
from tooltune.data.taskapi_bank import POOLS
from tooltune.data.taskapi_gen import TaskApiGenerator
from tooltune.data.templates import Bank


@pytest.fixture(scope="module")
def taskapi():
    return load_tools("taskapi")


@pytest.fixture(scope="module")
def splits(taskapi):
    return generate(taskapi, 700, seed=3)


def _convs(rows):
    return [Conversation.model_validate(r) for r in rows]


def test_deterministic_for_a_seed(taskapi, splits):
    again = generate(taskapi, 700, seed=3)
    assert again["train"].rows == splits["train"].rows
    assert again["eval"].rows == splits["eval"].rows
    other = generate(taskapi, 700, seed=4)
    assert other["train"].rows != splits["train"].rows


def test_sizes_and_every_kind_in_both_splits(splits):
    assert len(splits["train"].rows) + len(splits["eval"].rows) == 700
    assert len(splits["eval"].rows) == round(700 * 0.15)
    for split in ("train", "eval"):
        kinds = {r["meta"]["kind"] for r in splits[split].rows}
        assert kinds == set(KINDS), split
        assert all(r["meta"]["split"] == split for r in splits[split].rows)


def test_zero_template_overlap_and_templates_come_from_their_split(splits):
    assert splits["train"].templates and splits["eval"].templates
    assert not splits["train"].templates & splits["eval"].templates
    bank = Bank(POOLS)
    for split in ("train", "eval"):
        allowed = {t.id for pool in bank.pools for t in bank.templates(pool, split)}
        assert splits[split].templates <= allowed


def test_bank_split_is_stable_and_disjoint():
    a, b = Bank(POOLS), Bank(POOLS)
    for pool in POOLS:
        tr = {t.id for t in a.templates(pool, "train")}
        ev = {t.id for t in a.templates(pool, "eval")}
        assert tr and ev and not tr & ev
        assert ev == {t.id for t in b.templates(pool, "eval")}


def test_every_sample_validates_and_has_today(splits):
    for conv in _convs(splits["train"].rows + splits["eval"].rows):
        assert conversation_errors(conv.messages, conv.tools) == []
        assert re.fullmatch(r"Today is \d{4}-\d{2}-\d{2} \((Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\)\.",
                            conv.messages[0].content)


def test_many_different_todays(splits):
    todays = {r["messages"][0]["content"] for r in splits["train"].rows}
    years = {t[9:13] for t in todays}
    assert len(todays) > 500 and len(years) >= 8


def test_arguments_are_canonical_and_results_follow_the_contract(splits):
    for conv in _convs(splits["train"].rows):
        for m in conv.messages:
            for c in m.tool_calls or []:
                args = json.loads(c.function.arguments)
                assert c.function.arguments == json.dumps(args, ensure_ascii=False, separators=(",", ":"))
            if m.role == "tool":
                data = json.loads(m.content)
                assert m.content == json.dumps(data, ensure_ascii=False, separators=(",", ":"))
                assert set(data) <= {"id", "title", "description", "due_date", "priority", "status",
                                     "tasks", "deleted", "error"}
                if "id" in data:
                    keys = [k for k in ("id", "title", "description", "due_date", "priority", "status") if k in data]
                    assert list(data) == keys and None not in data.values()


def test_optional_argument_combinations_all_appear(splits):
    seen: dict[str, set] = {"create_task": set(), "update_task": set(), "list_tasks": set()}
    for conv in _convs(splits["train"].rows):
        if conv.meta["kind"] != "single":
            continue
        for m in conv.messages:
            for c in m.tool_calls or []:
                if c.function.name in seen:
                    required = {"create_task": {"title"}, "update_task": {"task_id"}}.get(c.function.name, set())
                    seen[c.function.name].add(frozenset(json.loads(c.function.arguments)) - required)
    assert len(seen["create_task"]) == 8  # 2^3 subsets of description, due_date, priority
    assert len(seen["update_task"]) == 15  # non-empty subsets of 4 fields
    assert len(seen["list_tasks"]) == 4


def test_titles_appear_verbatim_in_the_request(splits):
    for conv in _convs(splits["train"].rows):
        if conv.meta["kind"] != "single":
            continue
        call = conv.messages[2].tool_calls[0]
        if call.function.name == "create_task":
            assert json.loads(call.function.arguments)["title"] in conv.messages[1].content


def test_relative_dates_are_in_the_near_future(splits):
    n = 0
    for conv in _convs(splits["train"].rows):
        if conv.meta["kind"] != "relative_date":
            continue
        today = date.fromisoformat(conv.messages[0].content[9:19])
        due = json.loads(conv.messages[2].tool_calls[0].function.arguments)["due_date"]
        assert due in conv.messages[1].content  # the user's own words, copied
        resolved = resolve_date(due, today)
        assert today <= resolved <= today + timedelta(days=45)
        result = json.loads(conv.messages[3].content)  # the tool resolved them
        assert result.get("due_date") == resolved.isoformat() or "error" in result
        n += 1
    assert n > 50


def test_follow_ups_use_ids_from_earlier_results(splits):
    checked = 0
    for conv in _convs(splits["train"].rows):
        if conv.meta["kind"] != "multi_turn":
            continue
        calls = [c for m in conv.messages for c in (m.tool_calls or [])]
        if len(calls) < 2 or calls[1].function.name == "list_tasks":
            continue
        earlier = conv.messages[: next(i for i, m in enumerate(conv.messages) if m.tool_calls and m.tool_calls[0] is calls[1])]
        results = " ".join(m.content for m in earlier if m.role == "tool")
        task_id = json.loads(calls[1].function.arguments)["task_id"]
        assert re.search(rf'"id":{task_id}\b', results)
        checked += 1
    assert checked > 20


def test_kinds_have_their_shape(splits):
    for conv in _convs(splits["train"].rows):
        assistant = [m for m in conv.messages if m.role == "assistant"]
        kind = conv.meta["kind"]
        if kind == "no_call":
            assert not assistant[-1].tool_calls and assistant[-1].content
        if kind == "clarify":
            assert not assistant[0].tool_calls and "?" in assistant[0].content
        if kind == "parallel":
            assert 2 <= len(assistant[0].tool_calls) <= 3
        if kind == "error_recovery":
            assert any(m.role == "tool" and '"error"' in m.content for m in conv.messages)
        assert assistant[-1].content and not assistant[-1].tool_calls  # every chat ends in words


def test_mix_parsing_and_allocation():
    mix = parse_mix("single=1,parallel=0")
    assert mix["single"] == 1 and mix["parallel"] == 0
    counts = allocate(100, mix, KINDS)
    assert sum(counts.values()) == 100 and "parallel" not in counts
    assert set(allocate(7, parse_mix(""), KINDS)) == set(KINDS)  # small splits still get every kind
    for bad in ("bogus=1", "single", "single=x", "single=-1"):
        with pytest.raises(ValueError):
            parse_mix(bad)


def test_generator_refuses_unknown_kind(taskapi):
    import random

    with pytest.raises(AttributeError):
        TaskApiGenerator(taskapi).sample("nonsense", random.Random(0), "train")


def test_call_arguments_follow_schema_order():
    """Constrained decoding emits properties in schema order; the data must teach that order."""
    from tooltune.core.tools import load_tools
    from tooltune.data.generate import generate

    tools = load_tools("taskapi")
    order = {t.name: list(t.function.parameters["properties"]) for t in tools}
    splits = generate(tools, n=300, seed=3)
    seen = 0
    for split in splits.values():
        for row in split.rows:
            for m in row["messages"]:
                for call in m.get("tool_calls") or []:
                    keys = list(json.loads(call["function"]["arguments"]))
                    ranks = [order[call["function"]["name"]].index(k) for k in keys]
                    assert ranks == sorted(ranks), (call, keys)
                    seen += len(keys) > 1
    assert seen > 50
