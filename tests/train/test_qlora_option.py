"""QLoRA is a recipe setting; where it cannot run (no CUDA GPU) it stops before training with a clear message."""

import pytest
import torch
from typer.testing import CliRunner

from tooltune.cli import app
from tooltune.train.config import RecipeError, make_config


def test_nf4_needs_lora():
    with pytest.raises(RecipeError, match="needs method lora"):
        make_config(None, {"quantization": "nf4", "method": "full"})
    assert make_config(None, {"quantization": "nf4"}).quantization == "nf4"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown on machines without CUDA")
def test_nf4_without_cuda_is_a_clean_error(tmp_path, tiny_model_dir):
    from tooltune.core.tools import load_tools
    from tooltune.core.types import Conversation, Message

    data = tmp_path / "train.jsonl"
    conv = Conversation(messages=[Message(role="user", content="hi"), Message(role="assistant", content="Hello.")],
                        tools=load_tools("taskapi"))
    import json

    data.write_text(json.dumps(conv.to_json()) + "\n")
    recipe = tmp_path / "qlora.yaml"
    recipe.write_text(f"base: {tiny_model_dir}\nmethod: lora\nquantization: nf4\n")
    result = CliRunner().invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--recipe", str(recipe)])
    assert result.exit_code == 2
    assert "QLoRA (quantization: nf4) needs a CUDA GPU" in result.output
    assert "Traceback" not in result.output
