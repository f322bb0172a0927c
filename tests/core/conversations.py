"""Seeded random conversations that exercise every shape the format must carry."""

from __future__ import annotations

import random

from tooltune.core.tools import load_tools, parse_tools
from tooltune.core.types import Message, Tool, make_call

EXTRA_TOOLS = parse_tools(
    [
        {
            "name": "search_flights",
            "description": "Find flights. Prices in EUR.",
            "parameters": {
                "type": "object",
                "properties": {
                    "origin": {"type": "string", "description": "IATA code"},
                    "stops": {"type": ["integer", "null"]},
                    "cabins": {"type": "array", "items": {"type": "string", "enum": ["eco", "biz"]}},
                    "window": {
                        "type": "object",
                        "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
                        "required": ["from"],
                    },
                    "flex": {"anyOf": [{"type": "boolean"}, {"type": "number"}]},
                    "note": {"description": "free 'quoted' text \\ with backslash"},
                },
                "required": ["origin"],
            },
        },
        {"name": "ping", "parameters": {"type": "object", "properties": {}}},
    ]
)

_TEXTS = [
    "hi", "Add 'milk' to my list, please!", "What's up?\nSecond line", "ünïcödé ✓ 日本語",
    'quotes "inside" and {braces} [brackets]', "Done.", "a <b>tag</b> that is not a call", "  padded  ",
]


def _args(tool: Tool, rng: random.Random) -> dict:
    out = {}
    for name, schema in tool.function.parameters.get("properties", {}).items():
        if rng.random() < 0.5 and name not in tool.function.parameters.get("required", []):
            continue
        t = schema.get("type")
        if "enum" in schema:
            out[name] = rng.choice(schema["enum"])
        elif t == "integer":
            out[name] = rng.randint(0, 999)
        elif t == "array":
            out[name] = ["eco", "biz"][: rng.randint(0, 2)]
        elif t == "object":
            out[name] = {"from": "2026-01-0" + str(rng.randint(1, 9))}
        else:
            out[name] = rng.choice(_TEXTS).strip()
    return out


def random_conversation(rng: random.Random) -> tuple[list[Message], list[Tool]]:
    tools = rng.choice([load_tools("taskapi"), EXTRA_TOOLS, load_tools("taskapi") + EXTRA_TOOLS, []])
    msgs: list[Message] = []
    if rng.random() < 0.7:
        msgs.append(Message(role="system", content=rng.choice(["Today is 2026-03-05 (Thursday).", "Be brief.\n\nReally."])))
    for _ in range(rng.randint(1, 3)):
        msgs.append(Message(role="user", content=rng.choice(_TEXTS).strip()))
        if tools and rng.random() < 0.7:
            calls = [make_call((t := rng.choice(tools)).name, _args(t, rng)) for _ in range(rng.randint(1, 3))]
            content = rng.choice([None, None, "Let me check."])
            msgs.append(Message(role="assistant", content=content, tool_calls=calls))
            for c in calls:
                msgs.append(Message(role="tool", tool_call_id=c.id, content=rng.choice(['{"id":7}', '{"error":"nope"}', "plain"])))
        msgs.append(Message(role="assistant", content=rng.choice(_TEXTS).strip()))
    return msgs, tools


def normalized(messages: list[Message]) -> list[dict]:
    """Messages with call ids replaced by their order, so texts without ids compare equal."""
    ids: dict[str, str] = {}
    out = []
    for m in messages:
        d = m.to_openai()
        for tc in d.get("tool_calls") or []:
            tc["id"] = ids.setdefault(tc["id"], f"id{len(ids)}")
        if "tool_call_id" in d:
            d["tool_call_id"] = ids.get(d["tool_call_id"], "?")
        out.append(d)
    return out
