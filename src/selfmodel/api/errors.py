"""The one place errors become HTTP responses, in the surface's format (OpenAI's by default).

FastAPI's own 422 validation list and Starlette's HTML-ish 404/405 are translated too, so a
client only ever sees ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from selfmodel.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    UpstreamError,
)

log = logging.getLogger("selfmodel.api")


def error_response(request: Request, exc: GatewayError) -> JSONResponse:
    """The error as the request's surface shapes it (``api.surfaces.begin`` names it before
    anything can fail); a request refused before any route ran (an unknown path or method)
    gets Anthropic's shape under /v1/messages, OpenAI's elsewhere."""
    surface = getattr(request.state, "surface", None)
    if surface is not None:
        body = surface.error_body(exc)
    elif request.url.path.startswith("/v1/messages"):
        body = exc.to_anthropic()
    else:
        body = exc.to_openai()
    headers = dict(exc.headers)
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        headers.setdefault("x-selfmodel-request-id", request_id)
    return JSONResponse(body, status_code=exc.status, headers=headers)


def _validation_param(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request.", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(loc) or None
    msg = first.get("msg", "invalid value")
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON.", None
    if first.get("type") == "missing":
        return f"Missing required parameter: '{param}'.", param
    return f"Invalid value for '{param}': {msg}.", param


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_param(exc)
        return error_response(request, InvalidRequest(message, param=param))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        err: GatewayError
        if exc.status_code == 404:
            err = NotFound(f"Unknown path: {request.method} {request.url.path}")
        elif exc.status_code == 405:
            err = InvalidRequest(f"Method {request.method} is not allowed on {request.url.path}.")
            err.status = 405
        elif exc.status_code == 413:
            err = PayloadTooLarge(str(exc.detail))
        else:
            err = InvalidRequest(str(exc.detail))
            err.status = exc.status_code
        return error_response(request, err)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, UpstreamError("Internal error in the gateway.",
                                                     code="internal_error"))
