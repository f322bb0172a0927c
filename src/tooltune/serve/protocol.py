"""OpenAI Chat Completions wire format: request, response, streaming chunk, model list, error.

Requests accept OpenAI fields we do not implement (``logprobs``, ``store``, ``metadata``, ...)
and ignore them: ``ChatCompletionRequest.ignored_fields()`` names them for the log line.
Responses are built as pydantic models and dumped without ``None`` fields except where the
OpenAI clients expect an explicit ``null`` (assistant ``content``, ``finish_reason``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tooltune.core.types import Message, Tool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ---------------------------------------------------------------- request


class NamedFunction(_Strict):
    name: str = Field(description="The tool the model must call.")


class NamedToolChoice(_Strict):
    type: Literal["function"] = Field(description="Always 'function'.")
    function: NamedFunction = Field(description="Which function to force.")


class StreamOptions(_Strict):
    include_usage: bool = Field(default=False, description="Send a final chunk carrying token usage.")


class JsonSchemaSpec(_Strict):
    name: str = Field(default="response", description="Name of the schema (informational).")
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema", description="JSON Schema of the content.")
    strict: bool | None = Field(default=None, description="Accepted; the schema is always enforced when constraining.")

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"] = Field(description="text, json_object or json_schema.")
    json_schema: JsonSchemaSpec | None = Field(default=None, description="For type json_schema: the schema.")


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions`` body. Unknown fields are kept in ``model_extra`` (then ignored)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="Which served model answers.")
    messages: list[Message] = Field(description="The conversation so far (at least one message).")
    tools: list[Tool] | None = Field(default=None, description="Functions the model may call.")
    tool_choice: Union[Literal["auto", "none", "required"], NamedToolChoice, None] = Field(
        default=None, description="auto (default with tools), none, required, or a named function."
    )
    parallel_tool_calls: bool | None = Field(default=None, description="Allow several calls in one turn (default true).")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0,
                                      description="Sampling temperature; default 0 (greedy), unlike OpenAI's 1.")
    top_p: float | None = Field(default=None, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    max_tokens: int | None = Field(default=None, ge=1, description="Completion token limit (legacy name).")
    max_completion_tokens: int | None = Field(default=None, ge=1, description="Completion token limit.")
    stop: str | list[str] | None = Field(default=None, description="Up to 4 stop strings.")
    seed: int | None = Field(default=None, description="Makes sampling reproducible.")
    response_format: ResponseFormat | None = Field(default=None, description="text, json_object or json_schema.")
    stream: bool | None = Field(default=False, description="Stream chunks as server-sent events.")
    stream_options: StreamOptions | None = Field(default=None, description="include_usage for streams.")
    n: int | None = Field(default=None, ge=1, description="Number of choices; only 1 is supported.")
    user: str | None = Field(default=None, description="End-user id (accepted, unused).")

    @field_validator("messages")
    @classmethod
    def _non_empty(cls, v: list[Message]) -> list[Message]:
        if not v:
            raise ValueError("messages must contain at least one message")
        return v

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        return v

    def ignored_fields(self) -> list[str]:
        """Top-level fields the request sent that this server does not implement."""
        return sorted(self.model_extra or {})

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else [s for s in self.stop if s]

    def completion_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


# ---------------------------------------------------------------- response


class FunctionCallOut(BaseModel):
    name: str
    arguments: str


class ToolCallOut(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallOut


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: list[ToolCallOut] | None = None
    refusal: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length", "tool_calls"]
    logprobs: None = None


class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails = Field(default_factory=PromptTokensDetails)


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


class ChatCompletion(BaseModel):
    id: str = Field(default_factory=completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None


class FunctionDelta(BaseModel):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(BaseModel):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionDelta | None = None


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop", "length", "tool_calls"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None

    def sse(self) -> str:
        """One server-sent event; ``None`` fields are left out except ``finish_reason``,
        which the clients read on every chunk."""
        data = self.model_dump(exclude_none=True)
        for choice, raw in zip(self.choices, data.get("choices", [])):
            raw["finish_reason"] = choice.finish_reason
        return "data: " + _dumps(data) + "\n\n"


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=lambda: int(time.time()))
    owned_by: str = "tooltune"
    max_context: int | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# ---------------------------------------------------------------- errors


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class APIError(Exception):
    """An error the client should see, with its HTTP status and OpenAI error fields."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, retry: bool | None = None) -> None:
        super().__init__(message)
        self.status = status
        # ``x-should-retry`` is read by the openai clients: no point retrying what took this long.
        self.headers = {} if retry is None else {"x-should-retry": "true" if retry else "false"}
        self.body = ErrorResponse(error=ErrorBody(message=message, type=type, param=param, code=code))

    def sse(self) -> str:
        return "data: " + _dumps(self.body.model_dump()) + "\n\n"


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, "invalid_request_error", param, code)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
