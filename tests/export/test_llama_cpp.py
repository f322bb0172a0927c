"""The exported GGUF in llama.cpp itself (the engine Ollama and LM Studio run), via the
prebuilt ``xllamacpp`` wheel: it loads, renders our chat template from the file's metadata
byte for byte (llama.cpp's own Jinja engine), tokenizes like our tokenizer, and its
next-token log-probabilities match the source model's."""

import httpx
import pytest
import torch

from tooltune.core.format import render_prompt
from tooltune.core.models import load_model
from tooltune.export import export_gguf

xlc = pytest.importorskip("xllamacpp")

# Max |log-prob difference| of llama.cpp's top tokens against the float32 source.
TOLERANCE = {"f16": 1e-2, "q8_0": 5e-2}


def start_server(gguf_path):
    params = xlc.CommonParams()
    params.model.path = str(gguf_path)
    params.n_ctx = 2048
    params.cpuparams.n_threads = 2
    params.use_jinja = True  # render with the file's tokenizer.chat_template
    return xlc.Server(params)


@pytest.fixture(scope="module", params=["f16", "q8_0"])
def served(request, any_run_dir, tmp_path_factory):
    path = export_gguf(any_run_dir, tmp_path_factory.mktemp("llcpp") / request.param, quant=request.param)
    server = start_server(path)
    yield request.param, any_run_dir, server
    del server


def test_llama_cpp_renders_tokenizes_and_scores_like_the_source(served, tool_prompt):
    quant, run_dir, server = served
    messages, tools = tool_prompt
    want_text = render_prompt(messages, tools)
    src, tok, _ = load_model(run_dir)
    ids = tok(want_text, add_special_tokens=False).input_ids

    base = server.listening_address
    body = {"messages": [m.model_dump(exclude_none=True) for m in messages], "tools": [t.model_dump() for t in tools]}
    rendered = httpx.post(base + "/apply-template", json=body, timeout=60).json()["prompt"]
    assert rendered == want_text

    tokens = httpx.post(
        base + "/tokenize", json={"content": want_text, "add_special": False, "parse_special": True}, timeout=60
    ).json()["tokens"]
    assert tokens == ids

    out = server.handle_completions({"prompt": ids, "max_tokens": 1, "temperature": 0, "n_probs": 5})
    top = out["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    with torch.no_grad():
        ref = torch.log_softmax(src(torch.tensor([ids])).logits[0, -1], dim=-1)
    diffs = [abs(t["logprob"] - ref[t["id"]].item()) for t in top]
    assert max(diffs) < TOLERANCE[quant], diffs
    top2 = ref.topk(2).values
    if top2[0] - top2[1] > 2 * TOLERANCE[quant]:  # near-ties of a random tiny model may swap
        assert top[0]["id"] == int(ref.argmax())
