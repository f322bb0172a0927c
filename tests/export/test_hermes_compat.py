"""Our tool-call text is exactly what vLLM's ``hermes`` tool parser extracts.

The extraction below reproduces ``Hermes2ProToolParser.extract_tool_calls`` from
vllm-project/vllm ``vllm/tool_parsers/hermes_tool_parser.py`` at commit
becf329d2cb4494516f3672d291d4d7c06a57563 (same logic at the older path
``vllm/entrypoints/openai/tool_parsers/hermes_tool_parser.py``):

- no ``<tool_call>`` in the output -> no calls, content = whole output;
- ``re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL).findall(output)``;
- ``json.loads`` of each match; ``fc["arguments"]`` is required (KeyError -> the whole output is
  returned as content, no calls); a string ``arguments`` is ``json.loads``-ed once more;
- each call's arguments become ``json.dumps(args, ensure_ascii=False)``;
- content = text before the first ``<tool_call>``, ``None`` if empty.
vLLM also sets ``skip_special_tokens=False`` when tools are requested, and stops (without
including it) at the EOS ``<|im_end|>``, so the parser sees exactly the assistant body.
"""

import json
import re

import pytest

from tooltune.core.format import parse_output, render_assistant_body
from tooltune.core.types import make_call

TOOL_CALL_START = "<tool_call>"
TOOL_CALL_REGEX = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL)


def vllm_hermes_extract(model_output: str) -> tuple[bool, list[tuple[str, dict]], str | None]:
    """(tools_called, [(name, arguments)], content) exactly as vLLM's hermes parser computes them."""
    if TOOL_CALL_START not in model_output:
        return False, [], model_output
    try:
        raw = [json.loads(m[0] if m[0] else m[1]) for m in TOOL_CALL_REGEX.findall(model_output)]
        for fc in raw:
            if isinstance(fc["arguments"], str):
                fc["arguments"] = json.loads(fc["arguments"])
        calls = [(fc["name"], json.loads(json.dumps(fc["arguments"], ensure_ascii=False))) for fc in raw]
        content = model_output[: model_output.find(TOOL_CALL_START)]
        return True, calls, content if content else None
    except Exception:
        return False, [], model_output


CASES = {
    "single": (None, [("create_task", {"title": "buy milk", "due_date": "2026-03-06", "priority": "high"})]),
    "parallel": (
        None,
        [("complete_task", {"task_id": 3}), ("delete_task", {"task_id": 12}), ("list_tasks", {"status": "open"})],
    ),
    "content_and_call": ("Sure, creating it now.", [("create_task", {"title": "café «crème» \"x\" {y}"})]),
    "no_args": (None, [("list_tasks", {})]),
    "nested_args": (None, [("update_task", {"task_id": 1, "title": "a\nb", "tags": ["x", "y"], "meta": {"k": [1, 2.5, None, True]}})]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_vllm_hermes_parser_extracts_our_calls(case):
    content, calls = CASES[case]
    body = render_assistant_body(content, [make_call(n, a, f"c{i}") for i, (n, a) in enumerate(calls)])

    called, got, vllm_content = vllm_hermes_extract(body)
    assert called
    assert got == calls
    if content is None:
        assert vllm_content is None
    else:
        # vLLM keeps everything before the first <tool_call>, so our separator newline stays on.
        assert vllm_content == content + "\n"
    # and our own parser agrees with vLLM's on the same text
    ours = parse_output(body)
    assert [(c.function.name, json.loads(c.function.arguments)) for c in ours.tool_calls] == got
    assert ours.content == (vllm_content.strip() if vllm_content else None)


def test_plain_answer_is_content_for_vllm_too():
    text = render_assistant_body("I can't do that: no tool deletes all tasks at once.", [])
    assert vllm_hermes_extract(text) == (False, [], text)
    assert parse_output(text).tool_calls == []


def test_a_call_without_arguments_key_would_fail_in_vllm():
    """Why render_call always writes "arguments", even when empty: vLLM indexes fc["arguments"]."""
    assert vllm_hermes_extract('<tool_call>{"name":"list_tasks"}</tool_call>')[0] is False
    assert '"arguments":{}' in render_assistant_body(None, [make_call("list_tasks", {}, "c0")])
