"""The FastAPI app: thin routes over ``ChatService``; every error in OpenAI's JSON shape.

Routes: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /health`` (no key needed).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any, AsyncIterator, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tooltune.engine.base import Engine, EngineError

from .chat import ChatService, ChunkWriter, complete, engine_error, to_generation_request, with_deadline
from .protocol import APIError, ChatCompletionRequest, ErrorBody, ErrorResponse, ModelCard, ModelList, bad_request

log = logging.getLogger("tooltune.serve")

_ERROR_TYPES = {401: "authentication_error", 404: "not_found_error", 405: "invalid_request_error",
                408: "timeout_error", 413: "invalid_request_error", 429: "rate_limit_error"}


def error_response(status: int, message: str, type: str | None = None, param: str | None = None,
                   code: str | None = None, headers: Mapping[str, str] | None = None) -> JSONResponse:
    type = type or _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    body = ErrorResponse(error=ErrorBody(message=message, type=type, param=param, code=code))
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}))


def _api_error_response(e: APIError) -> JSONResponse:
    return JSONResponse(e.body.model_dump(), status_code=e.status, headers=e.headers)


def _field(loc: tuple[Any, ...]) -> str:
    """pydantic location -> OpenAI-style param path, e.g. ``messages[0].content``."""
    out = ""
    for part in loc:
        if part in ("body",) and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and (part.startswith("function-") or part.startswith("literal[")
                                        or part in ("str", "int", "float", "bool", "list[str]", "NamedToolChoice")):
            continue  # union-branch tags that pydantic puts into locations
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def validation_error(errors: list[dict[str, Any]]) -> APIError:
    """pydantic errors -> one 400 whose message says which field is wrong and why."""
    parts = []
    params = []
    for err in errors[:5]:
        where = _field(tuple(err.get("loc", ())))
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "missing":
            msg = "required field is missing"
        parts.append(f"{where}: {msg}")
        params.append(where)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return bad_request("invalid request: " + "; ".join(dict.fromkeys(parts)) + more, param=params[0] if params else None)


def create_app(engines: Mapping[str, Engine], api_key: str | None = None, request_timeout_s: float = 120,
               constrained: bool = True, max_retries: int = 2, max_queue: int = 64,
               max_concurrent: int | None = None) -> FastAPI:
    """An OpenAI-compatible app serving ``engines`` by name (the request's ``model`` picks one).

    ``api_key``: when set, ``/v1/*`` requires ``Authorization: Bearer <api_key>``.
    ``request_timeout_s``: a request (queueing included) past this gets a 408 error.
    ``constrained``: ask engines for grammar-constrained decoding.
    ``max_retries``: extra generations for a turn whose tool call failed validation.
    ``max_queue``: requests waiting per model beyond which new ones get 429.
    ``max_concurrent``: requests per model generating at once (default: the engine's
    ``max_concurrency`` attribute: 8 for transformers; else 4); the others wait in an asyncio queue.
    """
    if not engines:
        raise ValueError("create_app needs at least one engine")
    services = {name: ChatService(engine, name, constrained=constrained, max_retries=max_retries,
                                  max_queue=max_queue, max_concurrent=max_concurrent)
                for name, engine in engines.items()}
    app = FastAPI(title="tooltune", version="1", docs_url=None, redoc_url=None)
    app.state.services = services

    @app.exception_handler(APIError)
    async def _api_error(_: Request, e: APIError) -> JSONResponse:
        return _api_error_response(e)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        return _api_error_response(validation_error(list(e.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return error_response(e.status_code, str(e.detail), headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(_: Request, e: Exception) -> JSONResponse:
        log.exception("internal error")
        return error_response(500, f"internal server error: {type(e).__name__}", type="server_error")

    @app.middleware("http")
    async def _auth_and_guard(request: Request, call_next):
        if api_key is not None and request.url.path.startswith("/v1/"):
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
                return error_response(401, "missing or invalid API key (send 'Authorization: Bearer <key>')",
                                      code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        try:
            return await call_next(request)
        except Exception:  # the server never dies on a request
            log.exception("internal error")
            return error_response(500, "internal server error", type="server_error")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": list(services)}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        cards = [ModelCard(id=name, max_context=getattr(s.engine, "max_context", None)) for name, s in services.items()]
        return ModelList(data=cards).model_dump(exclude_none=True)

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str) -> dict[str, Any]:
        if model_id not in services:
            raise _unknown_model(model_id, services)
        return ModelCard(id=model_id, max_context=getattr(services[model_id].engine, "max_context", None)).model_dump(
            exclude_none=True)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        req = await _parse_request(request)
        service = services.get(req.model)
        if service is None:
            raise _unknown_model(req.model, services)
        ignored = req.ignored_fields()
        if ignored:
            log.info("ignoring unsupported request fields: %s", ", ".join(ignored))
        greq = to_generation_request(req, constrained=service.constrained)
        deadline = asyncio.get_running_loop().time() + request_timeout_s
        items = with_deadline(service.run(greq), deadline, request_timeout_s)
        try:
            if not req.stream:
                return (await complete(items, req.model)).model_dump(exclude_none=False)
            # Wait for the first output before answering, so that refusals (unknown tool,
            # context too long, queue full, a turn that failed every retry) get a real status.
            first = await items.__anext__()
        except EngineError as e:
            raise engine_error(e) from e
        except BaseException:
            await items.aclose()
            raise
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return StreamingResponse(_sse(items, first, ChunkWriter(req.model, include_usage)),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return app


def _unknown_model(name: str, services: Mapping[str, Any]) -> APIError:
    return APIError(404, f"The model {name!r} does not exist (served: {', '.join(services)})",
                    type="invalid_request_error", param="model", code="model_not_found")


async def _parse_request(request: Request) -> ChatCompletionRequest:
    raw = await request.body()
    if not raw:
        raise bad_request("the request body is empty; send a JSON chat-completion request")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise bad_request(f"the request body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise bad_request("the request body must be a JSON object")
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as e:
        raise validation_error(e.errors(include_url=False)) from None


async def _sse(items: AsyncIterator, first: Any, writer: ChunkWriter) -> AsyncIterator[str]:
    try:
        yield writer.role()
        for line in writer.item(first):
            yield line
        async for item in items:
            for line in writer.item(item):
                yield line
        yield "data: [DONE]\n\n"
    except APIError as e:
        yield e.sse()
    except EngineError as e:
        yield engine_error(e).sse()
    except Exception:  # headers are out: report in-band, never crash the server
        log.exception("internal error while streaming")
        yield APIError(500, "internal server error while streaming", type="server_error").sse()
    finally:
        await items.aclose()
