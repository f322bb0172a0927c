"""Fine-tuning for tool calling: ``tooltune train`` and ``tooltune merge``."""
