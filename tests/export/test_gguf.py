"""`tooltune export --format gguf`: the file transformers (and so llama.cpp's layout) reads back
gives the source model's next-token logits and tokenization, with our template in its metadata."""

import re

import numpy as np
import pytest
import torch

from tooltune.core.format import chat_template, render_prompt
from tooltune.core.models import load_model
from tooltune.export import ExportError, export_gguf
from tooltune.export.to_gguf import permute_qk

# Max |logit difference| allowed against the float32 source, per weight type.
TOLERANCE = {"f16": 5e-3, "q8_0": 5e-2}


def _metadata(path):
    import gguf

    reader = gguf.GGUFReader(path)
    return reader, {f.name: f for f in reader.fields.values()}


def _field_str(field):
    return bytes(field.parts[field.data[0]]).decode()


@pytest.fixture(scope="module")
def exports(tiny_run_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("gguf")
    return {q: export_gguf(tiny_run_dir, root / q, quant=q) for q in ("f16", "q8_0")}


@pytest.fixture(scope="module")
def any_exports(any_run_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("gguf-any")
    return any_run_dir, {q: export_gguf(any_run_dir, root / q, quant=q) for q in ("f16", "q8_0")}


def _logits(model, ids):
    with torch.no_grad():
        return model(ids).logits[0, -1]


@pytest.mark.parametrize("quant", ["f16", "q8_0"])
def test_gguf_logits_and_tokens_match_the_source(any_exports, tool_prompt, quant):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir, paths = any_exports
    path = paths[quant]
    messages, tools = tool_prompt
    src, tok, _ = load_model(run_dir)
    text = render_prompt(messages, tools)
    ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids

    gguf_tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    gguf_ids = gguf_tok(text, add_special_tokens=False, return_tensors="pt").input_ids
    assert gguf_ids.tolist() == ids.tolist()
    assert gguf_tok.decode(gguf_ids[0]) == text

    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    want, got = _logits(src, ids), _logits(model, ids)
    diff = (got - want).abs().max().item()
    assert diff < TOLERANCE[quant], diff
    top2 = want.topk(2).values
    if top2[0] - top2[1] > 2 * diff:  # a random tiny model has near-ties the rounding may swap
        assert got.argmax() == want.argmax()


def test_metadata_holds_template_tokenizer_and_hparams(exports, tiny_run_dir):
    import gguf

    _, tok, fmt = load_model(tiny_run_dir)
    reader, fields = _metadata(exports["q8_0"])
    template = _field_str(fields["tokenizer.chat_template"])
    assert not re.search(r"\{%-?\s*(end)?generation", template)  # llama.cpp's minja would reject it
    assert template == re.sub(r"\{%-?\s*(?:end)?generation\s*-?%\}", "", chat_template(fmt))
    assert _field_str(fields["general.architecture"]) == "llama"
    assert _field_str(fields["tokenizer.ggml.model"]) == "gpt2"
    assert _field_str(fields["tokenizer.ggml.pre"]) == "gpt-2"
    eos = int(fields["tokenizer.ggml.eos_token_id"].parts[-1][0])
    assert tok.convert_ids_to_tokens(eos) == "<|im_end|>"
    types = fields["tokenizer.ggml.token_type"]
    im_end_type = int(types.parts[types.data[tok.convert_tokens_to_ids("<|im_end|>")]][0])
    assert im_end_type == gguf.TokenType.CONTROL
    kinds = {t.name: t.tensor_type.name for t in reader.tensors}
    assert kinds["blk.0.attn_q.weight"] == "Q8_0" and kinds["blk.0.attn_norm.weight"] == "F32"
    assert "output.weight" not in kinds  # tied embeddings: llama.cpp reuses token_embd


def test_added_tool_tokens_are_user_defined(tiny_run_dir_tool_tokens, tmp_path):
    import gguf

    path = export_gguf(tiny_run_dir_tool_tokens, tmp_path / "tt")
    _, tok, _ = load_model(tiny_run_dir_tool_tokens)
    reader, fields = _metadata(path)
    types = fields["tokenizer.ggml.token_type"]
    tokens = fields["tokenizer.ggml.tokens"]
    for tag in ("<tool_call>", "</tool_call>"):
        i = tok.convert_tokens_to_ids(tag)
        assert bytes(tokens.parts[tokens.data[i]]).decode() == tag
        assert int(types.parts[types.data[i]][0]) == gguf.TokenType.USER_DEFINED  # matched whole, not special
    assert "output.weight" in {t.name for t in reader.tensors}  # untied after merging the saved embedding


def test_stripped_template_renders_the_same_text(tool_prompt, tiny_tokenizer):
    from tooltune.export.common import strip_generation_tags

    messages, tools = tool_prompt
    msgs = [m.model_dump(exclude_none=True) for m in messages]
    tdump = [t.model_dump() for t in tools]
    stripped = tiny_tokenizer.apply_chat_template(
        msgs, tools=tdump, add_generation_prompt=True, tokenize=False,
        chat_template=strip_generation_tags(tiny_tokenizer.chat_template),
    )
    assert stripped == render_prompt(messages, tools)


def test_qk_permutation_is_llama_cpp_interleaving():
    # Head of size 4 in HF rotate-half order [x0, x1, y0, y1] -> llama.cpp pairs [x0, y0, x1, y1].
    w = np.arange(8, dtype=np.float32).reshape(8, 1)  # 2 heads x head_dim 4
    assert permute_qk(w, 2, 2).ravel().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_refuses_other_architectures_and_quants(tmp_path, tiny_run_dir):
    with pytest.raises(ExportError, match="quantization"):
        export_gguf(tiny_run_dir, tmp_path / "x", quant="q4_0")
    assert not (tmp_path / "x").exists()


def test_cli_writes_gguf_and_modelfile(tiny_run_dir, tmp_path):
    import typer
    from typer.testing import CliRunner

    from tooltune.export.cli import export as export_cmd

    app = typer.Typer()
    app.command()(export_cmd)
    out = tmp_path / "g"
    result = CliRunner().invoke(app, [str(tiny_run_dir), str(out), "--format", "gguf", "--quant", "q8_0"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["Modelfile", "model-q8_0.gguf"]
    assert "ollama create" in result.output
    result = CliRunner().invoke(app, [str(tiny_run_dir), str(out), "--format", "gguf"])
    assert result.exit_code == 2 and "not empty" in result.output  # never overwrites silently
