"""API keys: made, hashed with scrypt, checked in constant time.

A key reads ``cf_<prefix>_<secret>``. The prefix finds the stored row; the secret is
compared as a scrypt hash with ``hmac.compare_digest``. Verified keys are remembered
(as a SHA-256 of the whole key) for a minute, so scrypt is not paid on every request."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

from canvasflow.config import Settings
from canvasflow.keyfiles import ADMIN_KEY_FILE, write_private
from canvasflow.remembered import Remembered
from canvasflow.store.models import ApiKey, utcnow
from canvasflow.store.repo import Store

SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
REFRESH_SECONDS = 2.0
REMEMBER_SECONDS = 60.0


def _hash(secret: str, salt: str) -> str:
    return hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), **SCRYPT).hex()


def new_key(
    name: str, admin: bool = False, canvas_ids: list[str] | None = None, given: str | None = None
) -> tuple[ApiKey, str]:
    """A new key row and the key itself (shown once, never stored); ``given``: a key the
    operator made (``cf_<12 hex>_<secret>``, its shape checked by the settings), stored
    the same way."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    if given is not None:
        _, prefix, secret = given.split("_", 2)
    salt = secrets.token_hex(16)
    row = ApiKey(
        id=str(uuid.uuid4()),
        name=name,
        prefix=prefix,
        salt=salt,
        hash=_hash(secret, salt),
        is_admin=admin,
        canvas_ids=list(canvas_ids or []),
        created_at=utcnow(),
    )
    return row, f"cf_{prefix}_{secret}"


@dataclass(frozen=True)
class Caller:
    key_id: str
    name: str
    is_admin: bool
    canvas_ids: tuple[str, ...]


class KeyRing:
    """The keys of the store, re-read every couple of seconds (other processes may add
    or delete keys), as :class:`Remembered` values: just past that time the keys held
    are used while one read refreshes them, so a burst of requests does not wait in
    line behind it; changes through this process (``invalidate``) are waited for."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._keys: dict[str, ApiKey] = {}
        self._ring: Remembered[str, dict[str, ApiKey]] = Remembered(self._read, REFRESH_SECONDS)
        self._verified: dict[bytes, tuple[str, float]] = {}

    async def _read(self, _: str) -> dict[str, ApiKey]:
        return {k.prefix: k for k in await self.store.api_keys()}

    async def _refresh(self) -> None:
        self._keys = await self._ring.get("keys") or {}

    def invalidate(self) -> None:
        self._ring.forget()
        self._verified.clear()

    async def admin_required(self) -> bool:
        await self._refresh()
        return any(k.is_admin for k in self._keys.values())

    async def canvas_locked(self, canvas_id: str) -> bool:
        await self._refresh()
        return any(canvas_id in (k.canvas_ids or []) for k in self._keys.values())

    async def by_id(self, key_id: str) -> Caller | None:
        """The caller of a session: its key must still exist."""
        await self._refresh()
        for row in self._keys.values():
            if row.id == key_id:
                return Caller(row.id, row.name, row.is_admin, tuple(row.canvas_ids or ()))
        return None

    async def identify(self, presented: str | None) -> Caller | None:
        """The caller a key belongs to, or None for a missing or wrong key."""
        if not presented:
            return None
        await self._refresh()
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != "cf":
            return None
        row = self._keys.get(parts[1])
        if row is None:
            return None
        digest = hashlib.sha256(presented.encode()).digest()
        seen = self._verified.get(digest)
        if seen is None or seen[0] != row.id or seen[1] < time.monotonic():
            computed = await asyncio.to_thread(_hash, parts[2], row.salt)
            if not hmac.compare_digest(computed, row.hash):
                return None
            self._verified[digest] = (row.id, time.monotonic() + REMEMBER_SECONDS)
        return Caller(row.id, row.name, row.is_admin, tuple(row.canvas_ids or ()))


async def bootstrap_admin(store: Store, settings: Settings) -> str | None:
    """The first start's admin key: created when no admin key exists, printed once by
    the caller, stored as a hash, and copied for the CLI into ``<data dir>/admin.key``
    (mode 0600). None when an admin key exists already."""
    if any(k.is_admin for k in await store.api_keys()):
        return None
    if settings.admin_key:  # the operator's own (a Kubernetes Secret): stored, not printed
        row, _ = new_key("admin (operator's)", admin=True, given=settings.admin_key)
        await store.add_api_key(row)
        return None
    row, key = new_key("admin (first start)", admin=True)
    await store.add_api_key(row)
    write_private(settings.data_dir / ADMIN_KEY_FILE, key + "\n")
    return key


# -- browser sessions --------------------------------------------------------------------

SESSION_COOKIE = "cf_session"
SESSION_SECONDS = 12 * 3600


def make_session(key_id: str, secret: bytes, now: float | None = None) -> str:
    """A session cookie's value: the key's id and an expiry, signed with the server's
    secret (HMAC-SHA256). The key itself never reaches the browser's storage."""
    expires = int((now or time.time()) + SESSION_SECONDS)
    payload = f"{key_id}.{expires}"
    sig = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{sig}"


def read_session(value: str | None, secret: bytes) -> str | None:
    """The key id of a valid, unexpired session cookie."""
    if not value or value.count(".") != 2:
        return None
    key_id, expires, sig = value.split(".")
    good = hmac.new(secret, f"{key_id}.{expires}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sig, good) or not expires.isdigit():
        return None
    return key_id if int(expires) > time.time() else None


def session_parts(value: str | None) -> tuple[str, int] | None:
    """A well-formed cookie's signature and expiry (for signing it out); not checked."""
    if not value or value.count(".") != 2:
        return None
    _, expires, sig = value.split(".")
    return (sig, int(expires)) if expires.isdigit() and len(sig) == 64 else None


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
