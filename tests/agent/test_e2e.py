"""The e2e runner with a scripted model: scoring is by the database state."""

from __future__ import annotations

import json

import httpx

from tooltune.agent.e2e import SCENARIOS, TODAY, run_suite
from tooltune.engine.scripted import ScriptedEngine


def call(name: str, **args) -> str:
    return '<tool_call>{"name":"%s","arguments":%s}</tool_call>' % (name, json.dumps(args, separators=(",", ":")))


def oracle(req) -> str:
    """A scripted 'model' that does the right thing for three scenarios, and one wrong thing."""
    last = req.messages[-1]
    if last.role == "tool":
        return "Done."
    text = last.content
    if text == "add a high-priority task to renew my passport":
        return call("create_task", title="renew passport", priority="high")
    if text == "Remind me to call the plumber tomorrow.":
        return call("create_task", title="call the plumber", due_date="2026-03-05")
    if text.startswith("Complete task "):
        return call("complete_task", task_id=int(text.split()[-1].rstrip(".")))
    if text.startswith("Sorry, I meant task "):
        return call("complete_task", task_id=int(text.split()[-1].rstrip(".")))
    if text == "Hi! What can you do?":
        return call("create_task", title="hi")  # wrong: this request needs no tool
    return "I can't help with that."


def test_suite_scores_by_database_state(model_server):
    url = model_server(ScriptedEngine(oracle, name="oracle"))
    names = ["create_high_priority", "relative_tomorrow", "unknown_id_then_corrected", "no_tool_greeting"]
    result = run_suite(url, only=names)
    rows = {r["name"]: r for r in result["scenarios"]}
    assert result["model"] == "oracle" and result["today"] == TODAY.isoformat() == "2026-03-04"
    assert result["total"] == 4 and result["passed"] == 3 and result["success_rate"] == 0.75
    assert rows["create_high_priority"]["passed"]
    assert rows["relative_tomorrow"]["passed"]
    assert rows["unknown_id_then_corrected"]["passed"]
    # The seeded ids are 1..4, the missing one 44; its error reached the model as a result.
    assert rows["unknown_id_then_corrected"]["messages"] == ["Complete task 44.", "Sorry, I meant task 3."]
    assert '  -> {"error":"task 44 not found"}' in rows["unknown_id_then_corrected"]["trace"]
    assert not rows["no_tool_greeting"]["passed"]
    assert "unexpected new task" in rows["no_tool_greeting"]["reason"]


def test_wrong_fields_and_collateral_damage_fail(model_server):
    def sloppy(req) -> str:
        if req.messages[-1].role == "tool":
            return "Done."
        # Right title, wrong date; and it also deletes an unrelated seeded task.
        return call("create_task", title="call the plumber", due_date="2026-03-06") + call("delete_task", task_id=2)

    url = model_server(ScriptedEngine(sloppy))
    row = run_suite(url, "scripted", only=["relative_tomorrow"])["scenarios"][0]
    assert not row["passed"]
    assert "due_date is '2026-03-06', expected '2026-03-05'" in row["reason"]
    assert "task 2 changed or deleted" in row["reason"]


def test_external_taskapi_is_wiped_and_ids_follow_it(model_server, taskapi):
    for i in range(5):  # pre-existing tasks: the suite wipes them, and seeded ids start at 6
        httpx.post(taskapi.url + "/tasks", json={"title": f"old {i}"})
    url = model_server(ScriptedEngine(lambda req: "Done." if req.messages[-1].role == "tool"
                                      else call("complete_task", task_id=7)))
    row = run_suite(url, "scripted", taskapi_url=taskapi.url, only=["complete_by_id"])["scenarios"][0]
    assert row["messages"] == ["Mark task 7 as done."]
    assert row["passed"], row["reason"]
    assert [t["title"] for t in httpx.get(taskapi.url + "/tasks").json()["data"]] == [s["title"] for s in SCENARIOS[0].seed]


def test_scenarios_are_many_and_distinct():
    assert len(SCENARIOS) >= 20 and len({s.name for s in SCENARIOS}) == len(SCENARIOS)
    assert sum(len(s.messages) > 1 for s in SCENARIOS) >= 3


def test_e2e_cli(model_server, tmp_path):
    from typer.testing import CliRunner

    from tooltune.agent.cli import app

    url = model_server(ScriptedEngine(oracle, name="oracle"))
    out = tmp_path / "e2e.json"
    result = CliRunner().invoke(app, ["e2e", "--base-url", url, "--only", "create_high_priority,no_tool_greeting",
                                      "--output", str(out)])
    assert result.exit_code == 1  # one scenario failed
    assert "PASS create_high_priority" in result.output and "FAIL no_tool_greeting" in result.output
    assert "e2e: 1/2 scenarios passed (50.0%)" in result.output
    assert json.loads(out.read_text())["passed"] == 1
