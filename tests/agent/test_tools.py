"""The catalog tools against a live Task API in a thread: result shapes and errors as results."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from tooltune.agent.model import function_tools, instructions_for
from tooltune.agent.tools import TaskTools, catalog
from tooltune.taskapi import create_app
from tooltune.taskapi.background import BackgroundServer


@pytest.fixture
def api(tmp_path):
    with BackgroundServer(create_app(f"sqlite:///{tmp_path / 'tasks.db'}")) as server:
        yield server


def call(tools: TaskTools, name: str, args) -> str:
    return asyncio.run(tools.call(name, args if isinstance(args, str) else json.dumps(args)))


def test_result_shapes(api):
    tools = TaskTools(api.url)
    out = call(tools, "create_task", {"title": "renew passport", "priority": "high", "due_date": "2026-03-06"})
    assert out == '{"id":1,"title":"renew passport","due_date":"2026-03-06","priority":"high","status":"open"}'
    out = call(tools, "create_task", {"title": "buy milk", "description": "oat"})
    assert out == '{"id":2,"title":"buy milk","description":"oat","status":"open"}'
    assert call(tools, "update_task", {"task_id": 2, "title": "buy oat milk", "priority": "low"}) == (
        '{"id":2,"title":"buy oat milk","description":"oat","priority":"low","status":"open"}')
    assert call(tools, "complete_task", {"task_id": 1}) == (
        '{"id":1,"title":"renew passport","due_date":"2026-03-06","priority":"high","status":"done"}')
    listed = json.loads(call(tools, "list_tasks", {}))
    assert [t["id"] for t in listed["tasks"]] == [1, 2]
    assert json.loads(call(tools, "list_tasks", {"status": "all"})) == listed
    assert [t["id"] for t in json.loads(call(tools, "list_tasks", {"status": "open"}))["tasks"]] == [2]
    assert [t["id"] for t in json.loads(call(tools, "list_tasks", {"status": "done", "priority": "high"}))["tasks"]] == [1]
    assert call(tools, "list_tasks", {"priority": "medium"}) == '{"tasks":[]}'
    assert json.loads(call(tools, "complete_task", {"task_id": 1})) == {"error": "task 1 is already done"}
    assert call(tools, "delete_task", {"task_id": 2}) == '{"deleted":2}'
    assert [t["id"] for t in json.loads(call(tools, "list_tasks", {}))["tasks"]] == [1]


def test_due_dates_in_words_are_resolved_against_today(api):
    tools = TaskTools(api.url, today=dt.date(2026, 3, 4))  # a Wednesday
    assert json.loads(call(tools, "create_task", {"title": "a", "due_date": "next Friday"}))["due_date"] == "2026-03-13"
    assert json.loads(call(tools, "update_task", {"task_id": 1, "due_date": "tomorrow"}))["due_date"] == "2026-03-05"
    assert json.loads(call(tools, "update_task", {"task_id": 1, "due_date": "in two weeks"}))["due_date"] == "2026-03-18"


@pytest.mark.parametrize(
    "name, args, words",
    [
        ("complete_task", {"task_id": 42}, "task 42 not found"),
        ("update_task", {"task_id": 42, "title": "x"}, "task 42 not found"),
        ("delete_task", {"task_id": 42}, "task 42 not found"),
        ("create_task", {"title": "x", "due_date": "2026-02-30"}, "not a real calendar date"),
        ("create_task", {"title": ""}, "title"),
        ("create_task", {"title": "x", "priority": "urgent"}, "priority"),
        ("create_task", {"title": "x", "due_date": "someday"}, "could not understand the due date 'someday'"),
        ("create_task", {"name": "x"}, "title"),
        ("update_task", {"title": "x"}, "task_id"),
        ("update_task", {"task_id": "one"}, "task_id"),
        ("list_tasks", {"status": "pending"}, "status"),
        ("create_task", "{not json", "not valid JSON"),
        ("create_task", "[1, 2]", "JSON object"),
        ("send_email", {}, "unknown tool"),
    ],
)
def test_errors_come_back_as_results(api, name, args, words):
    tools = TaskTools(api.url)
    out = call(tools, name, args)
    body = json.loads(out)
    assert list(body) == ["error"] and words in body["error"], out
    assert out == json.dumps(body, separators=(",", ":"))
    assert call(tools, "list_tasks", {}) == '{"tasks":[]}'  # nothing was written


def test_service_down_is_a_result_too():
    out = call(TaskTools("http://127.0.0.1:9", timeout=2), "list_tasks", {})
    assert json.loads(out)["error"].startswith("task service unavailable")


def test_api_key_is_sent(tmp_path):
    with BackgroundServer(create_app(f"sqlite:///{tmp_path / 'k.db'}", api_key="k")) as server:
        assert "API key" in json.loads(call(TaskTools(server.url), "list_tasks", {}))["error"]
        assert call(TaskTools(server.url, api_key="k"), "list_tasks", {}) == '{"tasks":[]}'


def test_function_tools_keep_the_catalog_schemas(api):
    tools = function_tools(TaskTools(api.url))
    assert [t.name for t in tools] == [t.name for t in catalog()]
    for ft, tool in zip(tools, catalog()):
        assert ft.params_json_schema == tool.function.parameters
        assert ft.description == tool.function.description
        assert ft.strict_json_schema is False
    create = tools[0]
    out = asyncio.run(create.on_invoke_tool(None, '{"title":"via the SDK tool"}'))
    assert json.loads(out)["title"] == "via the SDK tool"


def test_instructions_are_the_trained_system_line():
    assert instructions_for(dt.date(2026, 3, 4)) == "Today is 2026-03-04 (Wednesday)."
