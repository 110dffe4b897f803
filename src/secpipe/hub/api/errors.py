"""Security Hub's error shape: `{"Message", "Code"}` plus `x-amzn-ErrorType`.

botocore reads the error code from `x-amzn-ErrorType` first, then the body, so both carry it;
the HTTP status is the one the service model gives the exception (InvalidInput 400, ...).
Every response also carries an `x-amzn-RequestId`, which botocore surfaces in
ResponseMetadata and which ties a client's error to the server log line.
"""

from __future__ import annotations

import logging
import math
import uuid

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from secpipe.hub.interface import HubError, InvalidInput, RetryLater

log = logging.getLogger("secpipe.hub.api")

REQUEST_ID = "x-amzn-RequestId"


class PayloadTooLarge(InvalidInput):
    """The request body is over Security Hub's 6 MB limit (answered 413, code InvalidInput)."""

    status = 413


def request_id(request: Request | None = None) -> str:
    if request is not None:
        rid = getattr(request.state, "request_id", None)
        if rid:
            return rid
        rid = str(uuid.uuid4())
        request.state.request_id = rid
        return rid
    return str(uuid.uuid4())


def error_response(code: str, message: str, status: int, request: Request | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    out = {"x-amzn-ErrorType": code, REQUEST_ID: request_id(request), **(headers or {})}
    return JSONResponse({"Message": message, "Code": code}, status_code=status, headers=out)


def hub_error_response(err: HubError, request: Request | None = None) -> JSONResponse:
    """The error's own code and status; Retry-After (whole seconds) when it says when."""
    retry = err.retry_after if isinstance(err, RetryLater) else None
    headers = {"Retry-After": str(max(1, math.ceil(retry)))} if retry is not None else None
    return error_response(err.code, err.message, err.status, request, headers)


def internal_error(request: Request | None, exc: BaseException) -> JSONResponse:
    """Log the traceback server-side; the client only learns the request id to quote."""
    rid = request_id(request)
    log.error("request %s failed", rid, exc_info=exc)
    return error_response("InternalException",
                          f"Internal error; quote request id {rid} to the hub's operator.",
                          500, request)


_STATUS_CODES = {
    400: "InvalidInputException",
    401: "InvalidAccessException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    405: "MethodNotAllowedException",
    409: "ResourceConflictException",
    413: "InvalidInputException",
    429: "TooManyRequestsException",
}


UNKNOWN_OPERATION = "UnknownOperationException"
# secpipe's own routes, where a wrong method stays 405 (a Security Hub path has no methods,
# only operations: a method the hub does not route there is an operation it lacks).
_NATIVE_PREFIXES = ("/v1/", "/ui", "/health")


def unknown_operation(request: Request) -> JSONResponse:
    """What AWS answers an action it does not know: 404, `UnknownOperationException`.

    A client can tell it from ResourceNotFoundException ("your insight does not exist"), which
    it could not when the hub answered every unrouted request that way.
    """
    path = request.url.path
    shown = path if len(path) <= 256 else path[:256] + "…"
    return error_response(UNKNOWN_OPERATION,
                          f"Unknown operation: {request.method} {shown} is not an operation "
                          "this hub implements", 404, request)


async def http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own 404/405 (no such route, wrong method) in the API's JSON shape."""
    assert isinstance(exc, HTTPException)
    code = _STATUS_CODES.get(exc.status_code, "InternalException")
    native = request.url.path.startswith(_NATIVE_PREFIXES)
    if exc.status_code == 404 or (exc.status_code == 405 and not native):
        return unknown_operation(request)
    if exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(code, message, exc.status_code, request, dict(exc.headers or {}))


async def hub_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HubError)
    if exc.status >= 500 and exc.status != 503:
        return internal_error(request, exc)
    return hub_error_response(exc, request)


async def unhandled_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    return internal_error(request, exc)
