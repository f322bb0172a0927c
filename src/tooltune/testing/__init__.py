"""Hermetic stand-ins for tests and examples: a tiny tokenizer and a tiny causal LM built from a config.

Nothing here downloads anything; a tiny model trains and generates in milliseconds on a CPU.
"""
