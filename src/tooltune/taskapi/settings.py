"""Task API settings: one validated object, filled from CLI flags or environment variables."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_DATABASE_URL = "sqlite:///tasks.db"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the database; a SQLite file by default (WAL mode).",
    )
    api_key: str | None = Field(
        default=None,
        description="If set, every /tasks request must send it as 'Authorization: Bearer KEY' or 'X-API-Key'.",
    )
    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=8001, ge=0, le=65535, description="TCP port to listen on.")

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        """Settings from TOOLTUNE_TASKAPI_* variables, with non-None overrides winning."""
        values: dict[str, object] = {}
        for name in cls.model_fields:
            env = os.environ.get(f"TOOLTUNE_TASKAPI_{name.upper()}")
            if env is not None:
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
