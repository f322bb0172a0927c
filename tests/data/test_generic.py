import json
import random

import pytest

from tooltune.core.tools import parse_tools
from tooltune.core.types import Conversation
from tooltune.core.validate import conversation_errors
from tooltune.data.generate import generate
from tooltune.data.generic_gen import GenericGenerator

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city.",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                     "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                    "required": ["city"], "additionalProperties": False}}},
    {"type": "function", "function": {"name": "book_room", "description": "Book a meeting room.", "parameters": {
        "type": "object", "properties": {
            "room": {"type": "integer", "minimum": 1, "maximum": 12},
            "day": {"type": "string", "format": "date"},
            "attendees": {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 1},
            "options": {"type": "object", "properties": {"projector": {"type": "boolean"}, "budget": {"type": "number",
                                                                                                       "maximum": 50}}}},
        "required": ["room", "day", "attendees"]}}},
    {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}},
]


@pytest.fixture(scope="module")
def splits():
    return generate(parse_tools(TOOLS), 400, seed=0)


def test_generic_kinds_validate_and_split(splits):
    kinds = set(GenericGenerator(parse_tools(TOOLS)).kinds)
    assert kinds == {"single", "parallel", "multi_turn", "no_call", "clarify", "error_recovery", "relative_date"}
    for split in ("train", "eval"):
        assert {r["meta"]["kind"] for r in splits[split].rows} == kinds
        for r in splits[split].rows:
            c = Conversation.model_validate(r)
            assert conversation_errors(c.messages, c.tools) == []
    assert not splits["train"].templates & splits["eval"].templates


def test_generic_values_follow_the_schema(splits):
    seen = set()
    for r in splits["train"].rows:
        for m in r["messages"]:
            for c in m.get("tool_calls") or []:
                args = json.loads(c["function"]["arguments"])
                seen.add(c["function"]["name"])
                if c["function"]["name"] == "book_room":
                    assert 1 <= args["room"] <= 12 and all("@" in a for a in args["attendees"])
                    assert list(args) == [k for k in ("room", "day", "attendees", "options") if k in args]
    assert seen == {"get_weather", "book_room", "ping"}


def test_generic_requests_say_the_values(splits):
    for r in splits["train"].rows:
        if r["meta"]["kind"] != "single":
            continue
        call = r["messages"][2]["tool_calls"][0]["function"]
        if call["name"] == "get_weather":
            assert json.loads(call["arguments"])["city"] in r["messages"][1]["content"]


def test_no_clarify_or_dates_without_required_or_date_args():
    tools = parse_tools([TOOLS[2], {"name": "search", "description": "Search the web.",
                                    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}])
    gen = GenericGenerator(tools)
    assert "clarify" not in gen.kinds and "relative_date" not in gen.kinds
    conv = gen.sample("no_call", random.Random(1), "eval")
    assert conversation_errors(conv.messages, conv.tools) == []
