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
        kw.setdefault("quantize", None)  # float32: the tests compare with stock transformers
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
                 position_ids=None, ragged=None):
        """A ragged pass (``tooltune.engine.batch``): every sequence's new tokens end to end."""
        import torch

        width = input_ids.shape[1]
        self.calls.append(width)
        x = input_ids.to(torch.float32).view(1, 1, width, 1)
        ragged.update(x, x, 0)
        logits = torch.zeros(1, width, self.vocab)
        for seq, start, n in ragged.segments:
            # Each new position predicts the token after it (drafts read them all; decoding the last).
            tokens = seq.keys[0][0, :seq.length + n, 0].long().tolist()
            for j in range(n):
                seen = tokens[:seq.length + j + 1]
                done = self.tok.decode(seen, skip_special_tokens=False).rsplit("<|im_start|>assistant\n", 1)[-1]
                if self.target.startswith(done) and len(done) < len(self.target):
                    nxt = self.tok.encode(self.target[len(done):], add_special_tokens=False)[0]
                else:
                    nxt = self.end
                logits[0, start + j, nxt] = 10.0
        return SimpleNamespace(logits=logits[:, logits_to_keep])
