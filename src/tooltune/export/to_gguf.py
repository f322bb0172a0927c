"""``tooltune export --format gguf``: a llama.cpp / Ollama GGUF file written with the ``gguf``
package, following llama.cpp's own ``convert_hf_to_gguf.py`` (ggml-org/llama.cpp, LlamaModel and
TextModel, read at commit a458664fc83b6513baea7adafcb0ef0626b006f8):

- tensor names from ``gguf.get_tensor_name_map(MODEL_ARCH.LLAMA, ...)``; q/k projections
  permuted to the interleaved RoPE layout llama.cpp's ``llama`` graph expects (``LlamaModel.permute``);
  no ``output.weight`` when embeddings are tied;
- 1-D tensors (norms) stay F32; 2-D ones become F16 or Q8_0 (``gguf.quants.quantize``);
- hparams under ``llama.*`` (TextModel.set_gguf_parameters + LlamaModel.set_gguf_parameters);
- the byte-level BPE vocabulary as ``get_vocab_base`` writes it (``tokenizer.ggml.model = gpt2``,
  tokens, token types, merges and special ids via ``gguf.SpecialVocab``) and the chat template.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from ..core.format import chat_template
from ..core.models import ModelNotFound, load_model
from .common import ExportError, staged_output, strip_generation_tags
from .modelfile import write_modelfile

QUANTS = ("f16", "q8_0")


def permute_qk(weights, n_head: int, n_head_kv: int | None):
    """llama.cpp's ``LlamaModel.permute``: HF's rotate-half RoPE layout -> interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _pre_tokenizer_name(tokenizer: Any) -> str:
    """llama.cpp's name for how the text is split before BPE (``tokenizer.ggml.pre``).

    llama.cpp recognises a tokenizer by hashing its output on a test text; we read the split
    rule itself instead: plain GPT-2 byte-level (our tiny tokenizer, and SmolLM2 as transformers
    rebuilds it from its GGUF) -> ``gpt-2``; single digits before byte-level (SmolLM2's original
    ``tokenizer.json``) -> ``smollm``.
    """
    pre = json.loads(tokenizer.backend_tokenizer.to_str()).get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [p.get("type") for p in parts]
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits"):
        return "smollm"
    raise ExportError(
        f"cannot name this tokenizer's pre-tokenizer for llama.cpp ({kinds}); "
        "export --format hf and convert with llama.cpp's convert_hf_to_gguf.py instead"
    )


def _vocab(tokenizer: Any, vocab_size: int) -> tuple[list[str], list[int]]:
    """Tokens and token types in id order, as llama.cpp's ``get_vocab_base`` lists them."""
    import gguf

    reverse = {i: t for t, i in tokenizer.get_vocab().items()}
    added = tokenizer.get_added_vocab()
    decoder = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        token = reverse[i]
        if token in added:
            if not decoder[i].normalized:  # llama.cpp expects added tokens pre-normalized
                token = tokenizer.decode(tokenizer.encode(token, add_special_tokens=False))
            if decoder[i].special or (token.startswith("<|") and token.endswith("|>")):
                types.append(gguf.TokenType.CONTROL)
            else:
                types.append(gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(token)
    return tokens, types


def _rope_theta(config: Any) -> float:
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type not in ("default", None):
        raise ExportError(f"RoPE scaling {rope_type!r} is not supported by the GGUF exporter")
    theta = params.get("rope_theta", getattr(config, "rope_theta", None))
    return float(theta if theta is not None else 10000.0)


def write_gguf(model: Any, tokenizer: Any, template: str, path: str | Path, quant: str = "f16", name: str = "tooltune") -> Path:
    """Write ``model`` (a transformers Llama) + ``tokenizer`` + chat ``template`` to ``path``."""
    import gguf
    import numpy as np

    if quant not in QUANTS:
        raise ExportError(f"unknown quantization {quant!r} (choose one of {', '.join(QUANTS)})")
    cfg = model.config
    if cfg.model_type != "llama":
        raise ExportError(
            f"GGUF export supports Llama-architecture models (SmolLM2 is one), not {cfg.model_type!r}; "
            "export --format hf and use llama.cpp's convert_hf_to_gguf.py"
        )
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise ExportError("GGUF export needs a fast (tokenizer.json) tokenizer")
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads or cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_head
    vocab_size = model.get_input_embeddings().weight.shape[0]
    ftype = gguf.LlamaFileType.MOSTLY_F16 if quant == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0
    pre = _pre_tokenizer_name(tokenizer)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_freq_base(_rope_theta(cfg))
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_file_type(ftype)
    w.add_vocab_size(vocab_size)
    w.add_rope_dimension_count(head_dim)
    if head_dim != cfg.hidden_size // n_head:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if quant != "f16":
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    tokens, types = _vocab(tokenizer, vocab_size)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)  # SpecialVocab reads merges and special ids from files
        special = gguf.SpecialVocab(tmp, load_merges=True, n_vocab=vocab_size)
    if not special.merges:
        raise ExportError("the tokenizer has no BPE merges (not a byte-level BPE tokenizer)")
    special.chat_template = None  # ours goes in below, without the transformers-only tags
    special.add_special_token = {}
    special.add_to_gguf(w, quiet=True)
    w.add_add_bos_token(False)  # tooltune renders the whole prompt itself (add_special_tokens=False)
    w.add_chat_template(strip_generation_tags(template))

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reuses token_embd when output.weight is absent
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue
        data = tensor.detach().float().cpu().numpy()
        if hf_name.endswith("q_proj.weight"):
            data = permute_qk(data, n_head, n_head)
        elif hf_name.endswith("k_proj.weight"):
            data = permute_qk(data, n_head, n_kv)
        new_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise ExportError(f"no GGUF name for tensor {hf_name!r}")
        if data.ndim <= 1 or new_name.endswith("_norm.weight"):
            w.add_tensor(new_name, data.astype(np.float32))
        elif quant == "q8_0" and data.shape[-1] % gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0] == 0:
            q = gguf.quants.quantize(data.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(new_name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:  # f16, or a row length Q8_0 blocks cannot tile (llama.cpp falls back to F16 too)
            w.add_tensor(new_name, data.astype(np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return Path(path)


def export_gguf(
    spec: str | Path, out: str | Path, quant: str = "f16", overwrite: bool = False, name: str | None = None
) -> Path:
    """Write ``OUT/model-<quant>.gguf`` and ``OUT/Modelfile`` for ``spec``; returns the GGUF path."""
    if quant not in QUANTS:
        raise ExportError(f"unknown quantization {quant!r} (choose one of {', '.join(QUANTS)})")
    try:
        model, tok, fmt = load_model(spec, dtype="float32", merge_adapter=True)
    except ModelNotFound as e:
        raise ExportError(str(e)) from None
    filename = f"model-{quant}.gguf"
    with staged_output(out, overwrite) as tmp:
        write_gguf(model, tok, chat_template(fmt), tmp / filename, quant, name or Path(str(spec)).name)
        write_modelfile(tmp / "Modelfile", filename, fmt)
    return Path(out) / filename
