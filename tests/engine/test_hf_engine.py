"""TransformersEngine on tiny models: modes, schemas under random weights, caches, jump-forward,
limits and concurrency."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from tooltune.core.format import parse_output
from tooltune.core.format.tokens import TOOL_CALL_OPEN
from tooltune.core.tools import load_tools
from tooltune.core.types import Message
from tooltune.core.validate import call_errors, schema_errors
from tooltune.engine import ContextTooLong, EngineDelta, EngineError, EngineFinal, GenerationRequest, SamplingParams
from tooltune.engine.hf_engine import TransformersEngine

from .conftest import MODES, OracleModel, assert_valid_for_mode

MSGS = [Message(role="system", content="Today is 2026-03-05."), Message(role="user", content="wake me at 7 daily")]


def req(tools, **kw):
    sampling = SamplingParams(**{k: kw.pop(k) for k in list(kw) if k in SamplingParams.__dataclass_fields__})
    return GenerationRequest(messages=kw.pop("messages", MSGS), tools=tools, sampling=sampling, **kw)


@pytest.fixture(scope="module")
def engine(tiny_engine_factory):
    return tiny_engine_factory()


def run(engine, request):
    return engine.generate_text(request)


def test_required_named_and_single_modes_give_valid_calls_from_a_random_model(engine, strict_tools):
    for seed in range(4):
        for choice, parallel in MODES:
            text, final = run(engine, req(strict_tools, tool_choice=choice, parallel_tool_calls=parallel,
                                          temperature=1.0, seed=seed, max_tokens=120))
            assert_valid_for_mode(text, final, choice, parallel, strict_tools)


def test_none_mode_never_calls(engine, strict_tools):
    for seed in range(3):
        text, _ = run(engine, req(strict_tools, tool_choice="none", temperature=1.0, seed=seed, max_tokens=30))
        assert TOOL_CALL_OPEN not in text and not parse_output(text).tool_calls


def test_response_format_json_schema(engine):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer", "minimum": 1,
              "maximum": 9}}, "required": ["ok", "n"], "additionalProperties": False}
    for seed in range(3):
        text, final = run(engine, req([], response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}},
                                      temperature=1.0, seed=seed, max_tokens=50))
        assert final.finish_reason == "stop"
        assert schema_errors(schema, json.loads(text)) == []


def test_unconstrained_request_is_not_masked(tiny_engine_factory, strict_tools):
    eng = tiny_engine_factory(constrained=False)
    text, final = run(eng, req(strict_tools, tool_choice="required", max_tokens=8))
    assert final.finish_reason == "length" and final.completion_tokens == 8
    assert not text.startswith(TOOL_CALL_OPEN)


def test_seed_reproducible_and_usage_reported(engine, strict_tools):
    a = run(engine, req(strict_tools, tool_choice="required", temperature=1.0, seed=7, max_tokens=100))
    b = run(engine, req(strict_tools, tool_choice="required", temperature=1.0, seed=7, max_tokens=100))
    assert a[0] == b[0]
    final = a[1]
    assert final.prompt_tokens > 50 and final.completion_tokens > 5
    assert 0 < final.time_to_first_token_s <= final.total_s


def test_max_tokens_and_stop_strings(engine, strict_tools):
    text, final = run(engine, req(strict_tools, tool_choice="none", max_tokens=5))
    assert final.finish_reason == "length" and final.completion_tokens == 5
    text, final = run(engine, req(strict_tools, tool_choice="set_alarm", stop=['"arguments"'], max_tokens=100))
    assert final.finish_reason == "stop"
    assert text == '<tool_call>{"name":"set_alarm",'


def test_context_too_long_and_unknown_tool_raise_before_generating(tiny_engine_factory, strict_tools):
    eng = tiny_engine_factory(max_context=200)
    with pytest.raises(ContextTooLong):
        run(eng, req(strict_tools, max_tokens=10, messages=MSGS + [Message(role="user", content="x " * 200)]))
    with pytest.raises(ContextTooLong):
        run(eng, req(strict_tools, max_tokens=190))
    with pytest.raises(EngineError, match="unknown tool"):
        run(eng, req(strict_tools, tool_choice="send_email"))


def test_prefix_cache_gives_identical_output(tiny_engine_factory, strict_tools):
    cached, plain = tiny_engine_factory(), tiny_engine_factory(prefix_cache_entries=0)
    turns = [[Message(role="user", content=f"alarm number {i} please")] for i in range(3)]
    for i, msgs in enumerate(turns):
        for choice in ("required", "none"):
            r = req(strict_tools, messages=msgs, tool_choice=choice, temperature=0.7, seed=i, max_tokens=30)
            a, fa = run(cached, r)
            b, fb = run(plain, r)
            assert a == b
            assert fb.cached_tokens == 0
            if i > 0:
                assert fa.cached_tokens > 100  # the tools block is shared


@pytest.mark.parametrize("choice", ["auto", "required", "create_task"])
def test_jump_forward_matches_token_by_token(tiny_tokenizer, choice):
    """With a model that always continues one target text, jump-forward changes how many
    forward passes it takes, not what it writes; and the prefix cache agrees too."""
    target = ('<tool_call>{"name":"create_task","arguments":{"title":"buy milk","priority":"high"}}</tool_call>'
              '\n<tool_call>{"name":"list_tasks","arguments":{"status":"open"}}</tool_call>')
    tools = load_tools("taskapi")
    r = req(tools, tool_choice=choice, max_tokens=120)
    out = {}
    for jump in (False, True):
        model = OracleModel(tiny_tokenizer, target)
        eng = TransformersEngine(model, tiny_tokenizer, name="oracle", jump_forward=jump)
        out[jump] = [run(eng, r)[0], run(eng, r)[0]], len(model.calls)
    (texts_plain, steps_plain), (texts_jump, steps_jump) = out[False], out[True]
    expect = target.split("\n")[0] if choice == "create_task" else target
    assert texts_plain == texts_jump == [expect, expect]
    assert steps_jump < steps_plain


@pytest.mark.parametrize("choice", ["auto", "create_task"])
def test_speculation_copies_from_the_prompt_without_changing_the_output(tiny_tokenizer, choice):
    """Prompt-lookup drafts are kept only as far as greedy decoding agrees: the same text (and
    the same text again from the prefix cache) in fewer forward passes."""
    title = "return the library books to the city library before noon"
    target = ('<tool_call>{"name":"create_task","arguments":{"title":"' + title + '","due_date":"next Friday",'
              '"priority":"high"}}</tool_call>')
    msgs = [Message(role="user", content=f"add {title}, due next Friday, high priority")]
    r = req(load_tools("taskapi"), messages=msgs, tool_choice=choice, max_tokens=120)
    out = {}
    for speculate in (0, 8):
        model = OracleModel(tiny_tokenizer, target)
        eng = TransformersEngine(model, tiny_tokenizer, name="oracle", speculate=speculate)
        out[speculate] = [run(eng, r)[0], run(eng, r)[0]], len(model.calls), eng.stats
    (plain, passes_plain, _), (spec, passes_spec, stats) = out[0], out[8]
    assert plain == spec == [target, target]
    assert stats.accepted_tokens >= 10 and stats.draft_tokens >= stats.accepted_tokens
    assert passes_spec < passes_plain - 10


@pytest.mark.parametrize("target", [
    '<tool_call>{"name":"create_task","arguments":{"title":"buy milk"}}</tool_call>',
    "I can only manage your tasks.",
])
def test_call_opening_rides_with_the_prefill(tiny_tokenizer, target):
    """Greedy constrained requests run '<tool_call>{"name":"' with the prompt: a call turn takes
    one forward pass fewer; a text turn takes the opening back (cache and matcher), same text."""
    msgs = [Message(role="user", content="add buy milk")]
    r = req(load_tools("taskapi"), messages=msgs, max_tokens=120)
    out = {}
    for opening in (False, True):
        model = OracleModel(tiny_tokenizer, target)
        eng = TransformersEngine(model, tiny_tokenizer, name="oracle")
        if not opening:
            eng.call_open_ids = []
        texts = [run(eng, r)[0], run(eng, r)[0]]  # the second from the prefix cache
        out[opening] = texts, len(model.calls), model.calls[0]
    (plain, passes_plain, first_plain), (drafted, passes_drafted, first_drafted) = out[False], out[True]
    assert plain == drafted == [target, target]
    if target.startswith(TOOL_CALL_OPEN):
        assert first_drafted > first_plain and passes_drafted <= passes_plain - 2
    else:
        assert passes_drafted == passes_plain


def test_sampling_does_not_speculate(engine, strict_tools):
    engine.stats.reset()
    run(engine, req(strict_tools, tool_choice="required", temperature=0.8, seed=1, max_tokens=20))
    assert engine.stats.draft_tokens == 0


def test_concurrent_requests_get_their_own_results(engine, strict_tools):
    requests = [req(strict_tools, tool_choice=c, temperature=1.0, seed=s, max_tokens=60)
                for s in range(3) for c in ("set_alarm", "set_mode", "none")]
    alone = [run(engine, r) for r in requests]

    async def one(r):
        parts, final = [], None
        async for item in engine.generate(r):
            if isinstance(item, EngineDelta):
                parts.append(item.text)
            else:
                assert isinstance(item, EngineFinal)
                final = item
        return "".join(parts), final

    async def all_at_once():
        return await asyncio.gather(*(one(r) for r in requests))

    engine.stats.reset()
    together = asyncio.run(all_at_once())
    assert engine.stats.max_batch > 1  # they really shared forward passes
    assert [t for t, _ in together] == [t for t, _ in alone]
    assert [f.completion_tokens for _, f in together] == [f.completion_tokens for _, f in alone]


def test_shared_passes_carry_forced_runs_and_drafts_without_changing_outputs(tiny_tokenizer):
    """Concurrent greedy requests share forward passes in which every row brings its forced run
    and its prompt-lookup draft (cut to a share of PASS_TOKENS): the same texts as one at a time."""
    title = "return the library books to the city library before noon"
    target = ('<tool_call>{"name":"create_task","arguments":{"title":"' + title + '","due_date":"next Friday",'
              '"priority":"high"}}</tool_call>')
    msgs = [Message(role="user", content=f"add {title}, due next Friday, high priority")]
    requests = [req(load_tools("taskapi"), messages=msgs, tool_choice=c, max_tokens=120)
                for c in ("auto", "create_task", "required", "auto")]
    model = OracleModel(tiny_tokenizer, target)
    eng = TransformersEngine(model, tiny_tokenizer, name="oracle")
    alone = [run(eng, r)[0] for r in requests]
    assert eng.stats.sequence_passes == len(model.calls)  # one at a time: a sequence a pass

    async def one(r):
        return "".join([x.text async for x in eng.generate(r) if isinstance(x, EngineDelta)])

    async def all_at_once():
        return await asyncio.gather(*(one(r) for r in requests))

    eng.stats.reset()
    before = len(model.calls)
    together = asyncio.run(all_at_once())
    assert together == alone == [target] * len(requests)
    st = eng.stats
    assert st.max_batch > 1 and st.sequence_passes > len(model.calls) - before
    assert st.accepted_tokens > 0 and st.jump_tokens > 0
    # One token per row per pass would take a pass per token of the target.
    assert st.decode_passes < len(tiny_tokenizer.encode(target, add_special_tokens=False))


def test_a_full_batch_leaves_each_row_its_chosen_token_and_a_whole_draft():
    """With every slot busy, a row's share of a pass still holds its chosen token and a whole
    value-end draft: smaller shares split them over extra passes, each of which reads every weight
    again (8 clients on the demo model: 5.5-5.9 sequence-passes per request at shares of 8,
    3.9-4.4 at 16)."""
    from tooltune.engine.hf_engine import PASS_TOKENS, RUN_TOKENS

    share = PASS_TOKENS // TransformersEngine.max_concurrency
    assert share >= RUN_TOKENS + 1


def test_abandoned_stream_does_not_block_the_engine(engine, strict_tools):
    async def go():
        agen = engine.generate(req(strict_tools, tool_choice="none", max_tokens=200))
        await agen.__anext__()
        await agen.aclose()
        text = ""
        async for item in engine.generate(req(strict_tools, tool_choice="set_mode", max_tokens=50)):
            if isinstance(item, EngineDelta):
                text += item.text
        return text

    assert asyncio.run(go()).startswith('<tool_call>{"name":"set_mode"')


def test_calls_near_max_tokens_are_closed_not_cut(engine):
    """A random model writes strings forever; close to max_tokens the engine closes the call."""
    from tooltune.core.tools import parse_tools

    tools = parse_tools([{"type": "function", "function": {"name": "note", "parameters": {
        "type": "object", "properties": {"text": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["text", "tags"], "additionalProperties": False}}}])
    for seed in range(3):
        text, final = run(engine, req(tools, tool_choice="note", temperature=1.0, seed=seed, max_tokens=40))
        parsed = parse_output(text)
        assert final.finish_reason == "stop" and not parsed.malformed, text
        assert call_errors(parsed.tool_calls[0], tools) == []


def test_drafts_from_recent_outputs_save_passes_without_changing_the_output(tiny_tokenizer):
    """The second time a call's structure comes up, the engine drafts it from its own recent
    outputs (none of it is in the prompt): the same text, in fewer forward passes."""
    target = '<tool_call>{"name":"list_tasks","arguments":{"status":"done","priority":"low"}}</tool_call>'
    requests = [req(load_tools("taskapi"), messages=[Message(role="user", content=text)], max_tokens=80)
                for text in ("what is finished?", "and what did I finish before?", "show finished ones")]
    passes = {}
    for history in (False, True):
        model = OracleModel(tiny_tokenizer, target)
        eng = TransformersEngine(model, tiny_tokenizer, name="oracle")
        if not history:
            eng.history = None
        texts = []
        for r in requests:
            before = len(model.calls)
            texts.append(run(eng, r)[0])
        assert texts == [target] * len(requests)
        passes[history] = len(model.calls) - before  # the last request's passes
    assert passes[True] < passes[False], passes


def _last_turn_passes(tokenizer, turns, configure=lambda eng: None, **request) -> int:
    """Run ``turns`` ((user text, target output) pairs) on a fresh oracle engine that
    ``configure`` may change; each answer must be its target. The last request's forward passes.
    ``request``: more fields of every request (``tool_choice``)."""
    model = OracleModel(tokenizer, "")
    eng = TransformersEngine(model, tokenizer, name="oracle")
    configure(eng)
    for text, target in turns:
        model.target = target
        before = len(model.calls)
        assert run(eng, req(load_tools("taskapi"), messages=[Message(role="user", content=text)],
                            max_tokens=80, **request))[0] == target
    return len(model.calls) - before


def _create(title: str) -> str:
    return '<tool_call>{"name":"create_task","arguments":{"title":"%s"}}</tool_call>' % title


def test_a_copied_value_is_drafted_with_the_calls_usual_end(tiny_tokenizer):
    """After a title copied from the user's message (its first word matched across the quote/space
    difference), the engine drafts what followed titles in its recent calls (``"}}</tool_call>``),
    so the pass that checks the copy also checks the call's end: same text, fewer passes."""
    turns = [(text, _create(title)) for text, title in (
        ("add buy milk", "buy milk"), ("todo: call mom", "call mom"), ("new task the end", "the end"),
        ("please add call dad", "call dad"))]
    without = _last_turn_passes(tiny_tokenizer, turns, lambda eng: setattr(eng, "value_ends", None))
    assert _last_turn_passes(tiny_tokenizer, turns) < without


def test_a_value_is_copied_by_its_text_not_its_tokens(tiny_tokenizer):
    """Inside a string value the engine copies what follows the value's text in the prompt, even
    where the call and the message split it into different tokens."""
    from types import SimpleNamespace

    tok = tiny_tokenizer
    eng = TransformersEngine(OracleModel(tok, ""), tok, name="oracle")
    prompt = tok.encode("<|im_start|>user\nremind me to call mom by tomorrow<|im_end|>\n<|im_start|>assistant\n",
                        add_special_tokens=False)
    out = tok.encode('<tool_call>{"name":"create_task","arguments":{"title":"call mom","due_date":"tom',
                     add_special_tokens=False)
    seq = SimpleNamespace(ids=out, job=SimpleNamespace(prompt_ids=prompt, prompt_text=None))
    copy, ends = eng._copy_from_prompt(seq, 8)
    assert tok.decode(copy, skip_special_tokens=False).startswith("orrow<|im_end|>")  # 'tom' was 't' 'om'
    assert not ends
    quoted = tok.encode("<|im_start|>user\nadd 'buy milk' now please<|im_end|>\n<|im_start|>assistant\n",
                        add_special_tokens=False)
    seq = SimpleNamespace(ids=tok.encode('<tool_call>{"name":"create_task","arguments":{"title":"buy',
                                         add_special_tokens=False),
                          job=SimpleNamespace(prompt_ids=quoted, prompt_text=None))
    copy, ends = eng._copy_from_prompt(seq, 8)
    assert tok.decode(copy) == " milk" and ends  # the user's closing quote ends the value


def test_a_quoted_value_ends_at_its_quote(tiny_tokenizer, monkeypatch):
    """A title the user quoted is copied up to the closing quote, and the call's usual end is
    drafted with it: fewer passes than a copy that runs on into the rest of the message."""
    import tooltune.engine.hf_engine as hf

    turns = [(text, _create(title)) for text, title in (
        ("add 'buy milk' today please", "buy milk"), ("todo 'call mom' asap thanks", "call mom"),
        ("new 'the end' ok go", "the end"), ("please add 'call dad' now", "call dad"))]
    quoted = _last_turn_passes(tiny_tokenizer, turns)
    monkeypatch.setattr(hf, "_QUOTES", {})
    assert quoted < _last_turn_passes(tiny_tokenizer, turns)


def test_a_failure_after_the_answer_does_not_stop_the_worker(tiny_tokenizer, monkeypatch):
    """The final result goes out before the prefix cache and draft statistics are updated; if
    that bookkeeping fails (or the caller's event loop is already closed), the next requests
    are still served."""
    target = '<tool_call>{"name":"list_tasks","arguments":{}}</tool_call>'
    eng = TransformersEngine(OracleModel(tiny_tokenizer, target), tiny_tokenizer, name="oracle")

    def broken(*args, **kwargs):
        raise RuntimeError("statistics broke")

    monkeypatch.setattr(eng.value_ends, "add", broken)
    for text in ("what's open?", "and now?", "once more"):
        assert run(eng, req(load_tools("taskapi"), messages=[Message(role="user", content=text)],
                            max_tokens=40))[0] == target
    assert eng._worker.is_alive()


def test_an_id_from_the_message_is_drafted_at_the_start_of_the_value(tiny_tokenizer):
    """Where a number may start (``"task_id":``), the engine drafts a number of the last message,
    with the usual end of that argument: the whole call in the pass after the name."""
    turns = [(text, '<tool_call>{"name":"complete_task","arguments":{"task_id":%d}}</tool_call>' % task)
             for text, task in (("complete task 43 please", 43), ("task 7 is done", 7), ("finish 512 now", 512),
                                ("close 88 thanks", 88))]
    without = _last_turn_passes(tiny_tokenizer, turns,
                                lambda eng: setattr(eng, "_number_from_prompt", lambda *args: ([], False)))
    assert _last_turn_passes(tiny_tokenizer, turns) < without


def _seq(tok, prompt: str, output: str):
    from types import SimpleNamespace

    return SimpleNamespace(ids=tok.encode(output, add_special_tokens=False),
                           job=SimpleNamespace(prompt_ids=tok.encode(prompt, add_special_tokens=False), prompt_text=None))


def test_the_drafted_id_is_the_first_number_the_reply_has_not_used(tiny_tokenizer):
    """From the latest message that has a number (not the system prompt's date): its first number
    the reply does not hold yet, so a second call takes the next id."""
    tok = tiny_tokenizer
    eng = TransformersEngine(OracleModel(tok, ""), tok, name="oracle")
    system = "<|im_start|>system\nToday is 2026-03-05.<|im_end|>\n"
    header = "<|im_start|>assistant\n"
    start = '<tool_call>{"name":"update_task","arguments":{"task_id":'

    def drafted(prompt: str, output: str = start) -> str:
        seq = _seq(tok, prompt, output)
        return tok.decode(eng._copy_from_prompt(seq, 8)[0])

    assert drafted(system + "<|im_start|>user\nregarding task 274, the deadline moves to July 21<|im_end|>\n"
                   + header) == "274"
    earlier = (system + "<|im_start|>user\nadd buy milk<|im_end|>\n" + header
               + '<tool_call>{"name":"create_task","arguments":{"title":"buy milk"}}</tool_call><|im_end|>\n'
               + '<|im_start|>tool\n{"id":157,"title":"buy milk"}<|im_end|>\n'
               + "<|im_start|>user\nmark it done<|im_end|>\n" + header)
    assert drafted(earlier) == "157"
    both = system + "<|im_start|>user\nset 139 to low and complete 143<|im_end|>\n" + header
    assert drafted(both, '<tool_call>{"name":"update_task","arguments":{"task_id":139,"priority":"low"}}</tool_call>\n'
                   + start) == "143"
    assert drafted(system + "<|im_start|>user\nmark it done<|im_end|>\n" + header) == ""  # only the date


def test_a_quoted_span_is_drafted_where_a_string_value_starts(tiny_tokenizer):
    """A span the user quoted is drafted as soon as a string value opens (with the argument's
    usual end), so a quoted title costs no pass of its own: same text, fewer passes. (The named
    tool makes the grammar force the call up to the title's opening quote.)"""
    turns = [(text, _create(title)) for text, title in (
        ("please add 'buy milk' today", "buy milk"), ("a todo: 'call mom' asap", "call mom"),
        ("new one 'the end' ok", "the end"), ("hey add 'call dad' now", "call dad"))]
    without = _last_turn_passes(tiny_tokenizer, turns,
                                lambda eng: setattr(eng, "_quoted_from_prompt", lambda *args: ([], False)),
                                tool_choice="create_task")
    assert _last_turn_passes(tiny_tokenizer, turns, tool_choice="create_task") < without
    seq = _seq(tiny_tokenizer, "<|im_start|>user\nadd 'a' and it's 'b' ok<|im_end|>\n<|im_start|>assistant\n",
               '<tool_call>{"name":"create_task","arguments":{"title":"a","description":"')
    eng = TransformersEngine(OracleModel(tiny_tokenizer, ""), tiny_tokenizer, name="oracle")
    assert tiny_tokenizer.decode(eng._copy_from_prompt(seq, 8)[0]) == "b"  # 'a' is used; it's is no quote


def test_a_run_the_model_began_its_own_way_is_resumed(tiny_tokenizer):
    """Where the drafted end of a value was wrong (the call goes on with another argument), the
    next pass drafts the rest of the run that begins the way the model went: fewer passes."""
    prio = '<tool_call>{"name":"create_task","arguments":{"title":"%s","priority":"high"}}</tool_call>'
    turns = [(f"add {t}", _create(t)) for t in ("buy milk", "call mom", "the end")]
    turns += [(f"add {t} high", prio % t) for t in ("walk dog", "pay rent", "call dad")]
    without = _last_turn_passes(tiny_tokenizer, turns, lambda eng: setattr(eng.value_ends, "resume", lambda pieces: ""))
    assert _last_turn_passes(tiny_tokenizer, turns) < without


def test_seeded_replies_draft_from_the_first_request(tiny_tokenizer):
    """Replies a tuned model was trained on, counted before serving, give its first request the
    drafts a warm server would have: same text, fewer passes."""
    target = '<tool_call>{"name":"list_tasks","arguments":{"status":"done","priority":"low"}}</tool_call>'
    request = req(load_tools("taskapi"), messages=[Message(role="user", content="what is finished?")], max_tokens=80)
    passes = {}
    for seeded in (False, True):
        model = OracleModel(tiny_tokenizer, target)
        eng = TransformersEngine(model, tiny_tokenizer, name="oracle")
        if seeded:
            assert eng.seed_drafts([target, "Sure.", target, ""]) == 3
        assert run(eng, request)[0] == target
        passes[seeded] = len(model.calls)
    assert passes[True] < passes[False], passes
    off = TransformersEngine(OracleModel(tiny_tokenizer, target), tiny_tokenizer, name="oracle", speculate=0)
    assert off.seed_drafts([target]) == 0


def test_load_engine_seeds_drafts_from_the_models_saved_replies(tiny_model_dir, tmp_path):
    import shutil

    from tooltune.core.replies import save_replies
    from tooltune.engine.factory import load_engine

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    assert len(load_engine(model_dir).history) == 0
    save_replies(model_dir, ['<tool_call>{"name":"list_tasks","arguments":{}}</tool_call>', "Done.", "Sure, which one?"])
    eng = load_engine(model_dir)
    assert len(eng.history) == 3 and len(eng.value_ends) == 1  # the call's name and what followed it


def test_load_engine_limits_onednn_primitives_unless_the_environment_chose(tiny_model_dir, monkeypatch):
    from tooltune.engine.factory import PRIMITIVE_CACHE, load_engine

    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    load_engine(tiny_model_dir, quantize=None).close()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == PRIMITIVE_CACHE
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "512")
    load_engine(tiny_model_dir, quantize=None).close()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "512"


def test_close_stops_the_worker_and_a_later_request_starts_another(tiny_tokenizer):
    target = '<tool_call>{"name":"list_tasks","arguments":{}}</tool_call>'
    eng = TransformersEngine(OracleModel(tiny_tokenizer, target), tiny_tokenizer, name="oracle")
    request = req(load_tools("taskapi"), messages=[Message(role="user", content="what's open?")], max_tokens=40)
    assert run(eng, request)[0] == target
    worker = eng._worker
    eng.close()
    assert not worker.is_alive()
    eng.close()  # idempotent
    assert run(eng, request)[0] == target and eng._worker is not worker
    eng.close()
