"""``tooltune export --format hf``: one self-contained Hugging Face model directory.

Merged safetensors (the LoRA adapter folded in), the tokenizer with the tooltune chat template
(``chat_template.jinja``, which transformers and vLLM both read), ``generation_config.json``
that stops at ``<|im_end|>``, and ``prompt_format.yaml`` (with the sample replies, when the run
saved them) so tooltune's own eval/serve can read it back.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core.format.tokens import IM_END
from ..core.models import ModelNotFound, load_model, resolve
from ..core.replies import copy_replies
from .common import ExportError, staged_output

DTYPES = ("auto", "float32", "bfloat16", "float16")


def source_dtype(spec: str | Path) -> str:
    """The dtype the (base) weights were saved in, so an export is not silently up/down-cast."""
    config = Path(resolve(spec).weights) / "config.json"
    if config.is_file():
        data = json.loads(config.read_text())
        dtype = data.get("dtype") or data.get("torch_dtype")
        if dtype in DTYPES[1:]:
            return dtype
    return "float32"


def stop_token_ids(tokenizer) -> list[int]:
    """End-of-turn ids a server must stop on: ``<|im_end|>`` first, then the tokenizer's EOS."""
    ids = [tokenizer.convert_tokens_to_ids(IM_END)]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return [i for i in ids if i is not None and i != tokenizer.unk_token_id]


def export_hf(spec: str | Path, out: str | Path, dtype: str = "auto", overwrite: bool = False) -> Path:
    """Write the merged model for ``spec`` (run dir, model dir or embedded name) to ``out``."""
    if dtype not in DTYPES:
        raise ExportError(f"unknown dtype {dtype!r} (choose one of {', '.join(DTYPES)})")
    try:
        dtype = source_dtype(spec) if dtype == "auto" else dtype
        model, tok, fmt = load_model(spec, dtype=dtype, merge_adapter=True)
    except ModelNotFound as e:
        raise ExportError(str(e)) from None
    stops = stop_token_ids(tok)
    if not stops:
        raise ExportError(f"the tokenizer has no {IM_END} token: not a tooltune-format model")
    with staged_output(out, overwrite) as tmp:
        model.generation_config.eos_token_id = stops if len(stops) > 1 else stops[0]
        model.generation_config.pad_token_id = tok.pad_token_id
        model.config.eos_token_id = stops[0]
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)  # carries our chat template (load_model installed it)
        fmt.save(tmp)
        copy_replies(resolve(spec).fmt_dir, tmp)
    return Path(out)
