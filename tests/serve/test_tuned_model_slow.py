"""Slow: the Agents SDK on the tuned embedded model, served through the real engine.

Needs a trained run (``tooltune train`` / ``make demo``): ``$TOOLTUNE_TUNED_MODEL``,
``/work/runs/default``, ``runs/default`` or ``runs/demo/model``."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tooltune.core.tools import load_tools
from tooltune.serve import create_app
from tooltune.serve.background import serve_in_thread

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = [os.environ.get("TOOLTUNE_TUNED_MODEL", ""), "/work/runs/default", str(ROOT / "runs/default"),
              str(ROOT / "runs/demo/model")]


def tuned_model() -> str:
    for c in CANDIDATES:
        if c and Path(c).is_dir():
            return c
    pytest.skip("no tuned model yet: train one (make demo) or set TOOLTUNE_TUNED_MODEL; looked in "
                + ", ".join(c for c in CANDIDATES if c))


@pytest.fixture(scope="module")
def url():
    from tooltune.engine import load_engine

    engine = load_engine(tuned_model(), name="tuned")
    with serve_in_thread(create_app({"tuned": engine}, request_timeout_s=300)) as base:
        yield base + "/v1"


def test_agent_run_and_streamed_on_the_tuned_model(url):
    import agents
    from agents import Agent, FunctionTool, ModelSettings, OpenAIChatCompletionsModel, Runner
    from openai import AsyncOpenAI

    agents.set_tracing_disabled(True)
    created: list[dict] = []
    spec = next(t for t in load_tools("taskapi") if t.name == "create_task").function

    async def create_task(ctx, args: str) -> str:
        created.append(json.loads(args))
        return json.dumps({"id": len(created), "status": "open", **created[-1]})

    tool = FunctionTool(name=spec.name, description=spec.description, params_json_schema=spec.parameters,
                        on_invoke_tool=create_task, strict_json_schema=False)
    model = OpenAIChatCompletionsModel(model="tuned", openai_client=AsyncOpenAI(base_url=url, api_key="x"))
    agent = Agent(name="tasks", instructions="You manage the user's tasks with the tools.", tools=[tool], model=model,
                  model_settings=ModelSettings(max_tokens=160))

    async def both():
        # One event loop for both runs: the AsyncOpenAI client's connections belong to it.
        plain = await Runner.run(agent, "Add a task: renew my passport.", max_turns=4)
        r = Runner.run_streamed(agent, "Create a task to call the dentist.", max_turns=4)
        kinds = [e.item.type async for e in r.stream_events() if e.type == "run_item_stream_event"]
        return plain, kinds

    result, kinds = asyncio.run(both())
    assert created and "passport" in created[0]["title"].lower()
    assert isinstance(result.final_output, str) and result.final_output.strip()
    assert "tool_call_item" in kinds and kinds[-1] == "message_output_item"
    assert "dentist" in created[-1]["title"].lower()
