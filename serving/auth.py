"""Bearer-token authentication as a gRPC server interceptor (RFC 6750 ``authorization: Bearer <token>``).

Tokens come from a file (one per line, ``#`` comments and blank lines ignored), are compared in
constant time (``hmac.compare_digest`` against every token, no early exit), and are never logged.
Health checks and reflection stay open so load balancers and ``grpcurl list`` work without a
secret; every other method (inference, model listing) needs a valid token, else UNAUTHENTICATED.
Use it together with TLS: a bearer token on a plaintext connection can be read on the wire.

The interceptor is a ``grpc.aio`` one (the server runs on asyncio); :meth:`TokenAuthInterceptor.authorized`
is plain and synchronous, so other transports can check the same header with it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from pathlib import Path

import grpc

from serving.observe import clip
from translate.errors import ConfigError

log = logging.getLogger(__name__)

OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
                 "/grpc.reflection.v1.ServerReflection/")
MIN_TOKEN_LENGTH = 16


def load_tokens(path: str | Path) -> list[str]:
    """Read the token file; raises ConfigError when it is missing, empty or has short tokens."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the token file {p}: {exc}") from exc
    tokens = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if not tokens:
        raise ConfigError(f"the token file {p} holds no tokens (one token per line); "
                          "create one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    short = [i for i, t in enumerate(tokens, 1) if len(t) < MIN_TOKEN_LENGTH or any(c.isspace() for c in t)]
    if short:
        raise ConfigError(f"token(s) number {short} in {p} are shorter than {MIN_TOKEN_LENGTH} characters or "
                          "contain spaces; use e.g. secrets.token_urlsafe(32)")
    return tokens


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Reject calls without a valid bearer token, except the open health/reflection methods."""

    def __init__(self, tokens: Iterable[str], open_prefixes: tuple[str, ...] = OPEN_PREFIXES) -> None:
        self._tokens = [t.encode() for t in tokens]
        if not self._tokens:
            raise ConfigError("TokenAuthInterceptor needs at least one token")
        self.open_prefixes = open_prefixes

    def refusal(self, header: str | None, carrier: str = "metadata") -> str | None:
        """None when ``header`` carries a valid token, else why not (other transports answer with this)."""
        if self.authorized(header):
            return None
        return (f"missing bearer token: send {carrier} 'authorization: Bearer <token>'" if header is None
                else "invalid bearer token")

    def authorized(self, header: str | None) -> bool:
        """True if ``header`` is ``Bearer <one of the tokens>`` (constant time over all tokens)."""
        scheme, _, presented = (header or "").partition(" ")
        candidate = presented.strip().encode()
        ok = False
        for token in self._tokens:  # no early exit: timing does not reveal which token matched
            ok |= hmac.compare_digest(candidate, token)
        return ok and scheme.lower() == "bearer"

    async def intercept_service(self, continuation, handler_call_details):
        """grpc.aio.ServerInterceptor hook: pass through or answer UNAUTHENTICATED."""
        method = handler_call_details.method
        if method.startswith(self.open_prefixes):
            return await continuation(handler_call_details)
        header = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                header = value
        handler = await continuation(handler_call_details)
        if handler is None or self.authorized(header):  # unknown method: let grpc answer UNIMPLEMENTED
            return handler
        message = ("missing bearer token: send metadata 'authorization: Bearer <token>'" if header is None
                   else "invalid bearer token")
        log.info("rejected %s: %s", clip(method), message)
        return _deny(handler, message)


def _deny(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same streaming kind as ``handler`` that aborts with UNAUTHENTICATED."""

    async def abort(_request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    kwargs = {"request_deserializer": None, "response_serializer": None}
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort, **kwargs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort, **kwargs)
    return grpc.unary_unary_rpc_method_handler(abort, **kwargs)
