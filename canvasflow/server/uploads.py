"""Files a prediction brings (Flowise's ``uploads``: the chat widget's images and files):
checked for type and size, kept in the chat's own folder (``get-upload-file`` serves
them back to that chat only), and handed to the run: images for a vision-capable
model, files' text for the question."""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from canvasflow.engine.graph import load_flow_data
from canvasflow.errors import (
    BadRequest,
    CanvasflowError,
    Forbidden,
    PayloadTooLarge,
    UnsupportedMediaType,
)

IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"]
FILE_TYPES = ["text/plain", "text/markdown", "text/csv", "application/json", "application/pdf"]


def uploads_allowed(canvas: Any) -> tuple[bool, bool]:
    """(images, files) a canvas takes: its settings say so, or a chat model node with
    Flowise's ``allowImageUploads`` on."""
    cfg = (canvas.settings or {}).get("chatbotConfig") or {}
    images = bool(cfg.get("allowImageUploads"))
    files = bool(cfg.get("allowFileUploads"))
    try:
        for n in load_flow_data(canvas.flow_data).get("nodes") or []:
            if (
                str((n.get("data") or {}).get("inputs", {}).get("allowImageUploads")).lower()
                == "true"
            ):
                images = True
    except CanvasflowError:
        pass
    return images, files


SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _segment(name: str) -> str:
    """One path segment made of a client's id: never ``.``, ``..`` or a separator."""
    return SAFE.sub("_", name).strip(".") or "_"


def canvas_upload_dir(root: Path, canvas_id: str) -> Path:
    return root / "uploads" / _segment(canvas_id)


def upload_dir(root: Path, canvas_id: str, chat_id: str) -> Path:
    """Where a chat's uploads are kept: one folder per canvas and chat, always inside
    the canvas's own (a chat id ``..`` is a folder named ``_``)."""
    return canvas_upload_dir(root, canvas_id) / _segment(chat_id)


def remove_uploads(root: Path, canvas_id: str, chat_ids: Iterable[str] | None = None) -> None:
    """Delete the uploads of some chats of a canvas (all its chats when None): uploads
    do not outlive the messages they came with."""
    import shutil

    folders = (
        [canvas_upload_dir(root, canvas_id)]
        if chat_ids is None
        else [upload_dir(root, canvas_id, c) for c in chat_ids]
    )
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def safe_name(name: str) -> str:
    cleaned = SAFE.sub("_", Path(name).name).strip("._")
    return cleaned or "upload"


def _text_of(mime: str, raw: bytes) -> str:
    if mime == "application/pdf":
        try:
            from pypdf import PdfReader
        except ImportError:
            raise UnsupportedMediaType(
                "PDF uploads need canvasflow[pdf]: pip install 'canvasflow[pdf]'"
            ) from None
        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(raw)).pages)
    return raw.decode("utf-8", "replace")


def take_uploads(
    settings: Any, canvas: Any, chat_id: str, uploads: list[Any] | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(images as data URLs or http(s) URLs, files' texts) of a prediction's uploads."""
    if not uploads:
        return (), ()
    images_ok, files_ok = uploads_allowed(canvas)
    images: list[str] = []
    texts: list[str] = []
    folder = upload_dir(settings.data_dir, canvas.id, chat_id)
    for i, item in enumerate(uploads):
        if not isinstance(item, dict):
            raise BadRequest(f"uploads[{i}] must be an object")
        mime = str(item.get("mime") or "")
        data = str(item.get("data") or "")
        kind = "image" if mime.startswith("image/") else "file"
        if kind == "image" and not images_ok:
            raise Forbidden("this canvas takes no image uploads (chatbotConfig.allowImageUploads)")
        if kind == "file" and not files_ok:
            raise Forbidden("this canvas takes no file uploads (chatbotConfig.allowFileUploads)")
        if item.get("type") == "url":
            if kind != "image" or not data.startswith(("https://", "http://")):
                raise BadRequest(f"uploads[{i}]: only images may be given by URL")
            images.append(data)
            continue
        if mime not in (IMAGE_TYPES if kind == "image" else FILE_TYPES):
            raise UnsupportedMediaType(f"uploads[{i}]: {mime or 'no type'} is not taken")
        if ";base64," not in data:
            raise BadRequest(f"uploads[{i}].data must be a base64 data URL")
        try:
            raw = base64.b64decode(data.split(";base64,", 1)[1].split(",filename:")[0])
        except (binascii.Error, ValueError):
            raise BadRequest(f"uploads[{i}].data is not valid base64") from None
        if len(raw) > settings.max_upload_bytes:
            raise PayloadTooLarge(
                f"uploads[{i}] is larger than {settings.max_upload_bytes} bytes "
                "(CANVASFLOW_MAX_UPLOAD_BYTES)"
            )
        folder.mkdir(parents=True, exist_ok=True)
        (folder / safe_name(str(item.get("name") or f"upload-{i}"))).write_bytes(raw)
        if kind == "image":
            images.append(f"data:{mime};base64,{base64.b64encode(raw).decode()}")
        else:
            texts.append(f"{item.get('name') or 'file'}:\n{_text_of(mime, raw)}")
    return tuple(images), tuple(texts)
