"""Broken tool calls are retried, never leaked: what a less-than-perfect model gets turned into."""

from __future__ import annotations

import json

import httpx
import pytest
from openai import OpenAI

from tooltune.engine.scripted import ScriptedEngine
from tooltune.serve import create_app
from tooltune.serve.background import serve_in_thread

from .conftest import TOOLS, call_text
from .streaming import reassemble

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
GOOD = call_text("get_weather", {"city": "Paris"})
BAD_SCHEMA = call_text("get_weather", {"city": "Paris", "unit": "kelvin"})  # enum violation
BAD_JSON = '<tool_call>{"name":"get_weather","arguments":{"city":"Par'  # unterminated
BAD_JSON_CLOSED = '<tool_call>{"name":"get_weather","arguments":{"city":}}</tool_call>'
UNKNOWN_TOOL = call_text("launch_rocket", {"city": "Paris"})


class Swappable:
    """One engine slot whose scripted engine each test replaces (one server per module)."""

    name = "m"
    max_context = 4096
    inner: ScriptedEngine

    def generate(self, request):
        return self.inner.generate(request)


@pytest.fixture(scope="module")
def servers():
    slots = {True: Swappable(), False: Swappable()}
    with serve_in_thread(create_app({"m": slots[True]})) as on, \
            serve_in_thread(create_app({"m": slots[False]}, constrained=False)) as off:
        yield {True: (on, slots[True]), False: (off, slots[False])}


@pytest.fixture
def serve(servers):
    def run(outputs, stream: bool, constrained: bool = True, **body):
        """One request against a fresh scripted engine; returns (response or chunks, engine)."""
        url, slot = servers[constrained]
        engine = slot.inner = ScriptedEngine(outputs)
        kw = {"model": "m", "messages": USER, "tools": TOOLS, **body}
        if not stream:
            return httpx.post(url + "/v1/chat/completions", json=kw, timeout=10), engine
        client = OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        return list(client.chat.completions.create(stream=True, **kw)), engine

    return run


@pytest.mark.parametrize("bad", [BAD_SCHEMA, BAD_JSON_CLOSED, UNKNOWN_TOOL, BAD_JSON + "</tool_call>"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("constrained", [True, False])
def test_invalid_call_is_retried(serve, bad, stream, constrained):
    out, engine = serve([bad, GOOD], stream, constrained)
    if stream:
        content, calls, finish = reassemble(out)
    else:
        msg = out.json()["choices"][0]
        content, calls, finish = msg["message"]["content"], [c["function"] for c in msg["message"]["tool_calls"]], \
            msg["finish_reason"]
    assert content is None, "nothing of the broken call leaks into content"
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert finish == "tool_calls"
    assert len(engine.requests) == 2
    first, retry = (r.sampling for r in engine.requests)
    assert first.temperature == 0.0 and retry.temperature > 0, "a greedy retry would repeat itself"
    assert retry.seed is not None


@pytest.mark.parametrize("stream", [False, True])
def test_retries_are_bounded_then_500(servers, stream):
    url, slot = servers[True]
    engine = slot.inner = ScriptedEngine([BAD_SCHEMA] * 5)
    r = httpx.post(url + "/v1/chat/completions", timeout=10,
                   json={"model": "m", "messages": USER, "tools": TOOLS, "stream": stream})
    assert r.status_code == 500
    err = r.json()["error"]
    assert err["code"] == "invalid_tool_call" and err["type"] == "server_error"
    assert "unit" in err["message"] and "kelvin" in err["message"]
    assert len(engine.requests) == 3


def test_required_without_a_call_is_retried_then_500(serve):
    r, engine = serve(["I won't.", "Still no.", "Nope."], stream=False, tool_choice="required")
    assert r.status_code == 500 and r.json()["error"]["code"] == "invalid_tool_call"
    assert len(engine.requests) == 3
    r, engine = serve(["I won't.", GOOD], stream=False, tool_choice="required")
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == \
        "get_weather"


def test_named_choice_rejects_other_tools(serve):
    other = call_text("get_time", {"city": "Paris"})
    r, engine = serve([GOOD, other], stream=False,
                      tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert [c["function"]["name"] for c in r.json()["choices"][0]["message"]["tool_calls"]] == ["get_time"]
    assert len(engine.requests) == 2


def test_tool_choice_none_drops_calls_after_retries(serve):
    r, engine = serve(["Sunny. " + GOOD] * 3, stream=False, tool_choice="none")
    msg = r.json()["choices"][0]
    assert r.status_code == 200 and msg["finish_reason"] == "stop"
    assert msg["message"]["tool_calls"] is None
    assert msg["message"]["content"] == "Sunny."


def test_valid_calls_stand_when_a_later_one_is_broken(serve):
    r, engine = serve([GOOD + "\n" + BAD_SCHEMA], stream=False)
    calls = r.json()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather"] and len(engine.requests) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_truncated_call_is_dropped_not_leaked(serve, stream):
    text = "Let me check. " + call_text("get_weather", {"city": "Paris" * 40})
    out, engine = serve([text], stream, max_tokens=20)
    if stream:
        content, calls, finish = reassemble(out)
    else:
        msg = out.json()["choices"][0]
        content, calls, finish = msg["message"]["content"], msg["message"]["tool_calls"] or [], msg["finish_reason"]
    assert (content, calls, finish) == ("Let me check.", [], "length")
    assert len(engine.requests) == 1, "a retry with the same budget would be cut off again"


def test_streamed_content_stands_and_retry_adds_the_call(serve):
    out, engine = serve(["Checking. " + BAD_SCHEMA, "Other words. " + GOOD], stream=True)
    content, calls, finish = reassemble(out)
    assert content == "Checking." and [c["name"] for c in calls] == ["get_weather"] and finish == "tool_calls"
