"""The prompt-format settings saved next to every trained model (``prompt_format.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

FORMAT_FILE = "prompt_format.yaml"


class PromptFormat(BaseModel):
    """How conversations become model text. Eval and serve read it back from the run directory."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["tooltune-chatml"] = Field(
        default="tooltune-chatml", description="Format family: ChatML turns with Hermes-style <tool_call> blocks."
    )
    version: int = Field(default=1, description="Bumped whenever the rendered text changes.")
    tool_style: Literal["signature", "json"] = Field(
        default="signature",
        description="How tools appear in the system prompt: compact TypeScript-like signatures "
        "(about half the tokens) or one compact JSON object per tool.",
    )

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / FORMAT_FILE
        path.write_text(yaml.safe_dump(self.model_dump(), sort_keys=False))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "PromptFormat":
        """The format saved in ``directory``; the default when none was saved (a plain HF model)."""
        path = Path(directory) / FORMAT_FILE
        if not path.is_file():
            return cls()
        data = yaml.safe_load(path.read_text()) or {}
        return cls.model_validate(data)
