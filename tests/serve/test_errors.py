"""Bad input, auth, timeouts and engine failures: the right status, OpenAI's error shape, and a
server that keeps answering."""

from __future__ import annotations

import asyncio
import threading

import httpx
import openai
import pytest
from openai import OpenAI

from tooltune.engine.base import ContextTooLong, EngineDelta, EngineFinal
from tooltune.engine.scripted import ScriptedEngine
from tooltune.serve import create_app
from tooltune.serve.background import serve_in_thread

from .conftest import TOOLS

USER = [{"role": "user", "content": "What is the weather in Paris?"}]


def post(url: str, body=None, content: bytes | None = None, **kw) -> httpx.Response:
    if content is not None:
        return httpx.post(url + "/v1/chat/completions", content=content,
                          headers={"content-type": "application/json", **kw.pop("headers", {})}, timeout=10, **kw)
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=10, **kw)


def assert_error(r: httpx.Response, status: int, *words: str, param: str | None = None, code: str | None = None):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    err = body["error"]
    assert isinstance(err["message"], str) and err["message"]
    for w in words:
        assert w in err["message"], err["message"]
    if param is not None:
        assert err["param"] == param
    if code is not None:
        assert err["code"] == code
    assert "pydantic" not in r.text and "errors.pydantic.dev" not in r.text
    return err


BAD_REQUESTS = [
    # (body or raw bytes, words in the message, param)
    (b"{not json", ["not valid JSON"], None),
    (b"", ["empty"], None),
    (b"[1, 2]", ["JSON object"], None),
    ({"messages": USER}, ["model", "missing"], "model"),
    ({"model": "scripted"}, ["messages", "missing"], "messages"),
    ({"model": "scripted", "messages": []}, ["at least one message"], "messages"),
    ({"model": "scripted", "messages": "hello"}, ["messages", "list"], "messages"),
    ({"model": "scripted", "messages": [{"role": "wizard", "content": "x"}]}, ["messages[0].role"], "messages[0].role"),
    ({"model": "scripted", "messages": [{"content": "x"}]}, ["messages[0].role", "missing"], "messages[0].role"),
    ({"model": "scripted", "messages": USER, "temperature": "hot"}, ["temperature"], "temperature"),
    ({"model": "scripted", "messages": USER, "temperature": 7}, ["temperature", "2"], "temperature"),
    ({"model": "scripted", "messages": USER, "max_tokens": 0}, ["max_tokens"], "max_tokens"),
    ({"model": "scripted", "messages": USER, "stream": "yes please"}, ["stream"], "stream"),
    ({"model": "scripted", "messages": USER, "tools": [{"type": "function"}]}, ["tools[0].function"], None),
    ({"model": "scripted", "messages": USER, "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "array"}}}]}, ["tools[0].function.parameters", "object"], None),
    ({"model": "scripted", "messages": USER, "tools": TOOLS,
      "tool_choice": {"type": "function", "function": {"name": "launch_rocket"}}},
     ["launch_rocket", "get_weather"], "tool_choice"),
    ({"model": "scripted", "messages": USER, "tool_choice": "required"}, ["required", "tools"], "tool_choice"),
    ({"model": "scripted", "messages": USER, "tool_choice": "sometimes"}, ["tool_choice"], "tool_choice"),
    ({"model": "scripted", "messages": USER + [{"role": "tool", "tool_call_id": "call_nope", "content": "x"}]},
     ["call_nope", "no earlier"], "messages[1].tool_call_id"),
    ({"model": "scripted", "messages": [{"role": "tool", "content": "x"}]}, ["tool_call_id"], "messages[0]"),
    ({"model": "scripted", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     ["text content"], "messages[0].content"),
    ({"model": "scripted", "messages": USER, "n": 3}, ["n=1"], "n"),
    ({"model": "scripted", "messages": USER + [{"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{oops"}}]}]},
     ["not a JSON object"], "messages[1].tool_calls[0].function.arguments"),
    ({"model": "scripted", "messages": USER, "tools": [TOOLS[0], TOOLS[0]]}, ["more than once"], "tools"),
    ({"model": "scripted", "messages": USER, "response_format": {"type": "xml"}}, ["response_format"], None),
]


@pytest.mark.parametrize("body,words,param", BAD_REQUESTS)
def test_bad_requests_get_400_with_a_clear_message(server, body, words, param):
    r = post(server, content=body) if isinstance(body, bytes) else post(server, body)
    err = assert_error(r, 400, *words, param=param)
    assert err["type"] == "invalid_request_error"


def test_unknown_model_is_404(server):
    assert_error(post(server, {"model": "gpt-9", "messages": USER}), 404, "gpt-9", "scripted",
                 param="model", code="model_not_found")
    client = OpenAI(base_url=server + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-9", messages=USER)


def test_unknown_route_and_method(server):
    assert_error(httpx.get(server + "/v1/nothing"), 404)
    assert_error(httpx.get(server + "/v1/chat/completions"), 405)


def test_openai_client_sees_bad_request(server):
    client = OpenAI(base_url=server + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="scripted", messages=USER, tools=TOOLS,
                                       tool_choice={"type": "function", "function": {"name": "nope"}})
    assert e.value.status_code == 400 and "nope" in e.value.message


def test_api_key():
    app = create_app({"m": ScriptedEngine(lambda r: "hi")}, api_key="s3cret")
    with serve_in_thread(app) as url:
        body = {"model": "m", "messages": USER}
        assert_error(post(url, body), 401, "API key", code="invalid_api_key")
        assert_error(post(url, body, headers={"Authorization": "Bearer wrong"}), 401)
        assert_error(post(url, body, headers={"Authorization": "s3cret"}), 401)
        assert_error(httpx.get(url + "/v1/models"), 401)
        assert httpx.get(url + "/health").status_code == 200
        assert post(url, body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        with pytest.raises(openai.AuthenticationError):
            OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).models.list()
        good = OpenAI(base_url=url + "/v1", api_key="s3cret", max_retries=0)
        assert good.chat.completions.create(model="m", messages=USER).choices[0].message.content == "hi"


class Refuses:
    """An engine whose prompt never fits."""

    name = "small"
    max_context = 16

    async def generate(self, request):
        raise ContextTooLong("prompt is 40 tokens; with max_tokens 100 that exceeds the context of 16 tokens")
        yield  # pragma: no cover


class Slow:
    name = "slow"
    max_context = 4096

    async def generate(self, request):
        await asyncio.sleep(5)
        yield EngineDelta("late")
        yield EngineFinal("stop", 1, 1)


class Crashes:
    name = "crash"
    max_context = 4096

    def __init__(self, after: int = 0):
        self.after = after

    async def generate(self, request):
        for _ in range(self.after):
            yield EngineDelta("ok ")
        raise RuntimeError("boom")


@pytest.fixture(scope="module")
def trouble():
    app = create_app({"small": Refuses(), "slow": Slow(), "crash": Crashes(), "crash_late": Crashes(after=3),
                      "fine": ScriptedEngine(lambda r: "fine")}, request_timeout_s=0.3)
    with serve_in_thread(app) as url:
        yield url


@pytest.mark.parametrize("stream", [False, True])
def test_context_too_long_is_400(trouble, stream):
    r = post(trouble, {"model": "small", "messages": USER, "stream": stream})
    assert_error(r, 400, "exceeds the context", code="context_length_exceeded", param="messages")


@pytest.mark.parametrize("stream", [False, True])
def test_timeout_is_a_clean_error(trouble, stream):
    r = post(trouble, {"model": "slow", "messages": USER, "stream": stream})
    assert_error(r, 408, "timed out", code="timeout")
    assert r.headers["x-should-retry"] == "false"
    assert post(trouble, {"model": "fine", "messages": USER}).status_code == 200


@pytest.mark.parametrize("stream", [False, True])
def test_engine_crash_is_500_json_and_server_lives(trouble, stream):
    r = post(trouble, {"model": "crash", "messages": USER, "stream": stream})
    err = assert_error(r, 500)
    assert err["type"] == "server_error"
    assert post(trouble, {"model": "fine", "messages": USER}).json()["choices"][0]["message"]["content"] == "fine"


def test_crash_mid_stream_is_reported_in_band(trouble):
    client = OpenAI(base_url=trouble + "/v1", api_key="x", max_retries=0)
    got = ""
    with pytest.raises(openai.APIError) as e:
        for ch in client.chat.completions.create(model="crash_late", messages=USER, stream=True):
            got += ch.choices[0].delta.content or ""
    assert "internal server error" in str(e.value.message)
    assert got == "ok ok ok"
    assert post(trouble, {"model": "fine", "messages": USER}).status_code == 200


def test_queue_limit_gives_429_and_the_rest_are_served():
    class Gate:
        name = "gate"
        max_context = 4096

        def __init__(self):
            self.release = threading.Event()

        async def generate(self, request):
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            yield EngineDelta("done")
            yield EngineFinal("stop", 1, 1)

    gate = Gate()
    app = create_app({"m": gate}, max_concurrent=1, max_queue=2)
    with serve_in_thread(app) as url:
        async def go():
            async with httpx.AsyncClient(base_url=url, timeout=10) as c:
                tasks = [asyncio.create_task(c.post("/v1/chat/completions", json={"model": "m", "messages": USER}))
                         for _ in range(4)]
                await asyncio.sleep(0.5)  # one generating, two queued, the fourth turned away
                done = [t for t in tasks if t.done()]
                assert len(done) == 1
                r = done[0].result()
                assert_error(r, 429, "queued", code="queue_full")
                gate.release.set()
                return [await t for t in tasks if t not in done]

        statuses = [r.status_code for r in asyncio.run(go())]
    assert statuses == [200, 200, 200]


def test_the_transformers_engine_takes_eight_requests_at_once():
    """Ragged passes make each concurrent sequence cost only its tokens: the server lets 8 in."""
    from tooltune.engine.hf_engine import TransformersEngine
    from tooltune.serve.chat import ChatService

    class Bare(TransformersEngine):
        def __init__(self):  # no model: only the class's concurrency is read
            pass

    assert ChatService(Bare(), "m").slots == 8
    assert ChatService(Bare(), "m", max_concurrent=2).slots == 2
