"""OpenAI-shaped tools, tool calls and chat messages.

These models are the lingua franca of every stage: dataset lines, the server's
requests, and the evaluator's cases all hold them. They accept (and drop) unknown
fields so that real OpenAI payloads load unchanged.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["system", "developer", "user", "assistant", "tool"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FunctionDef(_Lenient):
    name: str = Field(description="Function name the model calls; letters, digits, '_' and '-'.")
    description: str = Field(default="", description="What the function does, shown to the model.")
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema of the arguments object.",
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "_-." for c in v):
            raise ValueError(f"invalid function name {v!r}: use letters, digits, '_', '-' or '.'")
        return v

    @field_validator("parameters")
    @classmethod
    def _object_schema(cls, v: dict[str, Any]) -> dict[str, Any]:
        if v.get("type", "object") != "object":
            raise ValueError("function parameters must be a JSON Schema of type 'object'")
        return v


class Tool(_Lenient):
    type: Literal["function"] = Field(default="function", description="Always 'function'.")
    function: FunctionDef = Field(description="The callable function's definition.")

    @property
    def name(self) -> str:
        return self.function.name


class FunctionCall(_Lenient):
    name: str = Field(description="Name of the called function.")
    arguments: str = Field(default="{}", description="Arguments as a JSON object string (OpenAI style).")

    @field_validator("arguments", mode="before")
    @classmethod
    def _dict_to_json(cls, v: Any) -> Any:
        # HF chat-template datasets carry arguments as dicts; OpenAI as JSON strings.
        if isinstance(v, dict):
            return dumps_args(v)
        return v

    def parsed_arguments(self) -> dict[str, Any]:
        """Arguments as a dict; raises ValueError when they are not a JSON object."""
        value = json.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError("tool-call arguments must be a JSON object")
        return value


class ToolCall(_Lenient):
    id: str = Field(default_factory=lambda: new_call_id(), description="Call id the tool result refers to.")
    type: Literal["function"] = Field(default="function", description="Always 'function'.")
    function: FunctionCall = Field(description="The function name and its arguments.")

    @property
    def name(self) -> str:
        return self.function.name


class Message(_Lenient):
    role: Role = Field(description="system, developer, user, assistant or tool.")
    content: str | None = Field(default=None, description="Text of the message (text parts are joined).")
    tool_calls: list[ToolCall] | None = Field(default=None, description="Calls made by an assistant turn.")
    tool_call_id: str | None = Field(default=None, description="For role 'tool': the call this answers.")
    name: str | None = Field(default=None, description="Optional author name (OpenAI field).")

    @field_validator("content", mode="before")
    @classmethod
    def _join_parts(cls, v: Any) -> Any:
        # OpenAI allows content as a list of parts; only text parts mean anything to a text model.
        if isinstance(v, list):
            texts = []
            for part in v:
                if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
                    texts.append(str(part.get("text", "")))
                elif isinstance(part, str):
                    texts.append(part)
                else:
                    raise ValueError("only text content parts are supported")
            return "".join(texts)
        return v

    @model_validator(mode="after")
    def _role_fields(self) -> "Message":
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a 'tool' message needs tool_call_id")
        if self.role != "assistant" and self.tool_calls:
            raise ValueError(f"only assistant messages carry tool_calls, not {self.role!r}")
        if self.tool_calls == []:
            self.tool_calls = None
        return self

    def to_openai(self) -> dict[str, Any]:
        """The message as an OpenAI API dict (no None fields except assistant content)."""
        out: dict[str, Any] = {"role": self.role}
        if self.role == "assistant":
            out["content"] = self.content
            if self.tool_calls:
                out["tool_calls"] = [tc.model_dump() for tc in self.tool_calls]
        else:
            out["content"] = self.content or ""
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out


class Conversation(_Lenient):
    """One dataset line: ``{"messages": [...], "tools": [...]}`` plus optional metadata."""

    messages: list[Message] = Field(description="The chat, in order.")
    tools: list[Tool] = Field(default_factory=list, description="Tools the assistant may call.")
    meta: dict[str, Any] = Field(default_factory=dict, description="Kind, template id, etc. (not rendered).")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "messages": [m.to_openai() for m in self.messages],
            "tools": [t.model_dump() for t in self.tools],
        }
        if self.meta:
            out["meta"] = self.meta
        return out


def dumps_args(args: dict[str, Any]) -> str:
    """Canonical argument JSON: compact, key order kept, unicode kept (what the model emits)."""
    return json.dumps(args, ensure_ascii=False, separators=(",", ":"))


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def make_call(name: str, arguments: dict[str, Any], call_id: str | None = None) -> ToolCall:
    return ToolCall(id=call_id or new_call_id(), function=FunctionCall(name=name, arguments=dumps_args(arguments)))
