"""Shared core used by every stage (data, train, eval, serve). Never imports torch."""
