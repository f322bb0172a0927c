"""The Agents SDK agent on our server with a scripted model: real HTTP, real Task API, the
database state checked after each run."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import httpx
from agents import Runner
from typer.testing import CliRunner

from tooltune.agent.chat import run_turn
from tooltune.agent.cli import app as agent_cli
from tooltune.agent.model import build_agent, run_config
from tooltune.agent.tools import TaskTools, catalog
from tooltune.engine.scripted import ScriptedEngine


def call(name: str, **args) -> str:
    return '<tool_call>{"name":"%s","arguments":%s}</tool_call>' % (name, json.dumps(args, separators=(",", ":")))


def tasks(api) -> list[dict]:
    return httpx.get(api.url + "/tasks").json()["data"]


def test_runner_run_creates_the_task(model_server, taskapi):
    engine = ScriptedEngine([call("create_task", title="renew passport", priority="high"),
                             'Created task 1 "renew passport", high priority.'], name="tuned")
    agent = build_agent(TaskTools(taskapi.url), base_url=model_server(engine), today=dt.date(2026, 3, 4))
    result = asyncio.run(Runner.run(agent, "add a high-priority task to renew my passport", run_config=run_config()))

    assert [(t["title"], t["priority"], t["status"]) for t in tasks(taskapi)] == [("renew passport", "high", "open")]
    assert result.final_output == 'Created task 1 "renew passport", high priority.'
    first, second = engine.requests
    assert first.messages[0].role == "system" and first.messages[0].content == "Today is 2026-03-04 (Wednesday)."
    assert [t.model_dump() for t in first.tools] == [t.model_dump() for t in catalog()]  # the catalog, unchanged
    assert second.messages[-1].role == "tool"
    assert second.messages[-1].content == '{"id":1,"title":"renew passport","priority":"high","status":"open"}'


def test_error_result_lets_the_model_correct_itself(model_server, taskapi):
    httpx.post(taskapi.url + "/tasks", json={"title": "call the dentist"})

    def script(req) -> str:
        last = req.messages[-1]
        if last.role == "user":
            return call("complete_task", task_id=42)
        if "not found" in last.content:
            return call("list_tasks", status="open")
        if '"tasks"' in last.content:
            task_id = json.loads(last.content)["tasks"][0]["id"]
            return call("complete_task", task_id=task_id)
        return "Marked it as done."

    engine = ScriptedEngine(script)
    agent = build_agent(TaskTools(taskapi.url), base_url=model_server(engine), model="scripted")
    result = asyncio.run(Runner.run(agent, "I called the dentist (task 42?), mark it done", run_config=run_config()))

    assert [t["status"] for t in tasks(taskapi)] == ["done"]
    tool_results = [m.content for m in engine.requests[-1].messages if m.role == "tool"]
    assert tool_results[0] == '{"error":"task 42 not found"}'
    assert result.final_output == "Marked it as done."


def test_parallel_calls_in_one_turn(model_server, taskapi):
    engine = ScriptedEngine([call("create_task", title="wash the car") + "\n" + call("create_task", title="pay rent"),
                             "Added both."])
    agent = build_agent(TaskTools(taskapi.url), base_url=model_server(engine), model="scripted")
    asyncio.run(Runner.run(agent, "add: wash the car, pay rent", run_config=run_config()))
    assert sorted(t["title"] for t in tasks(taskapi)) == ["pay rent", "wash the car"]


def test_streamed_turn_reports_calls_and_results_in_order(model_server, taskapi):
    engine = ScriptedEngine([call("create_task", title="x", due_date="2026-02-30"),
                             call("create_task", title="x", due_date="2026-02-28"), "Added x."])
    agent = build_agent(TaskTools(taskapi.url), base_url=model_server(engine), model="scripted")
    events = []
    loop = asyncio.new_event_loop()  # one loop per conversation: the client's connections live in it
    turn = loop.run_until_complete(run_turn(agent, [], "add x due Feb 30", on_event=lambda *e: events.append(e)))
    assert [(kind, name) for kind, name, _ in events] == [("call", "create_task"), ("result", "create_task")] * 2
    assert "not a real calendar date" in json.loads(events[1][2])["error"]
    assert [t["due_date"] for t in tasks(taskapi)] == ["2026-02-28"]
    assert turn.final_output == "Added x."
    # The history carries the whole exchange into the next turn.
    engine._queue.append("You have 1 task.")
    loop.run_until_complete(run_turn(agent, turn.history, "how many?"))
    loop.close()
    roles = [m.role for m in engine.requests[-1].messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant", "user"]


def test_cli_one_message(model_server, taskapi):
    url = model_server(ScriptedEngine([call("create_task", title="renew passport", priority="high"), "Done."]))
    result = CliRunner().invoke(agent_cli, ["add a high-priority task to renew my passport", "--base-url", url,
                                            "--taskapi-url", taskapi.url, "--today", "2026-03-04"])
    assert result.exit_code == 0, result.output
    assert '→ create_task({"title":"renew passport","priority":"high"})' in result.output
    assert '← create_task: {"id":1,"title":"renew passport","priority":"high","status":"open"}' in result.output
    assert result.output.rstrip().endswith("Done.")
    assert [t["title"] for t in tasks(taskapi)] == ["renew passport"]


def test_cli_interactive_chat_keeps_history(model_server, taskapi):
    engine = ScriptedEngine([call("create_task", title="book flights"), "Added.",
                             call("complete_task", task_id=1), "Marked done."])
    url = model_server(engine)
    result = CliRunner().invoke(agent_cli, ["--base-url", url, "--taskapi-url", taskapi.url],
                                input="add a task to book flights\nI booked them, mark it done\n\n")
    assert result.exit_code == 0, result.output
    assert "Added." in result.output and "Marked done." in result.output
    assert [(t["title"], t["status"]) for t in tasks(taskapi)] == [("book flights", "done")]
    assert [m.role for m in engine.requests[-2].messages][:4] == ["system", "user", "assistant", "tool"]


def test_cli_bad_server_is_a_one_line_error(taskapi):
    result = CliRunner().invoke(agent_cli, ["hi", "--base-url", "http://127.0.0.1:9/v1", "--taskapi-url", taskapi.url])
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot reach the model server") and "Traceback" not in result.output
