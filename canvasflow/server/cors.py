"""Browsers: CORS for the public routes only, and the security headers of pages.

Public routes (predictions, the streaming check, abort, the OpenAI door) answer
browsers from any origin, preflights included, as Flowise's do; a canvas that lists
``allowedOrigins`` refuses the others itself (403). Management routes send no CORS
headers at all, so no page elsewhere can read them; their state-changing requests also
need the server's own Origin (``guards.check_origin``)."""

from __future__ import annotations

import re

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

PUBLIC = re.compile(
    r"^/(api/v1/(prediction|chatflows-streaming|chatmessage/abort|canvas-messages/abort"
    r"|public-chatbotConfig|public-chatflows|feedback|attachments|text-to-speech|node-icon)/"
    r"|api/v1/(leads|get-upload-file|openai-assistants-file/download)$"
    r"|api/v1/canvases/[^/]+/streaming$|v1/chat/completions$"
    r"|static/vendor/flowise-embed\.js$)"
)

# the one <style> element the studio's code editor (react-simple-code-editor) writes,
# allowed by its hash: no other inline style is
CODE_EDITOR_STYLE = "'sha256-40iiqMCd92gEkTDo77tABEiJ83Vil54BR3JPvnldhrA='"

PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; "
        f"style-src 'self' {CODE_EDITOR_STYLE}; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# the public chatbot page: Flowise's widget writes its own styles, and a theme's avatars
# may be anywhere on the web
CHATBOT_PAGE_HEADERS = {
    **PAGE_SECURITY_HEADERS,
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: https:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}


class PublicCORS:
    """Starlette's CORSMiddleware, in front of the public routes only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "PUT", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["Retry-After"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and PUBLIC.match(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
