"""``tooltune serve``: load one or more models and serve them behind the OpenAI API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import typer

from tooltune.core.models import EMBEDDED


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def default_name(spec: str) -> str:
    """The name a model is served under when ``--model`` gives none: the embedded name, a
    directory's basename (the run directory's for ``RUN_DIR/model``), or the HF id."""
    if spec in EMBEDDED:
        return spec
    path = Path(spec)
    if path.is_dir():
        path = path.resolve()
        if path.name == "model" and path.parent.name:
            return path.parent.name
        return path.name
    return spec


def parse_model_args(values: List[str]) -> list[tuple[str, str]]:
    """``--model`` values -> (name, spec) pairs; ``NAME=SPEC`` names one explicitly."""
    out: list[tuple[str, str]] = []
    for value in values:
        name, sep, spec = value.partition("=")
        if sep and name and spec and not Path(value).exists():
            if not all(c.isalnum() or c in "._-/:" for c in name):
                raise ValueError(f"--model {value!r}: invalid model name {name!r}")
        else:
            name, spec = default_name(value), value
        if not spec:
            raise ValueError(f"--model {value!r}: no model given after '='")
        if name in {n for n, _ in out}:
            raise ValueError(f"two models would be served as {name!r}; name them with --model NAME=SPEC")
        out.append((name, spec))
    return out


def serve(
    model: List[str] = typer.Option(..., "--model", "-m", help=(
        "Model to serve: run dir, merged model dir, Hugging Face id/path, or embedded name "
        f"({', '.join(EMBEDDED)}). Repeat to serve several; NAME=SPEC sets the served name.")),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="TOOLTUNE_API_KEY",
                                          help="Require 'Authorization: Bearer KEY' on /v1/*."),
    no_constrain: bool = typer.Option(False, "--no-constrain",
                                      help="Turn grammar-constrained decoding off (calls are still validated)."),
    backend: str = typer.Option("transformers", help=(
        "Engine: transformers, or llama.cpp (the model exported to GGUF once, cached, and run by "
        "llama.cpp in this process: faster on a CPU).")),
    gguf_quant: str = typer.Option("f16", help="llama.cpp weights: f16 (same outputs as float32 on our eval) or q8_0 (faster)."),
    quantize: str = typer.Option("auto", help=(
        "transformers weights: auto (bf16-linear where this CPU runs bfloat16 products fast, measured "
        "at load; else float32), bf16-linear (bfloat16 products in the Linear layers, the rest float32), "
        "none (float32 as loaded), int8 (int8 weight-only Linear layers), w8a8 (int8 weights and "
        "activations, calibrated) or bf16.")),
    timeout: float = typer.Option(120.0, help="Seconds a request may take, queueing included."),
    max_concurrent: Optional[int] = typer.Option(None, help="Requests per model generating at once (default: the engine's, 8 for transformers, else 4)."),
    speculate: int = typer.Option(8, min=0, help="Draft tokens per step for greedy requests, copied from the prompt or from recent outputs (0: off; same outputs)."),
) -> None:
    """Serve models behind an OpenAI-compatible API (POST /v1/chat/completions, GET /v1/models)."""
    from tooltune.engine.factory import QUANTIZE_MODES

    if quantize not in (*QUANTIZE_MODES, "none"):
        raise _fail(f"--quantize must be {', '.join(QUANTIZE_MODES)} or none, not {quantize!r}")
    if backend not in ("transformers", "llama.cpp"):
        raise _fail(f"--backend must be transformers or llama.cpp, not {backend!r}")
    if gguf_quant not in ("f16", "q8_0"):
        raise _fail(f"--gguf-quant must be f16 or q8_0, not {gguf_quant!r}")
    if backend == "llama.cpp" and quantize not in ("none", "auto"):
        raise _fail("--quantize applies to the transformers backend; use --gguf-quant with llama.cpp")
    if timeout <= 0:
        raise _fail("--timeout must be positive")
    try:
        models = parse_model_args(model)
    except ValueError as e:
        raise _fail(str(e)) from None

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import uvicorn

    from tooltune.core.models import ModelNotFound
    from tooltune.engine import EngineError, load_engine

    from .app import create_app

    engines = {}
    for name, spec in models:
        typer.echo(f"loading {name} ({spec}) ...", err=True)
        try:
            engines[name] = load_engine(spec, constrained=not no_constrain,
                                        quantize=None if quantize == "none" else quantize, name=name,
                                        speculate=speculate, backend=backend, slots=max_concurrent,
                                        gguf_quant=gguf_quant)
        except (ModelNotFound, EngineError) as e:
            raise _fail(str(e)) from None
        except (OSError, ValueError) as e:
            raise _fail(f"cannot load {spec!r}: {e}") from None
    app = create_app(engines, api_key=api_key, request_timeout_s=timeout, constrained=not no_constrain,
                     max_concurrent=max_concurrent)
    typer.echo(f"serving {', '.join(engines)} at http://{host}:{port}/v1", err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    except OSError as e:  # e.g. the port is taken
        raise _fail(f"cannot listen on {host}:{port}: {e}") from None
