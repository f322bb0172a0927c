"""Shared pieces of the serve tests: a scripted engine that answers like a constrained tool-caller,
and a live uvicorn server on a free local port."""

from __future__ import annotations

import json
import re

import pytest

from tooltune.engine.base import GenerationRequest
from tooltune.engine.scripted import ScriptedEngine
from tooltune.serve import create_app
from tooltune.serve.background import serve_in_thread

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TOOLS = [WEATHER, TIME]


def call_text(name: str, args: dict) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": args}, separators=(",", ":")) + "</tool_call>"


def _cities(text: str) -> list[str]:
    return re.findall(r"\b([A-Z][a-z]+)\b", text) or ["Paris"]


def script(req: GenerationRequest) -> str:
    """What a constrained tool-caller would write: calls when allowed and asked, forced calls
    under tool_choice required/named, a final answer after a tool result."""
    last = req.messages[-1]
    if last.role == "tool":
        return f"Done: {last.content}"
    user = last.content or ""
    cities = [c for c in _cities(user) if c not in ("What", "Weather", "Time", "Hi", "Tell")] or ["Paris"]
    if req.tool_choice == "none" or not req.tools:
        return f"No tool needed for {cities[0]}."
    declared = {t.name for t in req.tools}
    if req.tool_choice not in ("auto", "required"):
        return call_text(req.tool_choice, {"city": cities[0]})
    if "weather" in user.lower() or req.tool_choice == "required":
        names = ["get_weather"] + (["get_time"] if "time" in user.lower() and "get_time" in declared else [])
        calls = [call_text(n, {"city": c}) for c in cities for n in names]
        if not req.parallel_tool_calls:
            calls = calls[:1]
        return "\n".join(calls)
    return f"Hello! Nothing to look up about {cities[0]}."


@pytest.fixture(scope="module")
def engine():
    return ScriptedEngine(script, name="scripted")


@pytest.fixture(scope="module")
def server(engine):
    app = create_app({"scripted": engine, "echo": ScriptedEngine(lambda r: "I am echo.", name="echo")})
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def base_url(server):
    return server + "/v1"
