import json
from typing import Literal, Optional

import pytest

from tooltune.core.tools import ToolsError, function_to_tool, load_tools, parse_tools
from tooltune.core.types import Conversation, Message, make_call
from tooltune.core.validate import call_errors, conversation_errors


def test_taskapi_catalog_contract():
    tools = {t.name: t.function.parameters for t in load_tools("taskapi")}
    assert list(tools) == ["create_task", "update_task", "complete_task", "list_tasks", "delete_task"]
    assert tools["create_task"]["required"] == ["title"]
    assert tools["create_task"]["properties"]["priority"]["enum"] == ["low", "medium", "high"]
    assert tools["list_tasks"]["properties"]["status"]["enum"] == ["open", "done", "all"]
    assert "required" not in tools["list_tasks"]
    for name in ("update_task", "complete_task", "delete_task"):
        assert tools[name]["properties"]["task_id"]["type"] == "integer"
        assert tools[name]["required"] == ["task_id"]
    assert all(p["additionalProperties"] is False for p in tools.values())


def test_load_tools_errors(tmp_path):
    with pytest.raises(ToolsError, match="not found"):
        load_tools(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ToolsError, match="not valid JSON"):
        load_tools(bad)
    with pytest.raises(ToolsError, match="duplicate"):
        parse_tools([{"name": "a"}, {"name": "a"}])
    with pytest.raises(ToolsError, match="tool #0"):
        parse_tools([{"name": "bad name!"}])


def test_bare_function_defs_and_wrapper_object_load():
    tools = parse_tools({"tools": [{"name": "ping", "description": "p"}]})
    assert tools[0].type == "function" and tools[0].function.parameters["type"] == "object"


def test_function_to_tool_uses_signature_and_docstring():
    def book_room(room: str, people: int, when: Optional[str] = None, kind: Literal["a", "b"] = "a") -> str:
        """Book a meeting room.

        Args:
            room: Room name.
            people: How many attend.
            when: ISO time; now if omitted.
        """
        return ""

    tool = function_to_tool(book_room)
    p = tool.function.parameters
    assert tool.function.description == "Book a meeting room."
    assert p["required"] == ["room", "people"]
    assert p["properties"]["people"] == {"type": "integer", "description": "How many attend."}
    assert p["properties"]["kind"]["enum"] == ["a", "b"]
    assert p["additionalProperties"] is False
    assert call_errors(make_call("book_room", {"room": "x", "people": 2}), [tool]) == []
    assert call_errors(make_call("book_room", {"room": "x"}), [tool])


def test_message_accepts_openai_shapes():
    m = Message.model_validate({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                                "unknown_field": 1})
    assert m.content == "ab"
    a = Message.model_validate({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]})
    assert a.tool_calls[0].function.arguments == '{"x":1}'
    with pytest.raises(ValueError):
        Message(role="tool", content="x")
    with pytest.raises(ValueError):
        Message.model_validate({"role": "user", "content": "x", "tool_calls": [{"function": {"name": "f"}}]})


def test_call_errors_cover_schema_rules():
    tools = load_tools("taskapi")
    assert call_errors(make_call("create_task", {"title": "a", "priority": "high"}), tools) == []
    assert "unknown tool" in call_errors(make_call("fly", {}), tools)[0]
    assert call_errors(make_call("create_task", {"priority": "high"}), tools)  # missing required
    assert call_errors(make_call("create_task", {"title": "a", "priority": "urgent"}), tools)  # enum
    assert call_errors(make_call("create_task", {"title": "a", "colour": "red"}), tools)  # additionalProperties
    assert call_errors(make_call("complete_task", {"task_id": "3"}), tools)  # type
    bad = make_call("create_task", {})
    bad.function.arguments = "[1]"
    assert "not a JSON object" in call_errors(bad, tools)[0]


def test_conversation_errors():
    tools = load_tools("taskapi")
    call = make_call("complete_task", {"task_id": 3})
    good = [Message(role="system", content="Today is 2026-01-01 (Thursday)."), Message(role="user", content="done 3"),
            Message(role="assistant", tool_calls=[call]), Message(role="tool", tool_call_id=call.id, content="{}"),
            Message(role="assistant", content="Done.")]
    assert conversation_errors(good, tools) == []
    orphan = good[:2] + [Message(role="tool", tool_call_id="nope", content="{}"), Message(role="assistant", content="x")]
    assert any("no earlier call" in e for e in conversation_errors(orphan, tools))
    unanswered = good[:3] + [Message(role="assistant", content="x")]
    assert any("unanswered" in e for e in conversation_errors(unanswered, tools))
    assert any("does not end" in e for e in conversation_errors(good[:2], tools))
    late_system = good[1:2] + good[:1] + good[2:]
    assert any("not at the start" in e for e in conversation_errors(late_system, tools))


def test_conversation_json_roundtrip():
    call = make_call("list_tasks", {"status": "open"})
    conv = Conversation(messages=[Message(role="user", content="list"), Message(role="assistant", tool_calls=[call])],
                        tools=load_tools("taskapi"), meta={"kind": "single"})
    again = Conversation.model_validate(json.loads(json.dumps(conv.to_json())))
    assert again.to_json() == conv.to_json()
