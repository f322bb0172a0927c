"""Runners: the in-process engine path and the OpenAI-compatible URL path give the same predictions."""

import asyncio
import json

import httpx
from openai import AsyncOpenAI

from tooltune.engine.scripted import ScriptedEngine
from tooltune.eval.cases import cases_from_conversation
from tooltune.eval.metrics import score_case
from tooltune.eval.runners import predict_engine, predict_url, run_engine

from .helpers import assistant, call, conv, user

CASE = cases_from_conversation(conv("parallel", user("complete 3 and 4"),
                                    assistant(calls=[call("complete_task", task_id=3), call("complete_task", task_id=4)])), "p")[0]
TEXT = ('<tool_call>{"name":"complete_task","arguments":{"task_id":4}}</tool_call>'
        '<tool_call>{"name":"complete_task","arguments":{"task_id":3}}</tool_call>')


def test_engine_path_parses_stream_and_records_timing():
    eng = ScriptedEngine([TEXT, "<tool_call>{bad</tool_call>"], chunk=5)
    preds = run_engine(eng, [CASE, CASE], constrained=False, max_tokens=64, progress=False)
    assert [c.function.name for c in preds[0].tool_calls] == ["complete_task", "complete_task"]
    assert preds[0].raw == TEXT and preds[0].finish_reason == "stop" and preds[0].completion_tokens > 0
    assert preds[0].ttft_s is not None and preds[0].total_s >= preds[0].ttft_s
    assert score_case(CASE, preds[0]).correct
    assert preds[1].malformed and not preds[1].tool_calls
    req = eng.requests[0]
    assert req.constrained is False and req.sampling.max_tokens == 64 and req.sampling.temperature == 0.0
    assert [t.name for t in req.tools] == [t.name for t in CASE.tools] and req.messages[-1].content == "complete 3 and 4"


def test_engine_error_becomes_a_failed_prediction():
    pred = asyncio.run(predict_engine(ScriptedEngine([]), CASE))
    assert pred.error and "no more outputs" in pred.error and not score_case(CASE, pred).correct


def _sse(chunks):
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())


def _chunk(delta=None, finish=None, usage=None):
    choices = [] if delta is None and finish is None else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": choices, "usage": usage}


def test_url_path_merges_streamed_tool_call_deltas():
    seen = {}

    def handler(request: httpx.Request):
        seen.update(json.loads(request.content))
        return _sse([
            _chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "a", "type": "function", "function": {"name": "complete_task", "arguments": ""}}]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"task_'}}]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'id":4}'}}]}),
            _chunk({"tool_calls": [{"index": 1, "id": "b", "type": "function", "function": {"name": "complete_task", "arguments": '{"task_id":3}'}}]}),
            _chunk(finish="tool_calls"),
            _chunk(usage={"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}),
        ])

    client = AsyncOpenAI(base_url="http://test/v1", api_key="x", http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    pred = asyncio.run(predict_url(client, "tuned", CASE, max_tokens=32))
    assert seen["stream"] is True and seen["model"] == "tuned" and seen["max_tokens"] == 32
    assert [t["function"]["name"] for t in seen["tools"]] == [t.name for t in CASE.tools]
    assert [c.function.arguments for c in pred.tool_calls] == ['{"task_id":4}', '{"task_id":3}']
    assert pred.completion_tokens == 20 and pred.finish_reason == "tool_calls" and pred.ttft_s is not None
    assert score_case(CASE, pred).correct


def test_url_path_parses_raw_tool_call_text_and_reports_server_errors():
    def raw(request):
        return _sse([_chunk({"content": '<tool_call>{"name":"complete_task","arguments":{"task_id":3,}}</tool_call>'}), _chunk(finish="stop")])

    client = AsyncOpenAI(base_url="http://test/v1", api_key="x", http_client=httpx.AsyncClient(transport=httpx.MockTransport(raw)))
    pred = asyncio.run(predict_url(client, "m", CASE))
    assert pred.malformed and score_case(CASE, pred).json_valid is False

    def down(request):
        return httpx.Response(500, json={"error": {"message": "boom"}})

    client = AsyncOpenAI(base_url="http://test/v1", api_key="x", max_retries=0,
                         http_client=httpx.AsyncClient(transport=httpx.MockTransport(down)))
    pred = asyncio.run(predict_url(client, "m", CASE))
    assert pred.error and "500" in pred.error


def test_warmup_request_goes_first_untimed_and_leaves_cases_alone():
    eng = ScriptedEngine(["Hi!", TEXT])
    preds = run_engine(eng, [CASE], constrained=False, max_tokens=64, progress=False, warmup=True)
    assert len(preds) == 1 and preds[0].raw == TEXT and preds.warmup_s is not None
    first = eng.requests[0]
    assert first.messages[-1].content == "Hello" and first.sampling.max_tokens == 8
    assert [t.name for t in first.tools] == [t.name for t in CASE.tools]
    assert eng.requests[1].messages[-1].content == "complete 3 and 4"
    assert run_engine(ScriptedEngine([TEXT]), [CASE], progress=False).warmup_s is None
