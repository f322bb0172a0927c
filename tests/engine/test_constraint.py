"""The tool-call grammar, checked string by string and token by token on real tokenizers."""

from __future__ import annotations

import pytest

from tooltune.core.tools import load_tools
from tooltune.core.types import Message
from tooltune.engine import EngineError, GenerationRequest
from tooltune.engine.constraint import ConstraintCompiler

CALL = '<tool_call>{"name":"create_task","arguments":{"title":"milk","priority":"high"}}</tool_call>'
CALL2 = '<tool_call>{"name":"complete_task","arguments":{"task_id":3}}</tool_call>'
MSGS = [Message(role="user", content="hi")]


@pytest.fixture(scope="module")
def smol_tokenizer():
    from transformers import AutoTokenizer

    from tooltune.core.models import ModelNotFound, resolve

    try:
        resolved = resolve("smollm2-135m")
    except ModelNotFound as e:
        pytest.skip(str(e))
    return AutoTokenizer.from_pretrained(resolved.tokenizer)


@pytest.fixture(scope="module")
def smol(smol_tokenizer):
    return ConstraintCompiler(smol_tokenizer, len(smol_tokenizer), [smol_tokenizer.convert_tokens_to_ids("<|im_end|>")])


def _req(**kw):
    kw.setdefault("tools", load_tools("taskapi"))
    return GenerationRequest(messages=MSGS, **kw)


def accepts(compiler, request, text: str, end: bool = True) -> bool:
    """Whether ``text`` (then the end of turn, if ``end``) is allowed for ``request``."""
    m = compiler.matcher(compiler.compile(request))
    if not m.accept_string(text):
        return False
    if end:
        return m.accept_token(compiler.tokenizer_info.stop_token_ids[0])
    return True


CASES = [
    # (request kwargs, text, allowed)
    ({}, "Sure, which day?", True),
    ({}, "Okay.\n" + CALL, True),
    ({}, CALL + "\n" + CALL2, True),
    ({}, CALL + " and more text", False),
    ({}, CALL.replace('"title":"milk"', '"title": "milk"'), False),  # compact JSON only
    ({}, CALL.replace('"high"', '"urgent"'), False),  # enum
    ({}, CALL.replace('"title":"milk",', ""), False),  # required key
    ({}, CALL.replace('"priority":"high"', '"priority":"high","color":"red"'), False),  # additionalProperties
    ({}, CALL.replace("create_task", "make_task"), False),  # undeclared tool
    ({}, CALL2.replace("3", '"3"'), False),  # types
    ({}, CALL2.replace("complete_task", "update_task").replace("}}<", ',"title":"a\x14"}}<'), False),  # JSON
    ({}, CALL.replace('"milk"', '"milk</tool_call>"'), False),  # a marker inside a string would cut the call
    ({}, CALL.replace('"milk"', '"milk<|im_end|>"'), False),
    ({}, CALL.replace('"milk"', '"a \\u003c b"'), True),  # "<" is still writable, escaped
    ({"parallel_tool_calls": False}, CALL, True),
    ({"parallel_tool_calls": False}, CALL + "\n" + CALL2, False),
    ({"tool_choice": "required"}, CALL + "\n" + CALL2, True),
    ({"tool_choice": "required"}, "Sure.", False),
    ({"tool_choice": "required"}, "Sure.\n" + CALL, False),
    ({"tool_choice": "complete_task"}, CALL2, True),
    ({"tool_choice": "complete_task"}, CALL, False),
    ({"tool_choice": "complete_task"}, CALL2 + "\n" + CALL2, False),
    ({"tool_choice": "none"}, "Sure, which day?", True),
    ({"tool_choice": "none"}, "I will call <tool_call>", False),
    ({"tool_choice": "none"}, CALL, False),
    ({"response_format": {"type": "json_object"}, "tool_choice": "none"}, '{"a":[1,2]}', True),
    ({"response_format": {"type": "json_object"}, "tool_choice": "none"}, "not json", False),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
        "additionalProperties": False}}}, "tools": []}, '{"n":5}', True),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
        "additionalProperties": False}}}, "tools": []}, '{"n":"5"}', False),
]


@pytest.mark.parametrize("kwargs,text,allowed", CASES)
def test_grammar_allows_only_valid_output(smol, kwargs, text, allowed):
    assert accepts(smol, _req(**kwargs), text) is allowed


def test_unconstrained_when_nothing_to_enforce(smol):
    assert smol.compile(_req(tools=[])) is None


def test_forced_unknown_tool_is_an_engine_error(smol):
    with pytest.raises(EngineError, match="unknown tool"):
        smol.compile(_req(tool_choice="send_email"))
    with pytest.raises(EngineError, match="required"):
        smol.compile(_req(tools=[], tool_choice="required"))


def test_compiled_grammars_are_cached(smol):
    assert smol.compile(_req(tool_choice="required")) is smol.compile(_req(tool_choice="required"))


def test_jump_forward_completes_forced_text(smol):
    m = smol.matcher(smol.compile(_req()))
    assert m.accept_string("<tool_call>")
    assert m.find_jump_forward_string() == '{"name":"'
    assert m.accept_string('{"name":"cre')
    assert m.find_jump_forward_string() == 'ate_task","arguments":{"title":"'


@pytest.mark.parametrize("added", [False, True])
def test_token_level_with_and_without_added_tag_tokens(tiny_tokenizer, added):
    """The trainer may add <tool_call>/</tool_call> as (non-special) tokens: both tokenizations
    of a valid call are accepted token by token, and a bad one is refused."""
    import copy

    tok = copy.deepcopy(tiny_tokenizer)
    if added:
        tok.add_tokens(["<tool_call>", "</tool_call>"])
        assert len(tok.encode("<tool_call>", add_special_tokens=False)) == 1
    end = tok.convert_tokens_to_ids("<|im_end|>")
    compiler = ConstraintCompiler(tok, len(tok), [end])
    grammar = compiler.compile(_req(tool_choice="required"))
    m = compiler.matcher(grammar)
    ids = tok.encode(CALL + "\n" + CALL2, add_special_tokens=False)
    assert all(m.accept_token(i) for i in ids)
    assert m.accept_token(end) and m.is_terminated()
    bad = tok.encode(CALL.replace('"high"', '"top"'), add_special_tokens=False)
    m = compiler.matcher(grammar)
    assert not all(m.accept_token(i) for i in bad)
