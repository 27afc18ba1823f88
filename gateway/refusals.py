"""Refusing a request before GraphQL runs, with a GraphQL-shaped JSON body and an error code.

Strawberry's view answers such cases with plain text (`HTTPException`); our clients parse one format, so every
refusal is `{"errors": [{"message": ..., "extensions": {"code": ...}}]}` with the HTTP status that fits.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cross_web import HTTPException
from starlette.responses import Response
from starlette.types import Message, Receive

from resolvers.codes import Code

# Strawberry's own refusals (bad JSON, missing query, wrong method...) map to a code by status.
_CODE_BY_STATUS = {
    400: Code.BAD_REQUEST,
    404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED,
    413: Code.REQUEST_TOO_LARGE,
    415: Code.UNSUPPORTED_MEDIA_TYPE,
}


class RequestRefused(Exception):
    def __init__(self, status: int, code: Code, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extensions = extensions

    @classmethod
    def from_http_exception(cls, error: HTTPException) -> RequestRefused:
        return cls(error.status_code, _CODE_BY_STATUS.get(error.status_code, Code.BAD_REQUEST), error.reason)

    def body(self) -> dict[str, Any]:
        return {"errors": [{"message": self.message, "extensions": {"code": self.code.value, **self.extensions}}]}

    def response(self, content: bytes, headers: dict[str, str]) -> Response:
        if self.status == 408:
            # The rest of the body may still be on its way: the connection cannot carry another request.
            headers = {**headers, "connection": "close"}
        return Response(content, status_code=self.status, media_type="application/json", headers=headers)


def too_large(limit: int) -> RequestRefused:
    return RequestRefused(
        413,
        Code.REQUEST_TOO_LARGE,
        f"The request body exceeds {limit} bytes.",
        limit={"name": "maxBodyBytes", "value": limit},
    )


def too_slow(timeout_seconds: float) -> RequestRefused:
    return RequestRefused(
        408,
        Code.TIMEOUT,
        f"The request body did not arrive within {timeout_seconds:g} seconds.",
        limit={"name": "httpBodyTimeoutSeconds", "value": timeout_seconds},
    )


def limited_receive(receive: Receive, limit: int, timeout_seconds: float) -> Receive:
    """`receive`, refusing once more than `limit` body bytes arrived (a large body is never held in memory), or
    once the body took longer than `timeout_seconds` from now (the headers are in) to arrive: a client sending a
    byte now and then would otherwise hold the connection, and the request's pooled resources, for as long as
    it liked. After the last body message, messages (a disconnect) pass through unbounded."""
    received = 0
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    body_complete = False

    async def receive_limited() -> Message:
        nonlocal received, body_complete
        if body_complete:
            return await receive()
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise too_slow(timeout_seconds) from None
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit)
            body_complete = not message.get("more_body", False)
        return message

    return receive_limited
