"""The real OpenAI Agents SDK runs unchanged on the server: Runner.run and Runner.run_streamed go
through a tool call and a final answer, via OpenAIChatCompletionsModel and via LitellmModel."""

from __future__ import annotations

import asyncio
import os

import pytest

agents = pytest.importorskip("agents")
from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, Runner, function_tool  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

from tooltune.engine.base import GenerationRequest  # noqa: E402
from tooltune.engine.scripted import ScriptedEngine  # noqa: E402
from tooltune.serve import create_app  # noqa: E402
from tooltune.serve.background import serve_in_thread  # noqa: E402

from .conftest import call_text  # noqa: E402

agents.set_tracing_disabled(True)

CALLS: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
        city: The city name.
    """
    CALLS.append(city)
    return f"18C and sunny in {city}"


def agent_script(req: GenerationRequest) -> str:
    """A tool-caller: call get_weather for the city in the question, then answer from the result."""
    last = req.messages[-1]
    if last.role == "tool":
        return f"The weather report says: {last.content}."
    assert [t.name for t in req.tools] == ["get_weather"]
    assert req.tools[0].function.parameters["properties"]["city"]["type"] == "string"
    city = (last.content or "").rstrip("?").split()[-1]
    return call_text("get_weather", {"city": city})


@pytest.fixture(scope="module")
def url():
    engine = ScriptedEngine(agent_script, name="tuned")
    with serve_in_thread(create_app({"tuned": engine}, api_key="k")) as base:
        yield base + "/v1"


def make_agent(model) -> Agent:
    return Agent(name="weather", instructions="Answer weather questions with the tool.", tools=[get_weather],
                 model=model, model_settings=ModelSettings(include_usage=True))


def chat_model(url: str) -> OpenAIChatCompletionsModel:
    return OpenAIChatCompletionsModel(model="tuned", openai_client=AsyncOpenAI(base_url=url, api_key="k"))


async def run_streamed(agent: Agent, question: str):
    result = Runner.run_streamed(agent, question)
    kinds = []
    async for event in result.stream_events():
        if event.type == "run_item_stream_event":
            kinds.append(event.item.type)
    return result, kinds


def test_runner_run(url):
    CALLS.clear()
    result = asyncio.run(Runner.run(make_agent(chat_model(url)), "What is the weather in Lisbon?"))
    assert CALLS == ["Lisbon"]
    assert result.final_output == "The weather report says: 18C and sunny in Lisbon."
    items = [i.type for i in result.new_items]
    assert items == ["tool_call_item", "tool_call_output_item", "message_output_item"]


def test_runner_run_streamed(url):
    CALLS.clear()
    result, kinds = asyncio.run(run_streamed(make_agent(chat_model(url)), "What is the weather in Oslo?"))
    assert CALLS == ["Oslo"]
    assert result.final_output == "The weather report says: 18C and sunny in Oslo."
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]


@pytest.fixture(scope="module")
def litellm_model(url):
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import
    pytest.importorskip("litellm", reason="litellm is not installed (optional dev extra)")
    from agents.extensions.models.litellm_model import LitellmModel

    return LitellmModel(model="openai/tuned", base_url=url, api_key="k")


def test_litellm_model_run_and_streamed(litellm_model):
    CALLS.clear()
    agent = make_agent(litellm_model)
    result = asyncio.run(Runner.run(agent, "What is the weather in Quito?"))
    assert result.final_output == "The weather report says: 18C and sunny in Quito."
    result, kinds = asyncio.run(run_streamed(agent, "What is the weather in Lima?"))
    assert result.final_output == "The weather report says: 18C and sunny in Lima."
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    assert CALLS == ["Quito", "Lima"]
