"""``tooltune taskapi serve``: run the Task API with uvicorn."""

from __future__ import annotations

from typing import Optional

import typer
from pydantic import ValidationError

app = typer.Typer(no_args_is_help=True, help="The Task API (REST service the agent's tools call).")


@app.callback()
def _group() -> None:
    """The Task API (REST service the agent's tools call)."""  # keeps `serve` a sub-command


@app.command()
def serve(
    database_url: Optional[str] = typer.Option(
        None, help="SQLAlchemy URL, e.g. sqlite:///tasks.db (default) or postgresql+psycopg://user:pw@host/db."
    ),
    host: Optional[str] = typer.Option(None, help="Interface to listen on [default: 127.0.0.1]."),
    port: Optional[int] = typer.Option(None, help="TCP port [default: 8001]."),
    api_key: Optional[str] = typer.Option(
        None, help="Require this key on /tasks (Authorization: Bearer KEY or X-API-Key).", envvar="TOOLTUNE_TASKAPI_API_KEY"
    ),
) -> None:
    """Serve the Task API; OpenAPI docs at /docs."""
    import uvicorn
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from .app import create_app
    from .settings import Settings

    try:
        settings = Settings.from_env(database_url=database_url, host=host, port=port, api_key=api_key)
    except ValidationError as exc:
        typer.echo(f"error: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(code=2)
    try:
        application = create_app(settings.database_url, api_key=settings.api_key)
    except (ArgumentError, SQLAlchemyError, ImportError) as exc:
        typer.echo(f"error: cannot open database {settings.database_url!r}: {exc}", err=True)
        raise typer.Exit(code=2)
    typer.echo(f"Task API on http://{settings.host}:{settings.port} (docs: /docs), database {settings.database_url}", err=True)
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="info")
