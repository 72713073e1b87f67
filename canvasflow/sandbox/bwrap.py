"""The bubblewrap command line every sandboxed process shares: read-only system folders
(and any the caller adds), a private /proc, /dev and /tmp, no namespace shared with the
server (no network unless asked), user ``nobody``, and only the environment given."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

SYSTEM = ("/usr", "/lib", "/lib64", "/bin", "/etc/alternatives")


def bwrap_args(
    read_only: Iterable[str] = SYSTEM,
    env: Mapping[str, str] | None = None,
    *,
    network: bool = False,
    dirs: Iterable[str] = (),
) -> list[str]:
    """bwrap's options (without the program to run)."""
    binds: list[str] = []
    for path in read_only:
        if Path(path).is_symlink():
            binds += ["--symlink", os.readlink(path), path]
        elif Path(path).exists():
            binds += ["--ro-bind", path, path]
    made = [part for d in dirs for part in ("--dir", d)]
    setenv = [part for k, v in sorted((env or {}).items()) for part in ("--setenv", k, v)]
    return [
        # the private /tmp first: a folder the caller adds may be under /tmp (a checkout
        # in /tmp/...), and a tmpfs mounted after its bind would hide it
        "--tmpfs",
        "/tmp",
        *binds,
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        *made,
        "--unshare-all",  # no network, no view of other processes
        *(["--share-net"] if network else []),
        "--uid",
        "65534",  # nobody
        "--gid",
        "65534",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        *setenv,
        "--chdir",
        "/tmp",
    ]
