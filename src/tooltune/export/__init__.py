"""Hand a trained model to the engines users move to: merged Hugging Face safetensors (vLLM,
plain transformers) and GGUF + Ollama Modelfile (llama.cpp, Ollama)."""

from .common import ExportError
from .hf import export_hf
from .to_gguf import export_gguf, write_gguf

__all__ = ["ExportError", "export_gguf", "export_hf", "write_gguf"]
