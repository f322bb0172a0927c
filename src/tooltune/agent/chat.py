"""One agent turn with live progress: each tool call and its result as it happens."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

Printer = Callable[[str, str, str], None]
"""Called with (kind, tool name, text): kind is "call" (text = arguments) or "result"."""


@dataclass
class TurnResult:
    final_output: str
    history: list[Any]
    """Input list for the next turn (the whole conversation so far)."""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    """(tool name, arguments JSON) in call order."""


def _raw(item: Any, key: str) -> Any:
    raw = getattr(item, "raw_item", None)
    return raw.get(key) if isinstance(raw, dict) else getattr(raw, key, None)


async def run_turn(agent: Any, history: list[Any], message: str, on_event: Printer | None = None,
                   max_turns: int = 8) -> TurnResult:
    """Send ``message`` after ``history`` and stream the run until the final answer."""
    from agents import Runner

    from .model import run_config

    inputs = [*history, {"role": "user", "content": message}]
    result = Runner.run_streamed(agent, inputs, max_turns=max_turns, run_config=run_config())
    calls: list[tuple[str, str]] = []
    names: dict[str, str] = {}
    async for event in result.stream_events():
        if event.type != "run_item_stream_event":
            continue
        if event.name == "tool_called":
            name, args = _raw(event.item, "name") or "?", _raw(event.item, "arguments") or "{}"
            names[_raw(event.item, "call_id") or ""] = name
            calls.append((name, args))
            if on_event:
                on_event("call", name, args)
        elif event.name == "tool_output" and on_event:
            name = names.get(_raw(event.item, "call_id") or "", "?")
            output = event.item.output
            on_event("result", name, output if isinstance(output, str) else json.dumps(output))
    return TurnResult(str(result.final_output or ""), result.to_input_list(), calls)
