"""The chat-completions service: OpenAI request -> engine -> validated content and tool calls.

Policies (the choices OpenAI leaves open, fixed here):

* ``temperature`` defaults to 0 (greedy): a tool-caller should be deterministic unless asked.
* Every tool call is checked (``core.validate.call_errors``: declared tool, JSON object,
  JSON Schema) and against ``tool_choice`` before any of it reaches the client, streaming
  included: a call is sent (id/name delta, then its argument fragments as generated) once its
  closing tag is in and it validated. Text of a broken call never appears in ``content``.
* A turn whose first call is broken, or that makes no call under ``tool_choice`` required or
  named, is generated again (``max_retries`` more times, new seed; greedy requests are retried
  at temperature ``RETRY_TEMPERATURE`` since greedy would repeat itself). Content already
  streamed stands; a retry's content is then dropped. A broken call after valid ones were sent
  is dropped (the valid ones stand). Truncation (``finish_reason: length``) is not retried:
  the same budget would truncate again; a cut-off call is simply dropped.
* When the retries are spent: ``tool_choice`` none drops the calls and answers with the
  content; otherwise the server answers 500 ``invalid_tool_call`` (OpenAI's own answer to
  "the model produced invalid content"), as an error event when the stream already started.
* ``parallel_tool_calls: false`` keeps the first valid call and drops the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Union

from tooltune.core.format import TOOL_CALL_OPEN, StreamingParser
from tooltune.core.types import FunctionCall, ToolCall
from tooltune.core.validate import call_errors
from tooltune.engine.base import (
    ContextTooLong,
    Engine,
    EngineDelta,
    EngineError,
    EngineFinal,
    GenerationRequest,
    SamplingParams,
)

from .protocol import (
    APIError,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCallOut,
    FunctionDelta,
    PromptTokensDetails,
    ToolCallDelta,
    ToolCallOut,
    Usage,
    bad_request,
    completion_id,
)

log = logging.getLogger("tooltune.serve")

DEFAULT_CONCURRENCY = 4
"""Requests per engine generating at once unless the engine or the caller says otherwise."""

RETRY_TEMPERATURE = 0.7
"""Temperature for retries of a greedy request (a greedy retry would repeat the same output)."""


# ---------------------------------------------------------------- request -> engine request


def to_generation_request(req: ChatCompletionRequest, constrained: bool) -> GenerationRequest:
    """Check what pydantic cannot (cross-field rules) and build the engine request; raises a
    400 ``APIError`` naming the offending field."""
    if req.n is not None and req.n != 1:
        raise bad_request("only n=1 is supported", param="n")
    tools = list(req.tools or [])
    names = [t.name for t in tools]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise bad_request(f"tools declares {', '.join(map(repr, dupes))} more than once", param="tools")

    choice: str
    if req.tool_choice is None:
        choice = "auto"
    elif isinstance(req.tool_choice, str):
        choice = req.tool_choice
    else:
        choice = req.tool_choice.function.name
        if choice not in names:
            raise bad_request(
                f"tool_choice names unknown tool {choice!r} (declared: {', '.join(names) or 'none'})",
                param="tool_choice",
            )
    if choice == "required" and not tools:
        raise bad_request("tool_choice 'required' needs at least one tool in 'tools'", param="tool_choice")

    seen_ids: set[str] = set()
    for i, m in enumerate(req.messages):
        if m.role == "assistant":
            seen_ids.update(c.id for c in m.tool_calls or [])
            for j, c in enumerate(m.tool_calls or []):
                try:
                    c.function.parsed_arguments()
                except ValueError:
                    raise bad_request(f"messages[{i}].tool_calls[{j}]: arguments are not a JSON object string",
                                      param=f"messages[{i}].tool_calls[{j}].function.arguments") from None
        elif m.role == "tool" and m.tool_call_id not in seen_ids:
            raise bad_request(
                f"messages[{i}]: tool result for tool_call_id {m.tool_call_id!r}, "
                "which no earlier assistant message called",
                param=f"messages[{i}].tool_call_id",
            )

    response_format = None
    if req.response_format is not None and req.response_format.type != "text":
        if req.response_format.type == "json_schema" and req.response_format.json_schema is None:
            raise bad_request("response_format json_schema needs a 'json_schema' object", param="response_format")
        response_format = req.response_format.model_dump(by_alias=True, exclude_none=True)

    sampling = SamplingParams(
        temperature=req.temperature if req.temperature is not None else 0.0,
        top_p=req.top_p if req.top_p is not None else 1.0,
        max_tokens=req.completion_limit(),
        stop=req.stop_list(),
        seed=req.seed,
    )
    return GenerationRequest(
        messages=req.messages,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=req.parallel_tool_calls if req.parallel_tool_calls is not None else True,
        response_format=response_format,
        sampling=sampling,
        constrained=constrained,
    )


def engine_error(e: EngineError) -> APIError:
    if isinstance(e, ContextTooLong):
        return bad_request(str(e), param="messages", code="context_length_exceeded")
    return bad_request(str(e))


# ---------------------------------------------------------------- validated output stream


@dataclass
class OutContent:
    text: str


@dataclass
class OutCall:
    index: int
    call: ToolCall
    fragments: list[str]
    """The arguments as the model generated them (they join to ``call.function.arguments``)."""


@dataclass
class OutDone:
    finish_reason: str
    usage: Usage


Out = Union[OutContent, OutCall, OutDone]


@dataclass
class _Invalid:
    reason: str
    truncated: bool = False


@dataclass
class _Pending:
    call_id: str
    name: str
    fragments: list[str] = field(default_factory=list)


def _call_problems(call: ToolCall, greq: GenerationRequest) -> list[str]:
    errors = call_errors(call, greq.tools)
    choice = greq.tool_choice
    if choice == "none":
        errors.append("tool_choice is 'none' but the model called a tool")
    elif choice not in ("auto", "required") and call.function.name != choice:
        errors.append(f"tool_choice forces {choice!r} but the model called {call.function.name!r}")
    return errors


async def _attempt(engine: Engine, greq: GenerationRequest) -> AsyncIterator[Union[OutContent, OutCall, _Invalid, EngineFinal]]:
    """One generation, parsed: content pieces, whole validated calls, broken calls, the final."""
    parser = StreamingParser(stream_arguments=greq.constrained)
    pending: dict[int, _Pending] = {}
    final: EngineFinal | None = None

    def handle(events: list, at_end: bool) -> list:
        out: list = []
        truncated = at_end and final is not None and final.finish_reason == "length"
        for e in events:
            if e.kind == "content":
                cut = e.text.find(TOOL_CALL_OPEN)  # only a rejected call block contains the tag
                if cut < 0:
                    out.append(OutContent(e.text))
                    continue
                if e.text[:cut].strip():
                    out.append(OutContent(e.text[:cut]))
                out.append(_Invalid("the model wrote a malformed tool call", truncated))
            elif e.kind == "call_start":
                pending[e.index] = _Pending(e.call_id, e.name)
            elif e.kind == "call_args":
                if e.index in pending:
                    pending[e.index].fragments.append(e.text)
            elif e.kind == "call_invalid":
                pending.pop(e.index, None)
                out.append(_Invalid("the model wrote a malformed tool call", truncated))
            elif e.kind == "call_end":
                p = pending.pop(e.index, None)
                if p is None:
                    continue
                frags = [f for f in p.fragments if f] or ["{}"]
                call = ToolCall(id=p.call_id, function=FunctionCall(name=p.name, arguments="".join(frags)))
                problems = _call_problems(call, greq)
                out.append(_Invalid("; ".join(problems), truncated) if problems else OutCall(-1, call, frags))
        return out

    async with contextlib.aclosing(engine.generate(greq)) as stream:
        async for item in stream:
            if isinstance(item, EngineDelta):
                for o in handle(parser.feed(item.text), at_end=False):
                    yield o
            elif isinstance(item, EngineFinal):
                final = item
    if final is None:
        raise EngineError("the engine ended without a final result")
    events, _ = parser.finish()
    for o in handle(events, at_end=True):
        yield o
    yield final


class ChatService:
    """Turns chat requests into validated output for one engine at a time per ``slots``."""

    def __init__(self, engine: Engine, name: str, constrained: bool = True, max_retries: int = 2,
                 max_queue: int = 64, max_concurrent: int | None = None) -> None:
        self.engine = engine
        self.name = name
        self.constrained = constrained
        self.max_retries = max_retries
        self.max_queue = max_queue
        # How many requests reach the engine at once (it batches them); the rest wait here.
        # An engine may say what suits it (``max_concurrency``); the server can override.
        self.slots = max(1, int(max_concurrent or getattr(engine, "max_concurrency", DEFAULT_CONCURRENCY)))
        self._sem: asyncio.Semaphore | None = None
        self._waiting = 0

    def _semaphore(self) -> asyncio.Semaphore:
        if self._sem is None:  # created inside the server's event loop
            self._sem = asyncio.Semaphore(self.slots)
        return self._sem

    @contextlib.asynccontextmanager
    async def _slot(self):
        if self._waiting >= self.max_queue:
            raise APIError(429, f"model {self.name!r} has {self._waiting} requests queued; retry later",
                           type="rate_limit_error", code="queue_full")
        self._waiting += 1
        sem = self._semaphore()
        try:
            await sem.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            sem.release()

    def _retry_request(self, greq: GenerationRequest, attempt: int) -> GenerationRequest:
        s = greq.sampling
        seed = (s.seed if s.seed is not None else random.randrange(2**31)) + attempt
        temp = s.temperature if s.temperature > 0 else RETRY_TEMPERATURE
        sampling = SamplingParams(temperature=temp, top_p=s.top_p, max_tokens=s.max_tokens, stop=list(s.stop), seed=seed)
        return GenerationRequest(messages=greq.messages, tools=greq.tools, tool_choice=greq.tool_choice,
                                 parallel_tool_calls=greq.parallel_tool_calls, response_format=greq.response_format,
                                 sampling=sampling, constrained=greq.constrained)

    async def run(self, greq: GenerationRequest) -> AsyncIterator[Out]:
        """Validated output of one turn, retries included; ends with ``OutDone``.

        Raises ``APIError`` (before anything was yielded when it can: engine refusals, a
        turn whose every attempt failed)."""
        async with self._slot():
            sent_content = False
            sent_calls = 0
            completion_tokens = 0
            final: EngineFinal | None = None
            last_final: EngineFinal | None = None
            failure: str | None = None
            forced = greq.tool_choice not in ("auto", "none")
            for attempt in range(1 + self.max_retries):
                req = greq if attempt == 0 else self._retry_request(greq, attempt)
                failure = None
                final = None
                content_this_attempt = False
                try:
                    async with contextlib.aclosing(_attempt(self.engine, req)) as items:
                        async for item in items:
                            if isinstance(item, OutContent):
                                if attempt > 0 and sent_content and not content_this_attempt:
                                    continue  # the first attempt's content already went out
                                content_this_attempt = True
                                sent_content = True
                                yield item
                            elif isinstance(item, OutCall):
                                if not greq.parallel_tool_calls and sent_calls >= 1:
                                    log.info("dropping extra call %s: parallel_tool_calls is false", item.call.name)
                                    continue
                                item.index = sent_calls
                                sent_calls += 1
                                yield item
                            elif isinstance(item, _Invalid):
                                log.warning("attempt %d: invalid tool call: %s", attempt + 1, item.reason)
                                last = attempt == self.max_retries
                                if item.truncated or sent_calls > 0 or (greq.tool_choice == "none" and last):
                                    continue  # nothing to gain from a retry, or too late for one: drop it
                                failure = item.reason
                                break
                            elif isinstance(item, EngineFinal):
                                final = item
                except EngineError as e:
                    if sent_content or sent_calls:  # it failed mid-answer: not the request's fault
                        raise APIError(500, f"generation failed: {e}", type="server_error") from e
                    raise engine_error(e) from e
                if final is not None:
                    completion_tokens += final.completion_tokens
                    last_final = final
                if failure is None and forced and sent_calls == 0:
                    if final is not None and final.finish_reason == "length":
                        break
                    failure = f"tool_choice {greq.tool_choice!r} but the model made no valid tool call"
                if failure is None:
                    break
            if failure is not None:
                raise APIError(
                    500,
                    f"The model produced an invalid tool call in {1 + self.max_retries} attempts: {failure}",
                    type="server_error",
                    code="invalid_tool_call",
                    retry=False,
                )
            assert last_final is not None
            final = last_final
            if final.finish_reason == "length":
                reason = "length"
            else:
                reason = "tool_calls" if sent_calls else "stop"
            usage = Usage(
                prompt_tokens=final.prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=final.prompt_tokens + completion_tokens,
                prompt_tokens_details=PromptTokensDetails(cached_tokens=final.cached_tokens),
            )
            yield OutDone(reason, usage)


# ---------------------------------------------------------------- output -> OpenAI responses


async def with_deadline(items: AsyncIterator[Out], deadline: float, timeout_s: float) -> AsyncIterator[Out]:
    """``items`` with every step bounded by ``deadline`` (loop time); a 408 error past it."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            left = deadline - loop.time()
            try:
                item = await asyncio.wait_for(items.__anext__(), max(left, 0.001))
            except StopAsyncIteration:
                return
            except asyncio.TimeoutError:
                raise APIError(408, f"request timed out after {timeout_s:g} s", type="timeout_error",
                               code="timeout", retry=False) from None
            yield item
    finally:
        await items.aclose()


async def complete(items: AsyncIterator[Out], model: str) -> ChatCompletion:
    content: list[str] = []
    calls: list[ToolCallOut] = []
    done: OutDone | None = None
    async for item in items:
        if isinstance(item, OutContent):
            content.append(item.text)
        elif isinstance(item, OutCall):
            calls.append(ToolCallOut(id=item.call.id, function=FunctionCallOut(
                name=item.call.function.name, arguments=item.call.function.arguments)))
        else:
            done = item
    assert done is not None
    text = "".join(content).strip() or None
    message = AssistantMessage(content=text, tool_calls=calls or None)
    return ChatCompletion(model=model, choices=[Choice(message=message, finish_reason=done.finish_reason)],
                          usage=done.usage)


class ChunkWriter:
    """Server-sent events in the shape the OpenAI clients and the Agents SDK read."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.id = completion_id()
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage

    def _chunk(self, delta: Delta, finish_reason: str | None = None) -> str:
        return ChatCompletionChunk(id=self.id, created=self.created, model=self.model,
                                   choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)]).sse()

    def role(self) -> str:
        return self._chunk(Delta(role="assistant", content=""))

    def item(self, item: Out) -> list[str]:
        if isinstance(item, OutContent):
            return [self._chunk(Delta(content=item.text))]
        if isinstance(item, OutCall):
            head = ToolCallDelta(index=item.index, id=item.call.id, type="function",
                                 function=FunctionDelta(name=item.call.function.name, arguments=""))
            out = [self._chunk(Delta(tool_calls=[head]))]
            for frag in item.fragments:
                out.append(self._chunk(Delta(tool_calls=[ToolCallDelta(index=item.index,
                                                                       function=FunctionDelta(arguments=frag))])))
            return out
        out = [self._chunk(Delta(), finish_reason=item.finish_reason)]
        if self.include_usage:
            out.append("data: " + ChatCompletionChunk(id=self.id, created=self.created, model=self.model,
                                                      choices=[], usage=item.usage).model_dump_json(exclude_none=True)
                       + "\n\n")
        return out
