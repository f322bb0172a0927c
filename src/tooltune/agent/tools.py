"""The five catalog tools as functions that call the Task API over HTTP.

Result contract (the data generator emits the same shapes, so the model sees in production
what it saw in training): compact JSON; a task is ``{"id","title","description","due_date",
"priority","status"}`` with null fields omitted and no timestamps; ``list_tasks`` returns
``{"tasks":[...]}``; ``delete_task`` returns ``{"deleted":ID}``; every failure (unknown id,
bad date, invalid arguments, service down) is ``{"error":"..."}`` — a result the model can
react to, never an exception.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Awaitable, Callable

import httpx

from tooltune.core.dates import due_date_iso
from tooltune.core.tools import load_tools
from tooltune.core.types import Tool
from tooltune.core.validate import schema_errors

TASK_FIELDS = ("id", "title", "description", "due_date", "priority", "status")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def task_view(task: dict[str, Any]) -> dict[str, Any]:
    """A Task API task as the model sees it: fixed key order, nulls and timestamps dropped."""
    return {k: task[k] for k in TASK_FIELDS if task.get(k) is not None}


def catalog() -> list[Tool]:
    return load_tools("taskapi")


class ToolFailure(Exception):
    """Raised inside a tool; turned into an ``{"error": ...}`` result."""


def _api_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"task service answered HTTP {response.status_code}"
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return body["message"]
        if isinstance(body.get("detail"), str):
            return body["detail"]
    return f"task service answered HTTP {response.status_code}: {body}"


class TaskTools:
    """Calls the Task API at ``base_url``; one method per catalog tool, each returning the
    result string for the model. ``today`` resolves due dates given in words ("next Friday")."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None, today: dt.date | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.today = today
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout
        self.transport = transport
        self.schemas = {t.name: t.function.parameters for t in catalog()}

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        # A client per call: tool calls are rare, and an AsyncClient is bound to one event loop.
        async with httpx.AsyncClient(base_url=self.base_url, headers=self.headers, timeout=self.timeout,
                                     transport=self.transport) as client:
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise ToolFailure(f"task service unavailable ({type(exc).__name__})") from None
        if response.status_code >= 400:
            raise ToolFailure(_api_error(response))
        return response

    def _due_date(self, value: str | None) -> str | None:
        """The catalog takes "tomorrow" or "2026-03-06"; the Task API takes ISO dates only."""
        if value is None:
            return None
        try:
            return due_date_iso(value, self.today or dt.date.today())
        except ValueError as e:
            raise ToolFailure(str(e)) from None

    async def create_task(self, title: str, description: str | None = None, due_date: str | None = None,
                          priority: str | None = None) -> dict[str, Any]:
        body = {"title": title, "description": description, "due_date": self._due_date(due_date),
                "priority": priority}
        r = await self._request("POST", "/tasks", json={k: v for k, v in body.items() if v is not None})
        return task_view(r.json())

    async def update_task(self, task_id: int, **changes: Any) -> dict[str, Any]:
        if "due_date" in changes:
            changes["due_date"] = self._due_date(changes["due_date"])
        r = await self._request("PATCH", f"/tasks/{task_id}", json=changes)
        return task_view(r.json())

    async def complete_task(self, task_id: int) -> dict[str, Any]:
        r = await self._request("POST", f"/tasks/{task_id}/complete")
        return task_view(r.json())

    async def list_tasks(self, status: str | None = None, priority: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"status": status, "priority": priority}.items() if v not in (None, "all")}
        r = await self._request("GET", "/tasks", params=params)
        return {"tasks": [task_view(t) for t in r.json()["data"]]}

    async def delete_task(self, task_id: int) -> dict[str, Any]:
        await self._request("DELETE", f"/tasks/{task_id}")
        return {"deleted": task_id}

    def functions(self) -> dict[str, Callable[..., Awaitable[dict[str, Any]]]]:
        return {name: getattr(self, name) for name in self.schemas}

    async def call(self, name: str, arguments: str | dict[str, Any]) -> str:
        """Run tool ``name`` on JSON ``arguments``; always returns the result string."""
        fn = self.functions().get(name)
        if fn is None:
            return dumps({"error": f"unknown tool {name!r}"})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except json.JSONDecodeError:
                return dumps({"error": "arguments are not valid JSON"})
        if not isinstance(arguments, dict):
            return dumps({"error": "arguments must be a JSON object"})
        problems = schema_errors(self.schemas[name], arguments)
        if problems:
            return dumps({"error": "invalid arguments: " + "; ".join(problems)})
        try:
            return dumps(await fn(**arguments))
        except ToolFailure as exc:
            return dumps({"error": str(exc)})
