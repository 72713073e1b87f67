"""The server's files folder (``CANVASFLOW_FILES_DIR``, else the data dir's ``files``),
where Folder with Files nodes read: list a folder, put a file, delete one. The studio
uploads files and whole folders here, one request per file, each within the body limit
(``CANVASFLOW_MAX_BODY_BYTES``). No path leads outside the folder: no ``..``, no
absolute or hidden part, nothing written through a link."""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, Depends, Query, Request

from canvasflow.errors import BadRequest, NotFound
from canvasflow.server.deps import state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import DeleteResult, FolderOut, StoredFile

router = APIRouter(
    prefix="/api/v1", tags=["files"], dependencies=[Depends(require_admin)], responses=ERRORS
)

FOLDER = Query("", description="A folder under the files folder (a Folder with Files node's)")
PATH = Query(..., description="The file, under the folder (parts separated by /)")


def _parts(given: str, what: str, empty_ok: bool) -> tuple[str, ...]:
    text = given.replace("\\", "/").strip("/")
    if "\0" in text or given.startswith(("/", "\\")) or (len(given) > 1 and given[1] == ":"):
        raise BadRequest(f"{what} {given!r} must be relative to the files folder")
    parts = tuple(p for p in PurePosixPath(text).parts if p not in ("", "."))
    if not parts and not empty_ok:
        raise BadRequest(f"{what} is empty")
    for part in parts:
        if part == ".." or part.startswith("."):
            raise BadRequest(f"{what} {given!r}: {part!r} is not allowed (no .., no hidden parts)")
    return parts


def _inside(root: Path, parts: tuple[str, ...]) -> Path:
    """``root/parts`` if neither it nor any folder on the way is a link out of ``root``."""
    top = root.resolve()
    target = top.joinpath(*parts)
    for up in [target, *target.parents]:
        if up == top:
            break
        if up.is_symlink():
            raise BadRequest(f"{'/'.join(parts)} goes through a link")
    if not target.resolve().is_relative_to(top):
        raise BadRequest(f"{'/'.join(parts)} leads outside the files folder")
    return target


def _listing(root: Path, folder: tuple[str, ...]) -> FolderOut:
    where = _inside(root, folder) if folder else root.resolve()
    name = "/".join(folder)
    if not where.is_dir():
        return FolderOut(folder=name, exists=False, files=[], totalBytes=0)
    files = []
    for path in sorted(where.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(where)
        if any(part.startswith(".") for part in rel.parts):
            continue  # a file being written, or hidden
        info = path.stat()
        files.append(
            StoredFile(
                path=rel.as_posix(),
                size=info.st_size,
                modified=datetime.fromtimestamp(info.st_mtime, UTC),
            )
        )
    return FolderOut(folder=name, exists=True, files=files, totalBytes=sum(f.size for f in files))


def _write(root: Path, parts: tuple[str, ...], data: bytes) -> StoredFile:
    root.mkdir(parents=True, exist_ok=True)
    target = _inside(root, parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    target = _inside(root, parts)  # again: the folders just made are ours, not links
    if target.is_dir():
        raise BadRequest(f"{'/'.join(parts)} is a folder")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    info = target.stat()
    return StoredFile(
        path="/".join(parts), size=info.st_size, modified=datetime.fromtimestamp(info.st_mtime, UTC)
    )


@router.get("/files", response_model=FolderOut)
async def list_files(request: Request, folder: str = FOLDER) -> FolderOut:
    """The files under a folder of the files folder (every level), with their sizes."""
    root = state(request).settings.files_root
    return await asyncio.to_thread(_listing, root, _parts(folder, "folder", empty_ok=True))


@router.put("/files", response_model=StoredFile, status_code=201)
async def put_file(request: Request, folder: str = FOLDER, path: str = PATH) -> StoredFile:
    """Store the request's body as a file (replacing one of the same path). A body over
    ``CANVASFLOW_MAX_BODY_BYTES`` is refused with 413 before it is stored."""
    root = state(request).settings.files_root
    parts = _parts(folder, "folder", empty_ok=True) + _parts(path, "path", empty_ok=False)
    data = await request.body()
    return await asyncio.to_thread(_write, root, parts, data)


@router.delete("/files", response_model=DeleteResult)
async def delete_file(request: Request, folder: str = FOLDER, path: str = PATH) -> DeleteResult:
    root = state(request).settings.files_root
    parts = _parts(folder, "folder", empty_ok=True) + _parts(path, "path", empty_ok=False)

    def remove() -> None:
        target = _inside(root, parts)
        if not target.is_file():
            raise NotFound(f"no file {'/'.join(parts)!r}")
        target.unlink()

    await asyncio.to_thread(remove)
    return DeleteResult(deleted=1)
