"""``tooltune agent``: talk to the task agent (one message, or an interactive chat), and
``tooltune agent e2e``: the end-to-end scenarios scored by the database state."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, Optional

import click
import typer
from typer.core import TyperGroup

from .model import DEFAULT_BASE_URL, DEFAULT_TASKAPI_URL


class _ChatByDefault(TyperGroup):
    """``tooltune agent "message"`` and ``tooltune agent`` mean ``tooltune agent chat ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["chat", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_ChatByDefault, help="The task agent (Agents SDK) on a tooltune server.")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _parse_today(value: Optional[str]) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"--today must be YYYY-MM-DD, got {value!r}")
        raise  # unreachable


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _printer(kind: str, name: str, text: str) -> None:
    if kind == "call":
        typer.secho(f"→ {name}({_short(text)})", fg=typer.colors.CYAN, err=True)
    else:
        colour = typer.colors.RED if text.startswith('{"error"') else typer.colors.GREEN
        typer.secho(f"← {name}: {_short(text)}", fg=colour, err=True)


@app.command()
def chat(
    message: Optional[str] = typer.Argument(None, help="One request; without it, an interactive chat."),
    base_url: str = typer.Option(DEFAULT_BASE_URL, help="The tooltune (OpenAI-compatible) server, ending in /v1."),
    model: Optional[str] = typer.Option(None, help="Model name on the server (default: the first it lists)."),
    api_key: str = typer.Option("unused", envvar="TOOLTUNE_API_KEY", help="API key of the model server."),
    taskapi_url: str = typer.Option(DEFAULT_TASKAPI_URL, help="The Task API (tooltune taskapi serve)."),
    taskapi_key: Optional[str] = typer.Option(None, envvar="TOOLTUNE_TASKAPI_API_KEY", help="Task API key."),
    today: Optional[str] = typer.Option(None, help="Pretend today is this date (YYYY-MM-DD)."),
    max_turns: int = typer.Option(8, min=1, help="Model calls per request, tool rounds included."),
) -> None:
    """Run the agent on MESSAGE, or chat interactively; tool calls are printed as they happen."""
    from openai import APIConnectionError, APIError

    from .chat import run_turn
    from .model import build_agent
    from .tools import TaskTools

    day = _parse_today(today)
    tools = TaskTools(taskapi_url, api_key=taskapi_key, today=day)
    try:
        agent = build_agent(tools, base_url=base_url, model=model, today=day, api_key=api_key)
    except (APIConnectionError, APIError, RuntimeError) as exc:
        _fail(f"cannot reach the model server at {base_url}: {exc}")

    # One event loop for the whole chat: the OpenAI client's connections belong to it.
    loop = asyncio.new_event_loop()

    def one(history: list[Any], text: str) -> list[Any]:
        from agents.exceptions import AgentsException

        try:
            result = loop.run_until_complete(run_turn(agent, history, text, on_event=_printer, max_turns=max_turns))
        except (APIConnectionError, APIError) as exc:
            typer.echo(f"error: model server: {exc}", err=True)
            return history
        except AgentsException as exc:
            typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            return history
        typer.echo(result.final_output)
        return result.history

    try:
        if message is not None:
            if not one([], message):  # the run failed; the error is printed
                raise typer.Exit(code=1)
            return
        typer.echo("Task agent; an empty line or Ctrl-D quits.", err=True)
        history: list[Any] = []
        while True:
            try:
                text = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                typer.echo("", err=True)
                break
            if not text:
                break
            history = one(history, text)
    finally:
        loop.close()


@app.command()
def e2e(
    base_url: str = typer.Option(DEFAULT_BASE_URL, help="The tooltune (OpenAI-compatible) server, ending in /v1."),
    model: Optional[str] = typer.Option(None, help="Model name on the server (default: the first it lists)."),
    api_key: str = typer.Option("unused", envvar="TOOLTUNE_API_KEY", help="API key of the model server."),
    taskapi_url: Optional[str] = typer.Option(
        None, help="A Task API the suite may wipe (default: its own, on a temp SQLite file)."),
    taskapi_key: Optional[str] = typer.Option(None, envvar="TOOLTUNE_TASKAPI_API_KEY", help="Task API key."),
    only: Optional[str] = typer.Option(None, help="Comma-separated scenario names to run."),
    output: Optional[Path] = typer.Option(None, help="Write the JSON result here."),
) -> None:
    """Run the end-to-end scenarios; each passes when the final database state is as expected."""
    from openai import APIConnectionError, APIError

    from .e2e import SCENARIOS, run_suite

    names = [n.strip() for n in only.split(",")] if only else None
    unknown = sorted(set(names or ()) - {s.name for s in SCENARIOS})
    if unknown:
        _fail(f"unknown scenario(s): {', '.join(unknown)}")

    def progress(row: dict[str, Any]) -> None:
        mark = typer.style("PASS", fg=typer.colors.GREEN) if row["passed"] else typer.style("FAIL", fg=typer.colors.RED)
        typer.echo(f"{mark} {row['name']} ({row['seconds']:.1f} s){'' if row['passed'] else ': ' + row['reason']}", err=True)

    try:
        result = run_suite(base_url, model, taskapi_url=taskapi_url, api_key=api_key, taskapi_key=taskapi_key,
                           only=names, progress=progress)
    except (APIConnectionError, APIError, RuntimeError) as exc:
        _fail(f"cannot reach the model server at {base_url}: {exc}")
    typer.echo(f"e2e: {result['passed']}/{result['total']} scenarios passed ({result['success_rate']:.1%})")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2) + "\n")
    if result["passed"] < result["total"]:
        sys.exit(1)
