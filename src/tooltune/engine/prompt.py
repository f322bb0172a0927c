"""Request -> prompt token ids, shared by every engine: one rendering, one context check."""

from __future__ import annotations

import asyncio
from typing import Any

from tooltune.core.format import PromptFormat, render_prompt

from .base import ContextTooLong, EngineDelta, EngineError, EngineFinal, GenerationRequest
from .constraint import forced_tool


def prompt_ids(request: GenerationRequest, tokenizer: Any, fmt: PromptFormat, max_context: int) -> list[int]:
    """Render and tokenize ``request``; EngineError (ContextTooLong) before anything is generated."""
    forced_tool(request)
    prompt = render_prompt(request.messages, request.tools, fmt)
    ids = tokenizer.encode(prompt, add_special_tokens=False)
    want = request.sampling.max_tokens
    if want is not None and want < 1:
        raise EngineError("max_tokens must be at least 1")
    if len(ids) + (want or 1) > max_context:
        raise ContextTooLong(
            f"the prompt has {len(ids)} tokens"
            + (f" and max_tokens is {want}" if want else "")
            + f": more than this model's context of {max_context} tokens"
        )
    return ids


def generate_text(engine: Any, request: GenerationRequest) -> tuple[str, EngineFinal]:
    """Run ``engine.generate`` to the end (blocking): the whole output text and its final."""

    async def run() -> tuple[str, EngineFinal]:
        parts, final = [], None
        async for item in engine.generate(request):
            if isinstance(item, EngineDelta):
                parts.append(item.text)
            else:
                final = item
        return "".join(parts), final

    return asyncio.run(run())
