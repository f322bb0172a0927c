"""Run cases against a model: in-process through the shared ``Engine``, or through any
OpenAI-compatible URL (our server, vLLM, Ollama, OpenAI) with the ``openai`` client.

Both stream, so time to first token is measured the same way, and both end in a
``Prediction`` that ``metrics`` scores identically. Requests run one at a time so latency
is per request, not per batch.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any, Callable, Sequence

from tooltune.core.format import parse_output
from tooltune.core.types import FunctionCall, Message, ToolCall, new_call_id
from tooltune.engine import EngineDelta, EngineError, EngineFinal, GenerationRequest, SamplingParams

from .cases import EvalCase
from .metrics import Prediction

Progress = Callable[[int], None]


def _progress_bar(total: int, label: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="turn", disable=not enabled, leave=False, dynamic_ncols=True)


# ---------------------------------------------------------------- in-process

async def predict_engine(engine: Any, case: EvalCase, constrained: bool = True, max_tokens: int = 512) -> Prediction:
    """One turn through ``engine``; the streamed text is parsed with ``core.format.parse_output``."""
    request = GenerationRequest(
        messages=case.messages, tools=case.tools, tool_choice="auto", parallel_tool_calls=True,
        sampling=SamplingParams(temperature=0.0, max_tokens=max_tokens), constrained=constrained,
    )
    parts: list[str] = []
    final: EngineFinal | None = None
    first: float | None = None
    start = time.perf_counter()
    try:
        async for event in engine.generate(request):
            if isinstance(event, EngineDelta):
                if first is None and event.text:
                    first = time.perf_counter() - start
                parts.append(event.text)
            elif isinstance(event, EngineFinal):
                final = event
    except EngineError as e:
        return Prediction(error=str(e), raw="".join(parts), total_s=time.perf_counter() - start)
    total = time.perf_counter() - start
    raw = "".join(parts)
    parsed = parse_output(raw)
    pred = Prediction(content=parsed.content, tool_calls=list(parsed.tool_calls), malformed=list(parsed.malformed),
                      raw=raw, ttft_s=first, total_s=total)
    if final is not None:
        # The engine's own clock excludes event-loop overhead; fall back to ours when it reports none.
        pred.ttft_s = final.time_to_first_token_s or first
        pred.total_s = final.total_s or total
        pred.prompt_tokens = final.prompt_tokens
        pred.completion_tokens = final.completion_tokens
        pred.finish_reason = final.finish_reason
    return pred


class Predictions(list):
    """The predictions of a run, in case order, and how long its untimed warm-up request took."""

    warmup_s: float | None = None


WARMUP_TOKENS = 8


def warmup_case(case: EvalCase) -> EvalCase:
    """An untimed first request: ``case``'s tools and system messages and a greeting. It pays the
    one-off costs (the tools block's prefill into the prefix cache, first-call allocations) that an
    agent pays once per server, not per turn, without caching any timed case's own prompt."""
    system = [m for m in case.messages if m.role == "system"][:1]
    return EvalCase(id="warmup", conversation_id="warmup", turn=0, category="warmup",
                    messages=system + [Message(role="user", content="Hello")], tools=case.tools)


async def _warm_up(predict: Callable[[EvalCase], Any], cases: Sequence[EvalCase]) -> float | None:
    if not cases:
        return None
    start = time.perf_counter()
    try:
        await predict(warmup_case(cases[0]))
    except Exception:  # noqa: BLE001 - a failed warm-up only leaves the first timed turn cold
        pass
    return time.perf_counter() - start


def run_engine(engine: Any, cases: Sequence[EvalCase], constrained: bool = True, max_tokens: int = 512,
               progress: bool = True, label: str = "eval", warmup: bool = False) -> Predictions:
    """Every case in order, one at a time; with ``warmup`` an untimed request goes first."""
    async def go() -> Predictions:
        out = Predictions()
        if warmup:
            out.warmup_s = await _warm_up(lambda c: predict_engine(engine, c, constrained, WARMUP_TOKENS), cases)
        with _progress_bar(len(cases), label, progress) as bar:
            for case in cases:
                out.append(await predict_engine(engine, case, constrained, max_tokens))
                bar.update(1)
        return out

    return asyncio.run(go())


# ---------------------------------------------------------------- OpenAI-compatible URL

def _merge_tool_deltas(acc: dict[int, dict[str, Any]], deltas: Any) -> None:
    for d in deltas or []:
        slot = acc.setdefault(d.index if d.index is not None else len(acc), {"id": None, "name": "", "arguments": ""})
        if d.id:
            slot["id"] = d.id
        fn = d.function
        if fn is not None:
            if fn.name:
                slot["name"] += fn.name
            if fn.arguments:
                slot["arguments"] += fn.arguments


def _prediction_from_stream(content: str, calls: dict[int, dict[str, Any]]) -> Prediction:
    # Servers that do not parse tool calls hand back the raw <tool_call> text: parse it the same way.
    parsed = parse_output(content)
    tool_calls = []
    malformed = list(parsed.malformed)
    for _, c in sorted(calls.items()):
        if not c["name"]:
            malformed.append("streamed tool call without a name")
            continue
        tool_calls.append(ToolCall(id=c["id"] or new_call_id(), function=FunctionCall(name=c["name"], arguments=c["arguments"] or "{}")))
    tool_calls += parsed.tool_calls
    raw = content + "".join(json.dumps({"name": c["name"], "arguments": c["arguments"]}) for _, c in sorted(calls.items()))
    return Prediction(content=parsed.content, tool_calls=tool_calls, malformed=malformed, raw=raw)


async def predict_url(client: Any, model: str, case: EvalCase, max_tokens: int = 512) -> Prediction:
    """One turn through an OpenAI-compatible chat completions endpoint, streamed."""
    kwargs: dict[str, Any] = {
        "model": model, "messages": [m.to_openai() for m in case.messages], "stream": True,
        "temperature": 0, "max_tokens": max_tokens, "stream_options": {"include_usage": True},
    }
    if case.tools:
        kwargs["tools"] = [t.model_dump() for t in case.tools]
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    first: float | None = None
    usage = None
    finish = None
    start = time.perf_counter()
    try:
        stream = await client.chat.completions.create(**kwargs)
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices or []:
                delta = choice.delta
                if first is None and delta is not None and (delta.content or delta.tool_calls):
                    first = time.perf_counter() - start
                if delta is not None:
                    if delta.content:
                        content.append(delta.content)
                    _merge_tool_deltas(calls, delta.tool_calls)
                if choice.finish_reason:
                    finish = choice.finish_reason
    except Exception as e:  # any client/server failure is this turn's failure, not the run's
        return Prediction(error=f"{type(e).__name__}: {e}", total_s=time.perf_counter() - start)
    pred = _prediction_from_stream("".join(content), calls)
    pred.ttft_s, pred.total_s, pred.finish_reason = first, time.perf_counter() - start, finish
    if usage is not None:
        pred.prompt_tokens, pred.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    return pred


def run_url(base_url: str, model: str, cases: Sequence[EvalCase], max_tokens: int = 512, progress: bool = True,
            api_key: str | None = None, label: str = "eval", timeout_s: float = 300.0, warmup: bool = False) -> Predictions:
    """Every case in order, one request at a time; with ``warmup`` an untimed request goes first."""
    from openai import AsyncOpenAI

    async def go() -> Predictions:
        client = AsyncOpenAI(base_url=base_url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
                             timeout=timeout_s, max_retries=0)
        out = Predictions()
        try:
            if warmup:
                out.warmup_s = await _warm_up(lambda c: predict_url(client, model, c, WARMUP_TOKENS), cases)
            with _progress_bar(len(cases), label, progress) as bar:
                for case in cases:
                    out.append(await predict_url(client, model, case, max_tokens))
                    bar.update(1)
        finally:
            await client.close()
        return out

    return asyncio.run(go())
