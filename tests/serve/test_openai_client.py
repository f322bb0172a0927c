"""The real ``openai`` client (sync and async, plain and streaming) against the server."""

from __future__ import annotations

import asyncio
import json

import pytest
from openai import AsyncOpenAI, OpenAI

from .conftest import TOOLS
from .streaming import reassemble

USER = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def client(base_url):
    return OpenAI(base_url=base_url, api_key="unused", max_retries=0)


def stream_turn(client, **kw):
    """(content, calls as dicts, finish_reason, chunks) reassembled from a stream."""
    chunks = list(client.chat.completions.create(model="scripted", stream=True, **kw))
    content, calls, finish = reassemble(chunks)
    return content, calls, finish, chunks


def test_single_call(client):
    r = client.chat.completions.create(model="scripted", messages=USER, tools=TOOLS)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [tc] = choice.message.tool_calls
    assert tc.type == "function" and tc.id.startswith("call_")
    assert tc.function.name == "get_weather"
    assert json.loads(tc.function.arguments) == {"city": "Paris"}
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0
    assert r.object == "chat.completion" and r.model == "scripted"


def test_parallel_calls(client):
    msgs = [{"role": "user", "content": "Weather and time in Paris and Rome?"}]
    r = client.chat.completions.create(model="scripted", messages=msgs, tools=TOOLS)
    calls = [(c.function.name, json.loads(c.function.arguments)["city"]) for c in r.choices[0].message.tool_calls]
    assert calls == [("get_weather", "Paris"), ("get_time", "Paris"), ("get_weather", "Rome"), ("get_time", "Rome")]
    assert len({c.id for c in r.choices[0].message.tool_calls}) == 4


def test_parallel_tool_calls_false_gives_one_call(client):
    msgs = [{"role": "user", "content": "Weather and time in Paris and Rome?"}]
    r = client.chat.completions.create(model="scripted", messages=msgs, tools=TOOLS, parallel_tool_calls=False)
    assert [c.function.name for c in r.choices[0].message.tool_calls] == ["get_weather"]


def test_no_call_turn(client):
    r = client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "Hi from Oslo"}],
                                       tools=TOOLS)
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.tool_calls is None
    assert r.choices[0].message.content == "Hello! Nothing to look up about Oslo."


@pytest.mark.parametrize("choice,expected", [
    ("auto", ["get_weather"]),
    ("none", []),
    ("required", ["get_weather"]),
    ({"type": "function", "function": {"name": "get_time"}}, ["get_time"]),
])
def test_tool_choice_modes(client, engine, choice, expected):
    r = client.chat.completions.create(model="scripted", messages=USER, tools=TOOLS, tool_choice=choice)
    names = [c.function.name for c in r.choices[0].message.tool_calls or []]
    assert names == expected
    assert r.choices[0].finish_reason == ("tool_calls" if expected else "stop")
    sent = engine.requests[-1].tool_choice
    assert sent == (choice if isinstance(choice, str) else choice["function"]["name"])
    if not expected:
        assert r.choices[0].message.content == "No tool needed for Paris."


@pytest.mark.parametrize("choice,expected", [
    ("auto", ["get_weather"]),
    ("none", []),
    ("required", ["get_weather"]),
    ({"type": "function", "function": {"name": "get_time"}}, ["get_time"]),
])
def test_tool_choice_modes_streaming(client, choice, expected):
    content, calls, finish, _ = stream_turn(client, messages=USER, tools=TOOLS, tool_choice=choice)
    assert [c["name"] for c in calls] == expected
    assert finish == ("tool_calls" if expected else "stop")
    for c in calls:
        assert json.loads(c["arguments"]) == {"city": "Paris"}
    assert (content is None) == bool(expected)


def test_stream_shape_is_what_the_agents_sdk_reads(client):
    msgs = [{"role": "user", "content": "Weather in Paris and Rome?"}]
    content, calls, finish, chunks = stream_turn(client, messages=msgs, tools=TOOLS,
                                                 stream_options={"include_usage": True})
    assert chunks[0].choices[0].delta.role == "assistant"
    assert content is None and finish == "tool_calls"
    assert [json.loads(c["arguments"]) for c in calls] == [{"city": "Paris"}, {"city": "Rome"}]
    deltas = [tc for ch in chunks if ch.choices for tc in ch.choices[0].delta.tool_calls or []]
    for index in (0, 1):
        mine = [tc for tc in deltas if tc.index == index]
        head, rest = mine[0], mine[1:]
        assert head.id and head.type == "function" and head.function.name == "get_weather"
        assert head.function.arguments == ""
        assert len(rest) > 1, "arguments arrive in several fragments"
        assert all(tc.id is None and tc.function.name is None for tc in rest)
    # the finish chunk comes last among choice chunks, then the usage chunk
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


def test_stream_content_turn_and_done_marker(base_url):
    import httpx

    body = {"model": "scripted", "stream": True, "messages": [{"role": "user", "content": "Hi from Oslo"}]}
    with httpx.stream("POST", base_url + "/chat/completions", json=body, timeout=10) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in r.iter_lines() if ln]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(ln[6:]) for ln in lines[:-1]]
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert text == "No tool needed for Oslo."
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in e for e in events)


def test_multi_turn_with_tool_result(client):
    first = client.chat.completions.create(model="scripted", messages=USER, tools=TOOLS)
    tc = first.choices[0].message.tool_calls[0]
    msgs = USER + [
        {"role": "assistant", "content": None, "tool_calls": [tc.model_dump()]},
        {"role": "tool", "tool_call_id": tc.id, "content": "18C and sunny"},
    ]
    r = client.chat.completions.create(model="scripted", messages=msgs, tools=TOOLS)
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.content == "Done: 18C and sunny"


def test_sampling_params_reach_the_engine(client, engine):
    client.chat.completions.create(model="scripted", messages=USER, tools=TOOLS, temperature=0.5, top_p=0.9,
                                   max_completion_tokens=50, stop=["END"], seed=7)
    s = engine.requests[-1].sampling
    assert (s.temperature, s.top_p, s.max_tokens, s.stop, s.seed) == (0.5, 0.9, 50, ["END"], 7)
    client.chat.completions.create(model="scripted", messages=USER, max_tokens=20, stop="X")
    s = engine.requests[-1].sampling
    assert (s.temperature, s.max_tokens, s.stop) == (0.0, 20, ["X"]), "greedy unless the request says otherwise"
    assert engine.requests[-1].constrained is True


def test_response_format_is_passed_on(client, engine):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    client.chat.completions.create(model="scripted", messages=USER, response_format={
        "type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}})
    assert engine.requests[-1].response_format == {
        "type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}}
    client.chat.completions.create(model="scripted", messages=USER, response_format={"type": "json_object"})
    assert engine.requests[-1].response_format == {"type": "json_object"}


def test_unknown_fields_are_accepted_and_logged(client, caplog):
    caplog.set_level("INFO", logger="tooltune.serve")
    r = client.chat.completions.create(model="scripted", messages=USER, tools=TOOLS, store=True,
                                       metadata={"k": "v"}, logprobs=False,
                                       extra_body={"frobnicate": 3, "top_k": 5})
    assert r.choices[0].message.tool_calls
    lines = [rec.getMessage() for rec in caplog.records if "ignoring" in rec.getMessage()]
    assert lines and all(f in lines[-1] for f in ("frobnicate", "top_k", "store", "metadata", "logprobs"))


def test_models_and_health(client, server):
    import httpx

    assert sorted(m.id for m in client.models.list()) == ["echo", "scripted"]
    assert client.models.retrieve("echo").id == "echo"
    assert httpx.get(server + "/health").json() == {"status": "ok", "models": ["scripted", "echo"]}


def test_model_field_picks_the_engine(client):
    r = client.chat.completions.create(model="echo", messages=USER)
    assert r.choices[0].message.content == "I am echo." and r.model == "echo"


def test_async_client_plain_and_streaming(base_url):
    async def go():
        client = AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
        r = await client.chat.completions.create(model="scripted", messages=USER, tools=TOOLS)
        assert r.choices[0].message.tool_calls[0].function.name == "get_weather"
        args, names = "", []
        stream = await client.chat.completions.create(model="scripted", messages=USER, tools=TOOLS, stream=True)
        async for ch in stream:
            for tc in ch.choices[0].delta.tool_calls or [] if ch.choices else []:
                names += [tc.function.name] if tc.function.name else []
                args += tc.function.arguments or ""
        assert names == ["get_weather"] and json.loads(args) == {"city": "Paris"}
        await client.close()

    asyncio.run(go())


def test_sixteen_concurrent_clients(base_url, engine):
    cities = ["Paris", "Rome", "Oslo", "Lima", "Cairo", "Tokyo", "Delhi", "Quito",
              "Dakar", "Hanoi", "Seoul", "Sofia", "Minsk", "Riga", "Baku", "Doha"]

    async def one(city: str, i: int):
        client = AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
        msgs = [{"role": "user", "content": f"Weather in {city}?"}]
        try:
            if i % 2:
                r = await client.chat.completions.create(model="scripted", messages=msgs, tools=TOOLS)
                return r.choices[0].message.tool_calls[0].function.arguments
            args = ""
            async for ch in await client.chat.completions.create(model="scripted", messages=msgs, tools=TOOLS,
                                                                  stream=True):
                for tc in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
                    args += tc.function.arguments or ""
            return args
        finally:
            await client.close()

    async def go():
        return await asyncio.gather(*(one(c, i) for i, c in enumerate(cities)))

    results = asyncio.run(go())
    assert [json.loads(a) for a in results] == [{"city": c} for c in cities]
