"""The shipped base model (smollm2-135m) exported for real: sizes and logits agreement are
printed (``pytest -m slow -s tests/export/test_embedded_export.py``) and bounded."""

import pytest
import torch

from tooltune.core.format import render_prompt
from tooltune.core.models import load_model
from tooltune.export import export_gguf, export_hf

pytestmark = pytest.mark.slow

# Max |logit difference| against the float32 source on a tool prompt (logits span about +-30).
TOLERANCE = {"f16": 0.1, "q8_0": 1.0}


@pytest.fixture(scope="module")
def source(tool_prompt):
    messages, tools = tool_prompt
    model, tok, _ = load_model("smollm2-135m")
    text = render_prompt(messages, tools)
    ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(ids).logits[0, -1]
    return text, ids, logits


@pytest.mark.parametrize("quant", ["f16", "q8_0"])
def test_embedded_gguf_agrees_with_source(source, quant, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    text, ids, want = source
    path = export_gguf("smollm2-135m", tmp_path / quant, quant=quant)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    assert tok(text, add_special_tokens=False, return_tensors="pt").input_ids.tolist() == ids.tolist()
    with torch.no_grad():
        got = model(ids).logits[0, -1]
    diff = (got - want).abs().max().item()
    print(f"\nsmollm2-135m {quant}: {path.stat().st_size / 2**20:.1f} MiB, max |dlogit| {diff:.4f}, "
          f"argmax same: {bool(got.argmax() == want.argmax())}")
    assert diff < TOLERANCE[quant]
    assert got.argmax() == want.argmax()

    xlc = pytest.importorskip("xllamacpp")
    params = xlc.CommonParams()
    params.model.path = str(path)
    params.n_ctx = 2048
    params.cpuparams.n_threads = 2
    server = xlc.Server(params)
    out = server.handle_completions({"prompt": ids[0].tolist(), "max_tokens": 1, "temperature": 0, "n_probs": 5})
    del server
    top = out["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    ref = torch.log_softmax(want, dim=-1)
    dlp = max(abs(t["logprob"] - ref[t["id"]].item()) for t in top)
    print(f"llama.cpp {quant}: top-1 {top[0]['token']!r}, max |dlogprob| over its top-5 {dlp:.4f}")
    assert top[0]["id"] == int(want.argmax())
    assert dlp < TOLERANCE[quant]


def test_embedded_hf_export_size(tmp_path):
    out = export_hf("smollm2-135m", tmp_path / "hf", dtype="bfloat16")
    size = sum(p.stat().st_size for p in out.iterdir()) / 2**20
    print(f"\nsmollm2-135m hf bfloat16: {size:.1f} MiB")
    assert (out / "model.safetensors").stat().st_size < 300 * 2**20
