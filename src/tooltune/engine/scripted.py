"""A scripted engine: replays prepared assistant outputs. For protocol and agent tests, and
for trying the server without a model."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Callable, Iterable

from .base import EngineDelta, EngineError, EngineFinal, GenerationRequest

Script = Callable[[GenerationRequest], str]


class ScriptedEngine:
    """Answers each request with the next scripted text (or what a function returns for it),
    streamed in ``chunk``-character pieces. The texts are raw model output, tool-call tags and all."""

    def __init__(self, outputs: Iterable[str] | Script, name: str = "scripted", chunk: int = 3,
                 max_context: int = 4096) -> None:
        self.name = name
        self.max_context = max_context
        self.chunk = chunk
        self._fn: Script | None = outputs if callable(outputs) else None
        self._queue = [] if callable(outputs) else list(outputs)
        self.requests: list[GenerationRequest] = []

    async def generate(self, request: GenerationRequest) -> AsyncIterator[EngineDelta | EngineFinal]:
        self.requests.append(request)
        if isinstance(request.tool_choice, str) and request.tool_choice not in ("auto", "none", "required"):
            if request.tool_choice not in {t.name for t in request.tools}:
                raise EngineError(f"tool_choice names unknown tool {request.tool_choice!r}")
        if self._fn is not None:
            text = self._fn(request)
        elif self._queue:
            text = self._queue.pop(0)
        else:
            raise EngineError("scripted engine has no more outputs")
        limit = request.sampling.max_tokens
        finish = "stop"
        if limit is not None and len(text) > limit * 4:
            text, finish = text[: limit * 4], "length"
        for i in range(0, len(text), self.chunk):
            await asyncio.sleep(0)
            yield EngineDelta(text[i : i + self.chunk])
        prompt_tokens = sum(len((m.content or "").split()) for m in request.messages) + 1
        yield EngineFinal(finish, prompt_tokens=prompt_tokens, completion_tokens=max(1, len(text) // 4))
