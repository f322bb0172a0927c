"""Shared generation engine (part of the core): eval's in-process runs and the server both use it.

``base`` fixes the interface; implementations: ``scripted`` (a test double that replays
fixed outputs) and the transformers-backed engine.
"""

from .base import (
    ContextTooLong,
    Engine,
    EngineDelta,
    EngineError,
    EngineFinal,
    GenerationRequest,
    SamplingParams,
    ToolChoice,
)
from .factory import load_engine

__all__ = [
    "ContextTooLong", "Engine", "EngineDelta", "EngineError", "EngineFinal", "GenerationRequest",
    "SamplingParams", "ToolChoice", "load_engine",
]
