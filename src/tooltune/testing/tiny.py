"""Build a tiny byte-level BPE tokenizer and a tiny Llama model that use the tooltune chat format."""

from __future__ import annotations

from pathlib import Path

from tooltune.core.format import PromptFormat, chat_template, render
from tooltune.core.format.tokens import IM_END, IM_START
from tooltune.core.tools import load_tools
from tooltune.core.types import Message, make_call

_CORPUS_SEED = [
    "add a task to buy milk tomorrow with high priority",
    "complete task 3, delete task 12, list my open tasks",
    "Thanks! What can you do? Sorry, I can't do that.",
    "0123456789 {}[]:,\"' YYYY-MM-DD low medium high open done all",
]


def _corpus() -> list[str]:
    tools = load_tools("taskapi")
    msgs = [
        Message(role="system", content="Today is 2026-03-05 (Thursday)."),
        Message(role="user", content=_CORPUS_SEED[0]),
        Message(role="assistant", tool_calls=[make_call("create_task", {"title": "buy milk", "due_date": "2026-03-06"})]),
        Message(role="tool", tool_call_id="c1", content='{"id": 3}'),
        Message(role="assistant", content="Done."),
    ]
    text = render(msgs, tools).text
    return [text] * 4 + _CORPUS_SEED * 4 + [bytes(range(32, 127)).decode()]


def make_tiny_tokenizer(vocab_size: int = 600):
    """A fast byte-level BPE tokenizer with the ChatML special tokens and our chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=IM_START, eos_token=IM_END, pad_token=IM_END, unk_token="<|endoftext|>"
    )
    fast.chat_template = chat_template(PromptFormat())
    return fast


def make_tiny_model_dir(path: str | Path, seed: int = 0, hidden_size: int = 64, layers: int = 2) -> Path:
    """Save a randomly initialised tiny Llama + tokenizer (+ prompt_format.yaml) to ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = make_tiny_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    PromptFormat().save(path)
    return path
