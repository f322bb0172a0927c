"""The llama.cpp grammar (llguidance Lark) of each tool_choice mode, checked by llguidance itself
against whole outputs tokenized by the tiny tokenizer: what it must accept and what it must refuse."""

from __future__ import annotations

import pytest

from tooltune.core.format.tokens import IM_END
from tooltune.engine import EngineError, GenerationRequest
from tooltune.engine.lark import check_grammar, lark_grammar

llguidance = pytest.importorskip("llguidance")

ALARM = '<tool_call>{"name":"set_alarm","arguments":{"hour":7,"repeat":"daily"}}</tool_call>'
MODE = '<tool_call>{"name":"set_mode","arguments":{"mode":"dark"}}</tool_call>'


@pytest.fixture(scope="module")
def lltok(tiny_tokenizer):
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tiny_tokenizer)


def accepts(lltok, tokenizer, grammar: str, text: str) -> bool:
    matcher = llguidance.LLMatcher(lltok, grammar)
    assert not matcher.is_error(), matcher.get_error()
    ids = tokenizer.encode(text, add_special_tokens=False) + [tokenizer.convert_tokens_to_ids(IM_END)]
    return matcher.consume_tokens(ids) and matcher.is_accepting()


def grammar(tools, **kw) -> str:
    g = lark_grammar(GenerationRequest(messages=[], tools=tools, **kw))
    check_grammar(g)
    return g


@pytest.mark.parametrize("kw, good, bad", [
    ({"tool_choice": "auto"},
     ["Sure, done.", ALARM, MODE + "\n" + ALARM, ""],
     [ALARM + " trailing words", "Here you go:\n" + ALARM,  # text then calls: transformers engine only '<tool_call>{"name":"set_alarm","arguments":{"hour":7}}</tool_call>',
      '<tool_call>{"name": "set_mode", "arguments": {"mode": "dark"}}</tool_call>',  # not compact
      '<tool_call>{"name":"set_mode","arguments":{"mode":"dim"}}</tool_call>',  # not in the enum
      '<tool_call>{"name":"set_mode","arguments":{"mode":"dark","x":1}}</tool_call>',  # undeclared key
      '<tool_call>{"name":"nope","arguments":{}}</tool_call>']),
    ({"tool_choice": "auto", "parallel_tool_calls": False}, [ALARM, "fine"], [MODE + "\n" + ALARM]),
    ({"tool_choice": "required"}, [ALARM, MODE + "\n" + ALARM], ["Sure.", "Sure." + ALARM]),
    ({"tool_choice": "set_mode"}, [MODE], [ALARM, MODE + "\n" + MODE, "ok"]),
    ({"tool_choice": "none"}, ["No calls today.", ""], [ALARM]),
])
def test_each_mode_accepts_and_refuses(lltok, tiny_tokenizer, strict_tools, kw, good, bad):
    g = grammar(strict_tools, **kw)
    for text in good:
        assert accepts(lltok, tiny_tokenizer, g, text), text
    for text in bad:
        assert not accepts(lltok, tiny_tokenizer, g, text), text


def test_response_format_constrains_the_content(lltok, tiny_tokenizer):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    g = grammar([], response_format={"type": "json_schema", "json_schema": {"schema": schema}})
    assert accepts(lltok, tiny_tokenizer, g, '{"n":3}')
    assert not accepts(lltok, tiny_tokenizer, g, '{"n":"3"}') and not accepts(lltok, tiny_tokenizer, g, "three")
    g = grammar([], response_format={"type": "json_object"})
    assert accepts(lltok, tiny_tokenizer, g, '{"any":[1,2]}') and not accepts(lltok, tiny_tokenizer, g, "[1]")


def test_free_text_needs_no_grammar_and_bad_requests_are_engine_errors(strict_tools):
    assert lark_grammar(GenerationRequest(messages=[])) is None
    with pytest.raises(EngineError, match="unknown tool 'nope'"):
        lark_grammar(GenerationRequest(messages=[], tools=strict_tools, tool_choice="nope"))
    with pytest.raises(EngineError, match="unsupported response_format"):
        lark_grammar(GenerationRequest(messages=[], response_format={"type": "yaml"}))
    with pytest.raises(EngineError, match="cannot build the output constraint"):
        check_grammar("%llguidance {}\nstart: nowhere\n")
