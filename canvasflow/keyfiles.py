"""Files that hold secrets in the data dir: created once, mode 0600, never logged."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from canvasflow.config import Settings

ADMIN_KEY_FILE = "admin.key"
SECRET_KEY_FILE = "secret.key"


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), replacing any old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def secret_key(settings: Settings) -> bytes:
    """The server's secret (signs sessions; encrypts secrets at rest): CANVASFLOW_SECRET_KEY,
    else a random key kept in the data dir. A urlsafe-base64 32-byte key (Fernet's shape)."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.data_dir / SECRET_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as f:
                f.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    return path.read_text().strip().encode()


def secret_fingerprint(secret: bytes) -> str:
    """What tells two secret keys apart without telling either (an HMAC of a constant)."""
    import hashlib
    import hmac

    return hmac.new(secret, b"canvasflow secret key check", hashlib.sha256).hexdigest()[:32]


async def check_shared_secret(store: object, settings: Settings) -> None:
    """Every process on one database uses one secret key (sessions are signed and
    credentials encrypted with it): a process whose key is not the one the database was
    first used with refuses to start, naming the variable."""
    from canvasflow.store.repo import Store

    assert isinstance(store, Store)
    mine = secret_fingerprint(secret_key(settings))
    if await store.agreed("secret_fingerprint", mine) != mine:
        raise SystemExit(
            "canvasflow: CANVASFLOW_SECRET_KEY differs from the secret key this database was "
            "first used with (its sessions and stored credentials need that one): give every "
            "process the same CANVASFLOW_SECRET_KEY"
        )
