import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

from tooltune.cli import app
from tooltune.core.format import PromptFormat, chat_template
from tooltune.core.models import load_model
from tooltune.core.replies import load_replies
from tooltune.core.tools import load_tools

runner = CliRunner()


def _err(result) -> str:
    return result.stderr if result.stderr_bytes is not None else result.output


def test_train_merge_reload(tiny_model_dir, train_jsonl, tmp_path):
    run, merged = tmp_path / "run", tmp_path / "merged"
    r = runner.invoke(app, ["train", "--data", str(train_jsonl), "--out", str(run), "--base", str(tiny_model_dir),
                            "--max-steps", "2", "--batch-tokens", "2048", "--lr", "0.01"])
    assert r.exit_code == 0, _err(r)
    r = runner.invoke(app, ["merge", str(run), str(merged)])
    assert r.exit_code == 0, _err(r)

    plain = AutoModelForCausalLM.from_pretrained(merged)
    tok = AutoTokenizer.from_pretrained(merged)
    assert tok.chat_template == chat_template(PromptFormat())
    assert (merged / "prompt_format.yaml").is_file()
    assert load_replies(merged) == load_replies(run / "model") != []
    msgs = [{"role": "user", "content": "add a task to buy milk"}]
    tools = [t.model_dump() for t in load_tools("taskapi")]
    tuned, tuned_tok, _ = load_model(run)
    text = tok.apply_chat_template(msgs, tools=tools, tokenize=False, add_generation_prompt=True)
    assert text == tuned_tok.apply_chat_template(msgs, tools=tools, tokenize=False, add_generation_prompt=True)
    assert len(tok("<tool_call>", add_special_tokens=False)["input_ids"]) == 1
    ids = tok(text + '<tool_call>{"name":"create_task"', return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        assert torch.allclose(plain(ids).logits, tuned(ids).logits, atol=1e-4)


def test_bad_recipe_key_fails_cleanly(train_jsonl, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("base: smollm2-135m\nlearnin_rate: 1\n")
    r = runner.invoke(app, ["train", "--data", str(train_jsonl), "--out", str(tmp_path / "o"), "--recipe", str(recipe)])
    assert r.exit_code == 2 and "unknown key 'learnin_rate'" in _err(r) and "Traceback" not in _err(r)


def test_bad_data_line_fails_before_training(tiny_model_dir, tmp_path, train_jsonl):
    bad = tmp_path / "train.jsonl"
    bad.write_text(train_jsonl.read_text().splitlines()[0] + '\n{"messages": []}\n')
    r = runner.invoke(app, ["train", "--data", str(bad), "--out", str(tmp_path / "o"), "--base", str(tiny_model_dir)])
    assert r.exit_code == 2 and "error: train.jsonl line 2:" in _err(r)
    assert not (tmp_path / "o").exists()


def test_missing_base_fails_cleanly(train_jsonl, tmp_path):
    r = runner.invoke(app, ["train", "--data", str(train_jsonl), "--out", str(tmp_path / "o"),
                            "--base", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "error: model not found" in _err(r)
