"""The Agents SDK agent: catalog tools on the Task API, model on our OpenAI-compatible server."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tooltune.core.dates import system_today

from .tools import TaskTools, catalog

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_TASKAPI_URL = "http://127.0.0.1:8001"
MAX_TOKENS = 512
"""Completion cap per model call (a tool-call turn or a short answer needs far fewer)."""


def instructions_for(today: dt.date) -> str:
    """The system line the model was trained with, exactly (the generator's own function)."""
    return system_today(today)


def function_tools(tools: TaskTools) -> list[Any]:
    """The catalog tools as ``FunctionTool``s whose schemas are exactly the catalog's."""
    from agents import FunctionTool

    out = []
    for tool in catalog():

        async def invoke(_ctx: Any, arguments: str, _name: str = tool.name) -> str:
            return await tools.call(_name, arguments)

        out.append(
            FunctionTool(
                name=tool.name,
                description=tool.function.description,
                params_json_schema=tool.function.parameters,
                on_invoke_tool=invoke,
                # Strict mode would rewrite the schema (all fields required); keep the catalog's.
                strict_json_schema=False,
            )
        )
    return out


def default_model_name(base_url: str, api_key: str = "unused") -> str:
    """The first model the server lists (our server serves one or a few)."""
    from openai import OpenAI

    models = OpenAI(base_url=base_url, api_key=api_key, max_retries=0).models.list().data
    if not models:
        raise RuntimeError(f"{base_url} serves no models")
    return models[0].id


def build_agent(tools: TaskTools, base_url: str = DEFAULT_BASE_URL, model: str | None = None,
                today: dt.date | None = None, api_key: str = "unused", model_settings: Any = None,
                client: Any = None) -> Any:
    """An ``agents.Agent`` whose model is ``OpenAIChatCompletionsModel`` on ``base_url``
    (or on ``client``, an ``AsyncOpenAI`` the caller owns and closes)."""
    from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, set_tracing_disabled
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    name = model or default_model_name(base_url, api_key)
    client = client or AsyncOpenAI(base_url=base_url, api_key=api_key)
    return Agent(
        name="tasks",
        instructions=instructions_for(today or dt.date.today()),
        tools=function_tools(tools),
        model=OpenAIChatCompletionsModel(model=name, openai_client=client),
        # Greedy, and a cap so a confused model cannot ramble to the context limit.
        model_settings=model_settings or ModelSettings(temperature=0.0, max_tokens=MAX_TOKENS),
    )


def run_config() -> Any:
    from agents import RunConfig

    return RunConfig(tracing_disabled=True)
