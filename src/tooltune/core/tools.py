"""Load tool lists from JSON files, from the shipped catalogs, or from typed Python functions."""

from __future__ import annotations

import inspect
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, create_model

from .types import FunctionDef, Tool

CATALOGS = {"taskapi": "taskapi_tools.json"}
"""Tool catalogs shipped inside the package, by short name."""


class ToolsError(ValueError):
    """A tools file or definition that cannot be used; the message says why."""


def parse_tools(raw: Any) -> list[Tool]:
    """Tools from already-decoded JSON: a list, or ``{"tools": [...]}``; bare function defs are wrapped."""
    if isinstance(raw, dict) and "tools" in raw:
        raw = raw["tools"]
    if not isinstance(raw, list):
        raise ToolsError("expected a JSON list of tools or an object with a 'tools' list")
    tools = []
    for i, item in enumerate(raw):
        if isinstance(item, dict) and "function" not in item and "name" in item:
            item = {"type": "function", "function": item}
        try:
            tools.append(Tool.model_validate(item))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ToolsError(f"tool #{i}: {where}: {first['msg']}") from None
    names = [t.name for t in tools]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ToolsError(f"duplicate tool names: {', '.join(dupes)}")
    return tools


def load_tools(source: str | Path) -> list[Tool]:
    """Tools from a JSON file path or a shipped catalog name (``taskapi``)."""
    name = str(source)
    if name in CATALOGS:
        text = resources.files("tooltune.core.catalog").joinpath(CATALOGS[name]).read_text()
    else:
        path = Path(source)
        if not path.is_file():
            raise ToolsError(f"tools file not found: {path} (or use a catalog: {', '.join(CATALOGS)})")
        text = path.read_text()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise ToolsError(f"{name}: not valid JSON ({e.msg} at line {e.lineno})") from None
    return parse_tools(raw)


def tools_to_json(tools: Iterable[Tool]) -> list[dict[str, Any]]:
    return [t.model_dump() for t in tools]


_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")


def _docstring_parts(doc: str) -> tuple[str, dict[str, str]]:
    """Summary and Google-style ``Args:`` descriptions from a docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section = "summary"
    current = None
    for line in lines:
        stripped = line.strip()
        if re.match(r"^(Args|Arguments|Parameters):\s*$", stripped):
            section = "args"
            continue
        if re.match(r"^(Returns|Raises|Yields|Examples?|Notes?):\s*$", stripped):
            section = "other"
            continue
        if section == "summary":
            if stripped or summary:
                summary.append(stripped)
        elif section == "args":
            m = _ARG_LINE.match(line)
            if m and not line.startswith(" " * 8):
                current = m.group(1).lstrip("*")
                params[current] = m.group(3).strip()
            elif current and stripped:
                params[current] += " " + stripped
    return " ".join(s for s in summary if s).strip(), params


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def function_to_tool(fn: Callable[..., Any]) -> Tool:
    """A tool from a typed function: its signature gives the schema, its docstring the descriptions."""
    summary, arg_docs = _docstring_parts(fn.__doc__ or "")
    fields: dict[str, Any] = {}
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.annotation is inspect.Parameter.empty:
            raise ToolsError(f"{fn.__name__}: parameter {name!r} has no type annotation")
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[name] = (p.annotation, Field(default, description=arg_docs.get(name)))
    model = create_model(fn.__name__, __config__=ConfigDict(extra="forbid"), **fields)
    schema = _strip_titles(TypeAdapter(model).json_schema())
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None:  # Optional[...] = None: absence says it
            del prop["default"]
    schema.setdefault("required", [])
    if not schema["required"]:
        schema.pop("required")
    return Tool(function=FunctionDef(name=fn.__name__, description=summary, parameters=schema))
