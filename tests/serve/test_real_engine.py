"""The server on the real transformers engine (a tiny random model): constrained decoding makes
even a random model's forced calls valid, end to end through the openai client."""

from __future__ import annotations

import json

import pytest
from openai import OpenAI

from tooltune.serve import create_app
from tooltune.serve.background import serve_in_thread

UNIT = {
    "type": "function",
    "function": {
        "name": "set_unit",
        "description": "Choose the temperature unit.",
        "parameters": {"type": "object", "properties": {"unit": {"type": "string", "enum": ["celsius", "kelvin"]}},
                       "required": ["unit"], "additionalProperties": False},
    },
}
PING = {"type": "function", "function": {"name": "ping", "parameters": {
    "type": "object", "properties": {}, "additionalProperties": False}}}


@pytest.fixture(scope="module")
def url(tiny_model_dir):
    from tooltune.engine import load_engine

    engine = load_engine(tiny_model_dir, name="tiny")
    with serve_in_thread(create_app({"tiny": engine}, request_timeout_s=60)) as base:
        yield base + "/v1"


def test_forced_calls_from_a_random_model_are_valid(url):
    client = OpenAI(base_url=url, api_key="x", max_retries=0)
    msgs = [{"role": "user", "content": "Use kelvin please."}]
    for choice in ("required", {"type": "function", "function": {"name": "set_unit"}}):
        r = client.chat.completions.create(model="tiny", messages=msgs, tools=[UNIT, PING], tool_choice=choice,
                                           parallel_tool_calls=False, max_tokens=40, temperature=1.0, seed=3)
        assert r.choices[0].finish_reason == "tool_calls", r
        [call] = r.choices[0].message.tool_calls
        assert call.function.name in ("set_unit", "ping")
        if choice != "required":
            assert call.function.name == "set_unit"
        if call.function.name == "set_unit":
            assert json.loads(call.function.arguments)["unit"] in ("celsius", "kelvin")
        assert r.usage.prompt_tokens > 10 and r.usage.completion_tokens > 0


def test_streamed_forced_call_and_none(url):
    client = OpenAI(base_url=url, api_key="x", max_retries=0)
    msgs = [{"role": "user", "content": "Use kelvin please."}]
    args, names, finish = "", [], None
    for ch in client.chat.completions.create(model="tiny", messages=msgs, tools=[UNIT], stream=True,
                                             tool_choice={"type": "function", "function": {"name": "set_unit"}},
                                             max_tokens=40):
        for tc in ch.choices[0].delta.tool_calls or []:
            names += [tc.function.name] if tc.function.name else []
            args += tc.function.arguments or ""
        finish = ch.choices[0].finish_reason or finish
    assert names == ["set_unit"] and finish == "tool_calls"
    assert json.loads(args)["unit"] in ("celsius", "kelvin")
    r = client.chat.completions.create(model="tiny", messages=msgs, tools=[UNIT], tool_choice="none", max_tokens=8)
    assert r.choices[0].message.tool_calls is None
    assert "<tool_call>" not in (r.choices[0].message.content or "")


def test_context_too_long_from_the_real_engine(url):
    import openai

    client = OpenAI(base_url=url, api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "word " * 20000}])
    assert e.value.code == "context_length_exceeded"
