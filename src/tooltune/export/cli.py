"""``tooltune export RUN_DIR OUT --format hf|gguf [--quant f16|q8_0]``."""

from __future__ import annotations

from pathlib import Path

import typer


def export(
    run_dir: str = typer.Argument(..., help="Run directory (or RUN_DIR/model, a model directory, or an embedded model name)."),
    out: Path = typer.Argument(..., help="Output directory (must not exist or be empty, unless --overwrite)."),
    format: str = typer.Option("hf", "--format", "-f", help="hf: merged safetensors for transformers/vLLM; gguf: llama.cpp/Ollama."),
    quant: str = typer.Option("f16", "--quant", help="GGUF weight type: f16 or q8_0 (norms stay f32)."),
    dtype: str = typer.Option("auto", "--dtype", help="hf only: auto (as the base was saved), float32, bfloat16 or float16."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists (only after the export succeeded)."),
) -> None:
    """Export a trained model: merged Hugging Face directory (vLLM) or GGUF + Ollama Modelfile."""
    from .common import ExportError

    try:
        if format == "hf":
            from .hf import export_hf

            path = export_hf(run_dir, out, dtype=dtype, overwrite=overwrite)
            typer.echo(f"wrote {path} (serve: vllm serve {path} --enable-auto-tool-choice --tool-call-parser hermes)")
        elif format == "gguf":
            from .to_gguf import export_gguf

            path = export_gguf(run_dir, out, quant=quant, overwrite=overwrite)
            size = path.stat().st_size / 2**20
            typer.echo(f"wrote {path} ({size:.1f} MiB) and {path.parent / 'Modelfile'} "
                       f"(ollama create NAME -f {path.parent / 'Modelfile'})")
        else:
            raise ExportError(f"unknown format {format!r} (choose hf or gguf)")
    except ExportError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from None
