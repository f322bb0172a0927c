"""tooltune: turn a small open LLM into a reliable tool-caller behind the OpenAI API."""

__version__ = "0.1.0"
