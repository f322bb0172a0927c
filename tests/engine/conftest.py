"""Fixtures for engine tests: tiny models, a strict test tool set, and an "oracle" model.

The oracle model reads its whole token sequence back out of the KV cache (it stores token ids
as its keys), so any mistake in prefix reuse, rollback or jump-forward changes what it sees and
therefore what it writes. It always favours the next token of one target text.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tooltune.core.format.tokens import IM_END
from tooltune.core.tools import parse_tools

STRICT_TOOLS = [
    {"type": "function", "function": {
        "name": "set_alarm", "description": "Set an alarm.",
        "parameters": {
            "type": "object",
            "properties": {
                "hour": {"type": "integer", "minimum": 0, "maximum": 23},
                "label": {"type": "string", "maxLength": 6},
                "repeat": {"type": "string", "enum": ["never", "daily", "weekdays"]},
                "loud": {"type": "boolean"},
            },
            "required": ["hour", "repeat"],
            "additionalProperties": False,
        }}},
    {"type": "function", "function": {
        "name": "set_mode", "description": "Switch the mode.",
        "parameters": {
            "type": "object",
            "properties": {"mode": {"type": "string", "enum": ["dark", "light"]}},
            "required": ["mode"],
            "additionalProperties": False,
        }}},
]
"""Schemas a random model must still obey: bounded ints and strings, enums, required keys."""


MODES = [("required", True), ("required", False), ("set_alarm", True), ("auto", False)]
"""(tool_choice, parallel_tool_calls) pairs every engine is checked under with STRICT_TOOLS."""


def assert_valid_for_mode(text: str, final, choice: str, parallel: bool, tools) -> None:
    """What a finished, grammar-constrained turn must look like under ``tool_choice=choice``."""
    from tooltune.core.format import parse_output
    from tooltune.core.validate import call_errors

    parsed = parse_output(text)
    assert not parsed.malformed, text
    assert IM_END not in text
    if choice != "auto":
        assert final.finish_reason == "stop", text
        assert parsed.tool_calls and not parsed.content, text
    if choice == "set_alarm" or not parallel:
        assert len(parsed.tool_calls) <= 1, text
    if choice == "set_alarm":
        assert parsed.tool_calls[0].name == "set_alarm"
    for call in parsed.tool_calls:
        assert call_errors(call, tools) == [], text


@pytest.fixture(scope="session")
def strict_tools():
    return parse_tools(STRICT_TOOLS)


@pytest.fixture(scope="session")
def tiny_engine_factory(tiny_model_dir):
    """Build TransformersEngines over the tiny random Llama (fp32), with options."""
    from tooltune.engine import load_engine

    def make(**kw):
        return load_engine(str(tiny_model_dir), **kw)

    return make


class OracleModel:
    """A stand-in causal LM whose next token continues ``target`` (canonically tokenized) after
    the last assistant header, and ends the turn otherwise."""

    def __init__(self, tokenizer, target: str) -> None:
        import torch

        self.tok = tokenizer
        self.target = target
        self.vocab = len(tokenizer)
        self.end = tokenizer.convert_tokens_to_ids(IM_END)
        self.config = SimpleNamespace(max_position_embeddings=4096, vocab_size=self.vocab)
        self._emb = torch.nn.Embedding(self.vocab, 1)
        self.calls: list[int] = []

    def get_input_embeddings(self):
        return self._emb

    def __call__(self, input_ids, past_key_values, use_cache=True, logits_to_keep=1, attention_mask=None,
                 position_ids=None):
        import torch

        rows, width = input_ids.shape
        self.calls.append(width)
        x = input_ids.to(torch.float32).view(rows, 1, width, 1)
        keys, _ = past_key_values.update(x, x, 0)
        keys = keys.view(rows, -1).long()
        mask = attention_mask if attention_mask is not None else torch.ones_like(keys)
        logits = torch.zeros(rows, width, self.vocab)
        first_new = keys.shape[1] - width
        for r in range(rows):
            real = mask[r].nonzero().flatten()
            # Every real position of this feed predicts the token after it (speculative drafts
            # read them all; plain decoding reads the last).
            for n, col in enumerate(real.tolist()):
                if col < first_new:
                    continue
                seq = keys[r, real[: n + 1]].tolist()
                done = self.tok.decode(seq, skip_special_tokens=False).rsplit("<|im_start|>assistant\n", 1)[-1]
                if self.target.startswith(done) and len(done) < len(self.target):
                    nxt = self.tok.encode(self.target[len(done):], add_special_tokens=False)[0]
                else:
                    nxt = self.end
                logits[r, col - first_new, nxt] = 10.0
        return SimpleNamespace(logits=logits[:, -logits_to_keep:] if logits_to_keep else logits)
