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


@pytest.mark.parametrize("pattern", [r"^[A-Z]{3}$", r"^\d{5}(-\d{4})?$", r"^(red|green|blue)$", r"^[a-z0-9_]+$",
                                     r"^SKU-\w{2,4}$"])
def test_sample_regex_matches(pattern):
    import re

    from tooltune.data.schema_values import sample_regex

    rng = random.Random(0)
    for _ in range(50):
        assert re.fullmatch(pattern.strip("^$"), sample_regex(rng, pattern))


def test_patterned_and_loose_schemas_generate(tmp_path):
    tools = parse_tools([{"name": "convert", "description": "Convert an amount between currencies.", "parameters": {
        "type": "object", "properties": {"amount": {"type": "number", "exclusiveMinimum": 0},
                                         "from": {"type": "string", "pattern": "^[A-Z]{3}$"},
                                         "tags": {"type": "array"}, "meta": {},
                                         "level": {"anyOf": [{"type": "integer", "maximum": 3}, {"type": "null"}]}},
        "required": ["amount", "from"]}}])
    splits = generate(tools, 120, seed=0)
    for r in splits["train"].rows + splits["eval"].rows:
        c = Conversation.model_validate(r)
        assert conversation_errors(c.messages, c.tools) == []


def test_unsatisfiable_schema_is_a_clean_cli_error(tmp_path):
    from typer.testing import CliRunner

    from tooltune.cli import app

    f = tmp_path / "tools.json"
    f.write_text(json.dumps([{"name": "f", "description": "d", "parameters": {"type": "object", "properties": {
        "x": {"type": "string", "pattern": "^(?=a)b$"}}, "required": ["x"]}}]))
    result = CliRunner().invoke(app, ["data", "generate", "--tools", str(f), "--n", "20", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "error: " in result.output and "Traceback" not in result.output
