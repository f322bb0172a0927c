"""The Task API application factory."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .db import make_engine
from .routes import health, tasks


def _readable(error: dict) -> str:
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    msg = str(error.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    return f"{'.'.join(loc)}: {msg}" if loc else msg


def create_app(database_url: str, api_key: str | None = None) -> FastAPI:
    """The Task API on ``database_url`` (tables are created if missing)."""
    engine = make_engine(database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        engine.dispose()

    app = FastAPI(
        title="tooltune Task API",
        version="1.0",
        description="Tasks with a title, description, due date, priority and status.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.api_key = api_key or None

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Keep FastAPI's structured errors, plus one human-readable line clients can show as is.
        errors = exc.errors()
        return JSONResponse(
            status_code=422,
            content={
                "detail": [{k: e[k] for k in ("type", "loc", "msg") if k in e} for e in errors],
                "message": "; ".join(_readable(e) for e in errors),
            },
        )

    app.include_router(health.router)
    app.include_router(tasks.router)
    return app
