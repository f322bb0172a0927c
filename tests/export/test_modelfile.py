"""The Ollama Modelfile: its Go TEMPLATE renders our format (checked by executing it with Go's
text/template the way Ollama does, when a Go toolchain is present) and it stops at <|im_end|>."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tooltune.core.format import render_prompt
from tooltune.core.tools import load_tools
from tooltune.core.types import Message, Tool, make_call
from tooltune.export.modelfile import go_template, modelfile_text

HARNESS = Path(__file__).with_name("ollama_render.go")


def _sorted_tools(tools):
    """Go ranges over a map in key order: give our renderer the same property order."""
    out = []
    for t in tools:
        d = t.model_dump()
        params = d["function"]["parameters"]
        params["properties"] = dict(sorted(params.get("properties", {}).items()))
        out.append(Tool.model_validate(d))
    return out


def _ollama_render(template, messages, tools):
    system = "\n\n".join(m.content or "" for m in messages if m.role == "system")
    payload = {
        "template": template,
        "system": system,
        "messages": [
            {
                "role": m.role,
                "content": m.content or "",
                "tool_calls": [
                    {"function": {"name": c.function.name, "arguments": json.loads(c.function.arguments)}}
                    for c in m.tool_calls or []
                ],
            }
            for m in messages
            if m.role != "system"
        ],
        "tools": [t.model_dump() for t in tools],
    }
    done = subprocess.run(
        ["go", "run", str(HARNESS)], input=json.dumps(payload), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(shutil.which("go") is None, reason="needs a Go toolchain to execute the template")
def test_go_template_renders_our_prompt():
    extra = Tool.model_validate({"type": "function", "function": {
        "name": "tag_task", "description": "Set tags.", "parameters": {"type": "object", "required": ["tags"], "properties": {
            "note": {"type": ["string", "null"]}, "tags": {"type": "array", "items": {"type": "string"}}}}}})
    tools = _sorted_tools(load_tools("taskapi") + [extra])
    # arguments with keys in sorted order: Go's json.Marshal of a map sorts them
    first = make_call("create_task", {"due_date": "2026-03-06", "priority": "high", "title": "buy milk"}, "c1")
    calls = [make_call("complete_task", {"task_id": 3}, "c2"), make_call("list_tasks", {"status": "open"}, "c3")]
    conversations = [
        [Message(role="user", content="hi")],  # no tools, no system
        [
            Message(role="system", content="Today is 2026-03-05 (Thursday)."),
            Message(role="user", content="add buy milk tomorrow, high priority"),
            Message(role="assistant", tool_calls=[first]),
            Message(role="tool", tool_call_id="c1", content='{"id": 3}'),
            Message(role="assistant", content="Done: task 3."),
            Message(role="user", content="complete 3 and list open ones"),
            Message(role="assistant", content="On it.", tool_calls=calls),
            Message(role="tool", tool_call_id="c2", content="{}"),
            Message(role="tool", tool_call_id="c3", content="[]"),
        ],
    ]
    for messages in conversations:
        use_tools = tools if len(messages) > 1 else []
        assert _ollama_render(go_template(), messages, use_tools) == render_prompt(messages, use_tools)


def test_modelfile_points_at_the_gguf_and_stops_at_im_end():
    text = modelfile_text("model-q8_0.gguf")
    assert text.splitlines()[1] == "FROM ./model-q8_0.gguf"
    assert "PARAMETER stop <|im_end|>" in text.splitlines()
    template = text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    assert template == go_template()
    # Ollama finds tool calls by the text before {{ .Function.Name }} in the template
    assert '<tool_call>{"name":"{{ .Function.Name }}","arguments":{{ json .Function.Arguments }}}</tool_call>' in template
    assert "{{ range .Tools }}" in template
