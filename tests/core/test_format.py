import json
import random

import pytest

from tooltune.core.format import (
    IM_END,
    PromptFormat,
    StreamingParser,
    chat_template,
    collect,
    parse_conversation,
    parse_output,
    render,
    render_assistant_body,
    tokenize_with_mask,
)
from tooltune.core.tools import load_tools
from tooltune.core.types import Message, make_call

from .conversations import normalized, random_conversation

SEEDS = range(60)


@pytest.mark.parametrize("seed", SEEDS)
def test_parse_of_render_is_identity(seed):
    msgs, tools = random_conversation(random.Random(seed))
    text = render(msgs, tools).text
    assert normalized(parse_conversation(text)) == normalized(msgs)


@pytest.mark.parametrize("style", ["signature", "json"])
@pytest.mark.parametrize("seed", range(25))
def test_jinja_template_renders_identically(tiny_tokenizer, style, seed):
    fmt = PromptFormat(tool_style=style)
    msgs, tools = random_conversation(random.Random(seed))
    tiny_tokenizer.chat_template = chat_template(fmt)
    for gen in (False, True):
        want = render(msgs, tools, fmt, add_generation_prompt=gen).text
        got = tiny_tokenizer.apply_chat_template(
            [m.to_openai() for m in msgs], tools=[t.model_dump() for t in tools] or None,
            tokenize=False, add_generation_prompt=gen,
        )
        assert got == want


def test_jinja_accepts_dict_arguments(tiny_tokenizer):
    """HF-style datasets carry arguments as dicts: same text as the canonical string."""
    tiny_tokenizer.chat_template = chat_template()
    call = make_call("complete_task", {"task_id": 3})
    msgs = [Message(role="user", content="done 3"), Message(role="assistant", tool_calls=[call])]
    hf = [m.to_openai() for m in msgs]
    hf[1]["tool_calls"][0]["function"]["arguments"] = {"task_id": 3}
    assert tiny_tokenizer.apply_chat_template(hf, tokenize=False) == render(msgs).text


@pytest.mark.parametrize("seed", range(25))
def test_mask_covers_exactly_the_assistant_tokens(tiny_tokenizer, seed):
    msgs, tools = random_conversation(random.Random(seed))
    rendered = render(msgs, tools)
    ids, mask = tokenize_with_mask(tiny_tokenizer, rendered)
    assert ids == tiny_tokenizer(rendered.text, add_special_tokens=False)["input_ids"]
    masked = tiny_tokenizer.decode([i for i, m in zip(ids, mask) if m])
    expected = "".join(rendered.text[a:b] for a, b in rendered.assistant_spans)
    assert masked == expected
    assistant_turns = [m for m in msgs if m.role == "assistant"]
    assert masked.count(IM_END) == len(assistant_turns)
    # Transformers computes the same mask from the template's {% generation %} blocks.
    tiny_tokenizer.chat_template = chat_template()
    out = tiny_tokenizer.apply_chat_template(
        [m.to_openai() for m in msgs], tools=[t.model_dump() for t in tools] or None,
        tokenize=True, return_dict=True, return_assistant_tokens_mask=True,
    )
    assert list(out["input_ids"]) == ids
    assert [bool(x) for x in out["assistant_masks"]] == mask


def test_signature_style_is_shorter(tiny_tokenizer):
    tools = load_tools("taskapi")
    sig = render([], tools, PromptFormat(tool_style="signature")).text
    js = render([], tools, PromptFormat(tool_style="json")).text
    assert len(tiny_tokenizer(sig)["input_ids"]) < 0.8 * len(tiny_tokenizer(js)["input_ids"])


# ---- parsing model output -------------------------------------------------

CALL_A = '<tool_call>{"name":"create_task","arguments":{"title":"milk"}}</tool_call>'
CALL_B = '<tool_call>{"name":"complete_task","arguments":{"task_id":3}}</tool_call>'

OUTPUTS = {
    "plain": ("Hello there.", "Hello there.", [], 0),
    "single": (CALL_A, None, ["create_task"], 0),
    "parallel": (CALL_A + "\n" + CALL_B, None, ["create_task", "complete_task"], 0),
    "content_and_call": ("Sure.\n" + CALL_A, "Sure.", ["create_task"], 0),
    "spaced_json": ('<tool_call>\n{"name": "ping", "arguments": {}}\n</tool_call>', None, ["ping"], 0),
    "string_args": ('<tool_call>{"name":"ping","arguments":"{\\"a\\":1}"}</tool_call>', None, ["ping"], 0),
    "invalid_json": ("<tool_call>{not json}</tool_call>", "<tool_call>{not json}</tool_call>", [], 1),
    "no_name": ('<tool_call>{"arguments":{}}</tool_call>', '<tool_call>{"arguments":{}}</tool_call>', [], 1),
    "args_not_object": ('<tool_call>{"name":"x","arguments":[1]}</tool_call>',
                        '<tool_call>{"name":"x","arguments":[1]}</tool_call>', [], 1),
    "unterminated_valid": ('<tool_call>{"name":"ping","arguments":{}}', None, ["ping"], 0),
    "unterminated_broken": ('ok <tool_call>{"name":"ping","argu', 'ok <tool_call>{"name":"ping","argu', [], 1),
    "stops_at_im_end": ("Bye." + IM_END + CALL_A, "Bye.", [], 0),
    "partial_tag_text": ("a <tool_ca b", "a <tool_ca b", [], 0),
    "good_then_bad": (CALL_A + "\n<tool_call>oops</tool_call>", "<tool_call>oops</tool_call>", ["create_task"], 1),
    "empty": ("", None, [], 0),
}


@pytest.mark.parametrize("case", OUTPUTS)
def test_parse_output(case):
    text, content, names, n_bad = OUTPUTS[case]
    result = parse_output(text)
    assert result.content == content
    assert [c.function.name for c in result.tool_calls] == names
    assert len(result.malformed) == n_bad
    for c in result.tool_calls:
        assert isinstance(json.loads(c.function.arguments), dict)


def _stream(text: str, size: int, stream_arguments: bool):
    parser = StreamingParser(stream_arguments=stream_arguments)
    events = []
    for i in range(0, len(text), size):
        events += parser.feed(text[i : i + size])
    tail, result = parser.finish()
    return events + tail, result


def _same(a, b):
    assert a.content == b.content
    assert [(c.function.name, json.loads(c.function.arguments)) for c in a.tool_calls] == [
        (c.function.name, json.loads(c.function.arguments)) for c in b.tool_calls
    ]
    assert a.malformed == b.malformed


@pytest.mark.parametrize("stream_arguments", [False, True])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("case", OUTPUTS)
def test_streaming_matches_full_parse(case, size, stream_arguments):
    text = OUTPUTS[case][0]
    events, result = _stream(text, size, stream_arguments)
    full = parse_output(text)
    _same(result, full)
    content, calls = collect(events)
    assert content == full.content or (full.malformed and stream_arguments)
    if not full.malformed:
        assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
            (c.function.name, json.loads(c.function.arguments)) for c in full.tool_calls
        ]
        assert [c.id for c in calls] == [c.id for c in result.tool_calls]
    # content never shows a piece of a tag that turned into a call
    assert "<tool_call>" not in (content or "") or full.malformed


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("seed", range(20))
def test_streaming_on_rendered_assistant_turns(seed, size):
    msgs, _ = random_conversation(random.Random(seed))
    for m in msgs:
        if m.role != "assistant":
            continue
        body = render_assistant_body(m.content, m.tool_calls)
        for stream_arguments in (False, True):
            events, result = _stream(body + IM_END, size, stream_arguments)
            assert result.content == (m.content.strip() if m.content and m.content.strip() else None)
            content, calls = collect(events)
            assert content == result.content
            want = [(c.function.name, c.function.arguments) for c in m.tool_calls or []]
            assert [(c.function.name, c.function.arguments) for c in calls] == want
            assert [(c.function.name, c.function.arguments) for c in result.tool_calls] == want


def test_argument_fragments_arrive_before_the_call_closes():
    parser = StreamingParser(stream_arguments=True)
    events = parser.feed('<tool_call>{"name":"create_task","arguments":{"title":"mi')
    kinds = [e.kind for e in events]
    assert kinds[0] == "call_start" and events[0].name == "create_task"
    assert "call_args" in kinds and "".join(e.text for e in events if e.kind == "call_args") == '{"title":"mi'


@pytest.mark.parametrize("seed", range(200))
def test_parsers_never_raise_on_garbage(seed):
    rng = random.Random(seed)
    pieces = ["<tool_call>", "</tool_call>", "{", "}", '"name"', ":", '"x"', ',"arguments":', "[", "]", "\\",
              '"', "text ", "\n", IM_END, "<tool", "_call>", "{}", "null"]
    text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
    full = parse_output(text)
    for size in (1, 3, 7):
        for sa in (False, True):
            _, result = _stream(text, size, sa)
            _same(result, full)
