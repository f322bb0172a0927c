"""The engine interface: a rendered-and-constrained text generator that knows nothing of HTTP.

The engine renders the request with its model's prompt format, applies the decoding
constraint implied by ``tool_choice`` / ``response_format``, and streams raw model text.
Parsing that text into content and tool calls is the caller's job (``core.format``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Literal, Protocol, Sequence, Union

from tooltune.core.types import Message, Tool

ToolChoice = Union[Literal["auto", "none", "required"], str]
"""``auto`` | ``none`` | ``required`` | the name of one declared tool (forced)."""


class EngineError(Exception):
    """A request the engine cannot serve; the message is safe to show to the client."""


class ContextTooLong(EngineError):
    """The prompt plus the requested completion does not fit the model's context."""


@dataclass
class SamplingParams:
    temperature: float = 0.0
    """0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    max_tokens: int | None = None
    """Completion token limit (None: up to the context limit)."""
    stop: list[str] = field(default_factory=list)
    """Extra stop strings; the model's end-of-turn token always stops."""
    seed: int | None = None
    """Makes sampling reproducible."""


@dataclass
class GenerationRequest:
    messages: Sequence[Message]
    """The conversation so far."""
    tools: Sequence[Tool] = ()
    """Declared tools (rendered into the system prompt)."""
    tool_choice: ToolChoice = "auto"
    """Whether the model may, must, or must not call a tool, or which one it must call."""
    parallel_tool_calls: bool = True
    """Allow more than one call in the turn."""
    response_format: dict[str, Any] | None = None
    """OpenAI response_format: {"type": "json_object"} or {"type": "json_schema", "json_schema": {...}}."""
    sampling: SamplingParams = field(default_factory=SamplingParams)
    """How to pick tokens."""
    constrained: bool = True
    """Apply grammar constraints (tool-call JSON valid against the schemas)."""


@dataclass
class EngineDelta:
    text: str
    """Newly generated text (never contains the end-of-turn marker)."""


@dataclass
class EngineFinal:
    finish_reason: Literal["stop", "length"]
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    """Prompt tokens served from the prefix cache."""
    time_to_first_token_s: float = 0.0
    total_s: float = 0.0


class Engine(Protocol):
    """What the server and the evaluator need from a model."""

    name: str
    max_context: int

    def generate(self, request: GenerationRequest) -> AsyncIterator[EngineDelta | EngineFinal]:
        """Stream deltas, then exactly one EngineFinal. Raises EngineError before the first
        delta for requests it cannot serve (unknown forced tool, context too long)."""
        ...
