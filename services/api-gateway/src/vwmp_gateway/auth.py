"""Bearer tokens: verification against storage with a short cache, and the per-token rate limit."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import grpc
from vwmp_common.clients import StorageStub
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_gateway.problems import Problem, problem_from_rpc

UNAUTHENTICATED_DETAIL = "Send a valid token: Authorization: Bearer <token>"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id, its name (the audit actor) and its role."""

    id: str
    name: str
    role: str


ANONYMOUS = Principal(id="", name="anonymous", role="")


def unauthenticated(detail: str = UNAUTHENTICATED_DETAIL) -> Problem:
    """401 with the challenge header."""
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="vwmp"'})


def bearer_secret(authorization: str | None) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header, or None."""
    if not authorization:
        return None
    scheme, _, secret = authorization.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        return None
    return secret


class TokenVerifier:
    """Resolves secrets to principals; caches briefly so revocation takes effect within the TTL."""

    def __init__(self, storage: StorageStub, ttl_seconds: float, env_admin_secret: str | None) -> None:
        self._storage = storage
        self._ttl = ttl_seconds
        self._env_admin = env_admin_secret
        self._cache: dict[str, tuple[Principal, float]] = {}

    async def verify(self, secret: str, *, fresh: bool = False) -> Principal:
        """The principal of a secret; Problem 401 when unknown, revoked or expired."""
        if self._env_admin and hmac.compare_digest(secret.encode(), self._env_admin.encode()):
            return Principal(id="env-admin", name="admin (VWMP_ADMIN_TOKEN)", role="admin")
        if len(secret) > 512:
            raise unauthenticated()
        key = hashlib.sha256(secret.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached and not fresh and cached[1] > now:
            return cached[0]
        try:
            token = await self._storage.VerifyToken(storage_pb2.VerifyTokenRequest(secret=secret))
        except grpc.aio.AioRpcError as exc:
            self._cache.pop(key, None)
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise unauthenticated() from None
            raise problem_from_rpc(exc) from None
        principal = Principal(id=token.id, name=token.name, role=token.role)
        if len(self._cache) > 10_000:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
        if self._ttl > 0:
            self._cache[key] = (principal, now + self._ttl)
        return principal

    def forget(self, token_id: str) -> None:
        """Drop cached entries of a token revoked through this gateway (others expire with the TTL)."""
        self._cache = {k: v for k, v in self._cache.items() if v[0].id != token_id}


class RateLimiter:
    """Token bucket per caller key: `rate` requests per second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, key: str) -> None:
        """Take one request from the key's bucket; Problem 429 with Retry-After when empty."""
        if self._rate <= 0:
            return
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1:
            wait = max(1, int((1 - tokens) / self._rate + 0.999))
            self._buckets[key] = (tokens, now)
            raise Problem(429, "Too many requests for this token; slow down", headers={"Retry-After": str(wait)})
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > 50_000:
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
