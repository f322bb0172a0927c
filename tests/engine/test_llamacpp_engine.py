"""LlamaCppEngine on the tiny model exported to GGUF: the same modes and schemas as the
transformers engine under random weights, the export cache, limits, cancellation, concurrency."""

from __future__ import annotations

import asyncio

import pytest

from tooltune.core.validate import schema_errors
from tooltune.engine import ContextTooLong, EngineDelta, EngineError, EngineFinal

from .conftest import MODES, assert_valid_for_mode
from .test_hf_engine import req, run
from .test_hf_engine import test_none_mode_never_calls  # noqa: F401  collected here, on this module's engine

pytest.importorskip("xllamacpp")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("cache")
    mp.setenv("TOOLTUNE_CACHE", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def engine(tiny_model_dir, cache):
    from tooltune.engine import load_engine

    return load_engine(str(tiny_model_dir), backend="llama.cpp", max_context=512, slots=2, threads=1)


def test_exports_once_into_the_cache(engine, tiny_model_dir, cache):
    from tooltune.engine.llamacpp_engine import gguf_for

    assert engine.gguf.is_file() and cache in engine.gguf.parents
    assert engine.gguf.name == "model-f16.gguf"
    mtime = engine.gguf.stat().st_mtime_ns
    assert gguf_for(str(tiny_model_dir), "f16") == engine.gguf and engine.gguf.stat().st_mtime_ns == mtime


def test_required_named_and_single_modes_give_valid_calls_from_a_random_model(engine, strict_tools):
    for seed in range(3):
        for choice, parallel in MODES:
            text, final = run(engine, req(strict_tools, tool_choice=choice, parallel_tool_calls=parallel,
                                          temperature=1.0, seed=seed, max_tokens=160))
            if final.finish_reason != "length":  # no call-closing near the limit in this engine
                assert_valid_for_mode(text, final, choice, parallel, strict_tools)


def test_response_format_json_schema(engine):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "ok": {"type": "boolean"}},
              "required": ["n", "ok"], "additionalProperties": False}
    import json

    for seed in range(2):
        text, final = run(engine, req([], response_format={"type": "json_schema", "json_schema": {"schema": schema}},
                                      temperature=1.0, seed=seed, max_tokens=60))
        if final.finish_reason == "stop":
            assert schema_errors(json.loads(text), schema) == []


def test_greedy_is_deterministic_and_usage_is_reported(engine, strict_tools):
    r = req(strict_tools, tool_choice="required", max_tokens=60)
    (a, fa), (b, fb) = run(engine, r), run(engine, r)
    assert a == b
    assert fa.prompt_tokens == fb.prompt_tokens > 50 and fa.completion_tokens > 0
    assert fb.cached_tokens > 0  # the second request reuses the slot's KV cache


def test_limits_and_bad_requests_raise_before_generating(engine, strict_tools):
    with pytest.raises(ContextTooLong):
        run(engine, req(strict_tools, max_tokens=500))
    with pytest.raises(EngineError, match="unknown tool"):
        run(engine, req(strict_tools, tool_choice="nope"))
    with pytest.raises(EngineError, match="at least 1"):
        run(engine, req(strict_tools, max_tokens=0))
    text, final = run(engine, req([], tool_choice="auto", temperature=1.0, seed=3, max_tokens=5))
    assert final.completion_tokens <= 5


def test_streams_in_pieces_and_an_abandoned_stream_frees_its_slot(engine, strict_tools):
    async def first_delta_only():
        gen = engine.generate(req(strict_tools, tool_choice="none", temperature=1.0, seed=1, max_tokens=200))
        item = await gen.__anext__()
        await gen.aclose()
        return item

    assert isinstance(asyncio.run(first_delta_only()), EngineDelta)

    async def collect():
        items = [i async for i in engine.generate(req(strict_tools, tool_choice="none", temperature=1.0, seed=2,
                                                       max_tokens=20))]
        return items

    items = asyncio.run(collect())
    assert isinstance(items[-1], EngineFinal) and sum(isinstance(i, EngineDelta) for i in items) >= 2


def test_concurrent_requests_get_their_own_results(engine, strict_tools):
    requests = [req(strict_tools, tool_choice=c, temperature=1.0, seed=s, max_tokens=60)
                for s, c in enumerate(["required", "none", "set_mode", "required"])]
    alone = [run(engine, r)[0] for r in requests]

    async def together():
        async def one(r):
            return "".join([i.text async for i in engine.generate(r) if isinstance(i, EngineDelta)])
        return await asyncio.gather(*(one(r) for r in requests))

    assert asyncio.run(together()) == alone


def test_unknown_backend_is_refused(tiny_model_dir):
    from tooltune.engine import load_engine

    with pytest.raises(ValueError, match="unknown backend 'vllm'"):
        load_engine(str(tiny_model_dir), backend="vllm")
