"""Request and response bodies (separate models per use, FastAPI full-stack-template style)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_date(value: Any) -> Any:
    # Only ISO YYYY-MM-DD strings (or None); pydantic would also take timestamps and datetimes.
    if value is None or isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise ValueError(f"must be a date in YYYY-MM-DD format, got {value!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a real calendar date") from None


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
DueDate = Annotated[dt.date | None, BeforeValidator(_parse_date)]
PriorityValue = Literal["low", "medium", "high"]
StatusValue = Literal["open", "done"]


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title = Field(description="Short title of the task (not empty).")
    description: Description | None = Field(default=None, description="Longer details.")
    due_date: DueDate = Field(default=None, description="Due date, YYYY-MM-DD.")
    priority: PriorityValue | None = Field(default=None, description="low, medium or high (optional).")


class TaskUpdate(BaseModel):
    """Only the fields sent are changed; sending null clears description, due_date or priority."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = Field(default=None, description="New title (not empty).")
    description: Description | None = Field(default=None, description="New details.")
    due_date: DueDate = Field(default=None, description="New due date, YYYY-MM-DD.")
    priority: PriorityValue | None = Field(default=None, description="New priority.")
    status: StatusValue | None = Field(default=None, description="open or done.")


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str | None
    due_date: dt.date | None
    priority: PriorityValue | None
    status: StatusValue
    created_at: dt.datetime
    updated_at: dt.datetime


class TasksPublic(BaseModel):
    data: list[TaskPublic] = Field(description="The tasks, by id.")
    count: int = Field(description="How many tasks matched.")


class Message(BaseModel):
    message: str
