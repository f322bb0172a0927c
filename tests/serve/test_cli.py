"""``tooltune serve``: model naming, option checks, and what it hands to the app (no real model)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tooltune.cli import app
from tooltune.engine.scripted import ScriptedEngine
from tooltune.serve.cli import default_name, parse_model_args


def test_default_names(tmp_path):
    run = tmp_path / "my-run"
    (run / "model").mkdir(parents=True)
    merged = tmp_path / "merged"
    merged.mkdir()
    assert default_name("smollm2-135m") == "smollm2-135m"
    assert default_name(str(run)) == "my-run"
    assert default_name(str(run / "model")) == "my-run"
    assert default_name(str(merged)) == "merged"
    assert default_name("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_parse_model_args(tmp_path):
    assert parse_model_args(["smollm2-135m", "tuned=runs/x", "b=gemma3-270m"]) == [
        ("smollm2-135m", "smollm2-135m"), ("tuned", "runs/x"), ("b", "gemma3-270m")]
    odd = tmp_path / "a=b"
    odd.mkdir()
    assert parse_model_args([str(odd)]) == [("a=b", str(odd))], "an existing path with '=' is a path"
    with pytest.raises(ValueError, match="served as 'x'"):
        parse_model_args(["x=smollm2-135m", "x=gemma3-270m"])
    with pytest.raises(ValueError, match="invalid model name"):
        parse_model_args(["bad name=smollm2-135m"])


@pytest.mark.parametrize("quantize", ["int8", "w8a8"])
def test_serve_builds_the_app(monkeypatch, quantize):
    import uvicorn

    import tooltune.engine

    loaded, ran = [], {}

    def fake_load(spec, constrained=True, quantize=None, name=None, **kw):
        loaded.append((spec, constrained, quantize, name))
        return ScriptedEngine(["hi"], name=name)

    def fake_run(application, host, port, **kw):
        ran.update(app=application, host=host, port=port)

    monkeypatch.setattr(tooltune.engine, "load_engine", fake_load)
    monkeypatch.setattr(uvicorn, "run", fake_run)
    r = CliRunner().invoke(app, ["serve", "--model", "smollm2-135m", "--model", "t=gemma3-270m", "--port", "9001",
                                 "--api-key", "k", "--no-constrain", "--quantize", quantize])
    assert r.exit_code == 0, r.output
    assert loaded == [("smollm2-135m", False, quantize, "smollm2-135m"), ("gemma3-270m", False, quantize, "t")]
    assert ran["port"] == 9001 and ran["host"] == "127.0.0.1"
    services = ran["app"].state.services
    assert list(services) == ["smollm2-135m", "t"] and not services["t"].constrained


def test_serve_passes_the_llamacpp_backend_options(monkeypatch):
    import uvicorn

    import tooltune.engine

    seen = []
    monkeypatch.setattr(tooltune.engine, "load_engine",
                        lambda spec, name=None, **kw: seen.append(kw) or ScriptedEngine(["hi"], name=name))
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: None)
    r = CliRunner().invoke(app, ["serve", "--model", "smollm2-135m", "--backend", "llama.cpp", "--gguf-quant", "q8_0",
                                 "--max-concurrent", "6"])
    assert r.exit_code == 0, r.output
    assert seen[0]["backend"] == "llama.cpp" and seen[0]["gguf_quant"] == "q8_0" and seen[0]["slots"] == 6


@pytest.mark.parametrize("args,words", [
    (["--model", "smollm2-135m", "--quantize", "int4"], "--quantize"),
    (["--model", "smollm2-135m", "--backend", "vllm"], "--backend must be"),
    (["--model", "smollm2-135m", "--backend", "llama.cpp", "--gguf-quant", "q4_0"], "--gguf-quant must be"),
    (["--model", "smollm2-135m", "--backend", "llama.cpp", "--quantize", "int8"], "use --gguf-quant"),
    (["--model", "smollm2-135m", "--timeout", "0"], "--timeout"),
    (["--model", "x=a", "--model", "x=b"], "served as 'x'"),
    (["--model", "/no/such/model/dir"], "model not found"),
])
def test_bad_options_are_one_line_errors(args, words):
    r = CliRunner().invoke(app, ["serve", *args])
    assert r.exit_code == 2
    err = r.stderr if hasattr(r, "stderr") else r.output
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and words in lines[0], err
    assert "Traceback" not in r.output
