"""`tooltune export --format hf`: a plain transformers directory equal to the merged run."""

import json

import pytest
import torch
import typer
from typer.testing import CliRunner

from tooltune.core.format import render_prompt
from tooltune.core.format.tokens import IM_END
from tooltune.core.models import load_model
from tooltune.core.replies import load_replies
from tooltune.export import ExportError, export_hf
from tooltune.export.cli import export as export_cmd


@pytest.fixture(scope="module")
def hf_dir(tiny_run_dir, tmp_path_factory):
    return export_hf(tiny_run_dir, tmp_path_factory.mktemp("exp") / "hf")


def test_plain_transformers_loads_the_merged_model(any_run_dir, tiny_model_dir, tool_prompt, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_dir = export_hf(any_run_dir, tmp_path / "hf")
    messages, tools = tool_prompt
    merged, tok, _ = load_model(any_run_dir)  # base + adapter, merged by peft
    base, _, _ = load_model(tiny_model_dir)
    plain = AutoModelForCausalLM.from_pretrained(hf_dir)  # no peft, no tooltune
    plain_tok = AutoTokenizer.from_pretrained(hf_dir)
    assert not (hf_dir / "adapter_config.json").exists()

    text = render_prompt(messages, tools)
    # The exported tokenizer's own chat template renders our format byte for byte.
    assert plain_tok.apply_chat_template(
        [m.model_dump(exclude_none=True) for m in messages], tools=[t.model_dump() for t in tools],
        add_generation_prompt=True, tokenize=False,
    ) == text
    # vLLM hands the template tool-call arguments as objects (parsed JSON): same text
    as_objects = [m.model_dump(exclude_none=True) for m in messages]
    for m in as_objects:
        for c in m.get("tool_calls", []):
            c["function"]["arguments"] = json.loads(c["function"]["arguments"])
    assert plain_tok.apply_chat_template(
        as_objects, tools=[t.model_dump() for t in tools], add_generation_prompt=True, tokenize=False
    ) == text
    ids = plain_tok(text, add_special_tokens=False, return_tensors="pt").input_ids
    assert ids.tolist() == tok(text, add_special_tokens=False, return_tensors="pt").input_ids.tolist()
    with torch.no_grad():
        want = merged(ids).logits[0, -1]
        got = plain(ids).logits[0, -1]
        head = ids[:, :20]  # system-prompt tokens only: the base may lack added tokens
        n = base.config.vocab_size
        moved = (base(head).logits[..., :n] - merged(head).logits[..., :n]).abs().max()
    assert torch.allclose(got, want, atol=1e-5)
    assert moved > 1e-3  # the adapter really is in the exported weights


def test_stops_at_im_end_and_keeps_prompt_format(hf_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf_dir)
    gen = json.loads((hf_dir / "generation_config.json").read_text())
    eos = gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]]
    assert tok.convert_tokens_to_ids(IM_END) in eos
    assert (hf_dir / "prompt_format.yaml").is_file()
    assert load_replies(hf_dir) == ['<tool_call>{"name":"list_tasks","arguments":{}}</tool_call>', "Done."]
    assert (hf_dir / "model.safetensors").is_file()


def test_never_overwrites_existing_output(tiny_run_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(ExportError, match="not empty"):
        export_hf(tiny_run_dir, out)
    assert (out / "keep.txt").read_text() == "user data"
    assert not (tmp_path / "out.partial").exists()


def test_cli_errors_are_one_line(tmp_path):
    app = typer.Typer()
    app.command()(export_cmd)
    result = CliRunner().invoke(app, [str(tmp_path / "nope"), str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: ") and "Traceback" not in result.output
    result = CliRunner().invoke(app, [str(tmp_path), str(tmp_path / "out"), "--format", "onnx"])
    assert result.exit_code == 2 and "unknown format" in result.output
