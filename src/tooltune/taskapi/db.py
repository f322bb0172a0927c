"""Database: the ``tasks`` table and engine creation (SQLite in WAL mode, or any SQLAlchemy URL)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Date, DateTime, Engine, Enum, Integer, String, Text, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Priority(str, enum.Enum):
    low = "low"
    medium = "medium"
    high = "high"


class Status(str, enum.Enum):
    open = "open"
    done = "done"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Task(Base):
    __tablename__ = "tasks"
    # SQLite AUTOINCREMENT: ids of deleted tasks are never handed out again.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    due_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    # native_enum=False: a VARCHAR + CHECK constraint, portable across SQLite and PostgreSQL.
    priority: Mapped[Priority | None] = mapped_column(
        Enum(Priority, native_enum=False, validate_strings=True), default=None
    )
    status: Mapped[Status] = mapped_column(
        Enum(Status, native_enum=False, validate_strings=True), default=Status.open, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, onupdate=_now)


def make_engine(database_url: str) -> Engine:
    """An engine for ``database_url`` with the tables created.

    SQLite gets WAL mode (readers never block the writer) and a busy timeout, so concurrent
    writers wait for the lock instead of failing with "database is locked".
    """
    is_sqlite = database_url.startswith("sqlite")
    connect_args = {"check_same_thread": False, "timeout": 30} if is_sqlite else {}
    engine = create_engine(database_url, connect_args=connect_args)
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            if ":memory:" not in database_url and database_url not in ("sqlite://", "sqlite:///"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    Base.metadata.create_all(engine)
    return engine
