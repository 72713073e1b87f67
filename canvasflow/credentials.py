"""Credentials: the secrets nodes use (API keys...), in Flowise's kinds and field names.

Secret values are encrypted at rest with Fernet (``cryptography``), under the server's
secret key (``CANVASFLOW_SECRET_KEY``, else ``<data dir>/secret.key``); no route returns
them (password fields come back masked) and nothing logs them. Decrypted values are
kept in memory for a few seconds, so a prediction does not pay a database read and a
decryption for every request; a change made here is seen at once, one made by another
process within ``CACHE_SECONDS``."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from functools import cache
from importlib import resources
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

from canvasflow.errors import BadRequest, NotFound
from canvasflow.store.models import Credential
from canvasflow.store.repo import Store

MASK = "********"
CACHE_SECONDS = 5.0


@cache
def kinds() -> dict[str, dict[str, Any]]:
    """Flowise 3.1.2's credential kinds, by name, with their fields."""
    data = resources.files("canvasflow.data").joinpath("flowise_3.1.2_credentials.json")
    return {k["name"]: k for k in json.loads(data.read_text("utf-8"))}


def secret_fields(kind: str) -> set[str]:
    fields = kinds().get(kind, {}).get("inputs", [])
    return {f["name"] for f in fields if f.get("type") == "password"}


def fernet_for(secret: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret).digest()))


class Credentials:
    def __init__(self, store: Store, secret: bytes) -> None:
        self.store = store
        self.fernet = fernet_for(secret)
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}

    # -- at rest ---------------------------------------------------------------------

    def seal(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"fernet": self.fernet.encrypt(orjson.dumps(data)).decode()}

    def open(self, stored: dict[str, Any]) -> dict[str, Any]:
        token = stored.get("fernet")
        if token is None:
            return dict(stored)  # written before encryption (or by a test) in the clear
        try:
            return orjson.loads(self.fernet.decrypt(token.encode()))
        except InvalidToken:
            raise BadRequest(
                "a credential cannot be decrypted: CANVASFLOW_SECRET_KEY is not the key it "
                "was stored with"
            ) from None

    def masked(self, row: Credential) -> dict[str, Any]:
        plain = self.open(row.data or {})
        hidden = secret_fields(row.credential_name)
        return {k: (MASK if (k in hidden or not hidden) and v else v) for k, v in plain.items()}

    # -- the routes' operations -------------------------------------------------------------

    def _check_kind(self, kind: str, data: dict[str, Any]) -> None:
        known = kinds().get(kind)
        if known is None:
            raise BadRequest(f"unknown credential kind {kind!r}")
        fields = {f["name"] for f in known.get("inputs", [])}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise BadRequest(f"{kind} has no field {', '.join(map(repr, unknown))}")

    async def create(self, name: str, kind: str, data: dict[str, Any]) -> Credential:
        self._check_kind(kind, data)
        cred_id = await self.store.create_credential(name, kind, self.seal(data))
        row = await self.store.get_credential(cred_id)
        assert row is not None
        return row

    async def update(
        self, cred_id: str, name: str | None, data: dict[str, Any] | None
    ) -> Credential:
        row = await self.store.get_credential(cred_id)
        if row is None:
            raise NotFound(f"credential {cred_id} not found")
        sealed = None
        if data is not None:
            self._check_kind(row.credential_name, data)
            old = self.open(row.data or {})
            # a field sent back masked keeps its stored value
            merged = {k: (old.get(k) if v == MASK else v) for k, v in data.items()}
            sealed = self.seal(merged)
        updated = await self.store.update_credential(row.id, name=name, data=sealed)
        self._cache.pop(row.id, None)
        self._cache.pop(row.name, None)
        assert updated is not None
        return updated

    async def delete(self, cred_id: str) -> None:
        row = await self.store.get_credential(cred_id)
        if row is None or not await self.store.delete_credential(row.id):
            raise NotFound(f"credential {cred_id} not found")
        self._cache.pop(row.id, None)
        self._cache.pop(row.name, None)

    # -- what nodes read -----------------------------------------------------------------

    async def plain(self, ref: str) -> dict[str, Any] | None:
        """A credential's fields, by id or name; None when canvasflow has no such one
        (a Flowise export names Flowise's own ids: the node then uses the provider's
        environment variable)."""
        now = time.monotonic()
        hit = self._cache.get(ref)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = await self.store.get_credential(ref)
        value = self.open(row.data or {}) if row is not None else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[ref] = (now + CACHE_SECONDS, value)
        return value
