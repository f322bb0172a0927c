"""Importing the engine package stays cheap: torch and llama.cpp load only when an engine is built."""

import subprocess
import sys


def test_engine_package_imports_neither_torch_nor_llamacpp():
    code = "import sys, tooltune.engine; print(sorted(m for m in ('torch', 'xllamacpp', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
