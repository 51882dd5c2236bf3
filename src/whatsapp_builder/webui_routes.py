"""Serving the built web app: hashed assets cached for a year, client routes answered with index.html."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

from whatsapp_builder.core.errors import error_response

WEBUI_DIR = Path(__file__).parent / "webui"
RESERVED_PREFIXES = ("api/", "webhooks/", "socket.io", "docs", "redoc", "openapi.json", "healthz")
RESERVED_PATHS = ("api", "webhooks")

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>WhatsApp Builder</title></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>WhatsApp Builder</h1>
<p>The web app has not been built. <code>make run</code> builds it (it needs Node.js 20+ and npm).</p>
<p>The API works without it: see <a href="/docs">/docs</a>.</p></body></html>"""


def install_webui(app: FastAPI, webui_dir: Path = WEBUI_DIR) -> None:
    index = webui_dir / "index.html"
    root = webui_dir.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def webui(path: str) -> Response:
        if path.startswith(RESERVED_PREFIXES) or path in RESERVED_PATHS:
            return error_response(404, "not_found", f"/{path} does not exist.")
        if not index.is_file():
            return HTMLResponse(NOT_BUILT)
        if path:
            candidate = (webui_dir / path).resolve()
            if candidate.is_file() and candidate.is_relative_to(root):
                immutable = path.startswith("assets/")
                cache = "public, max-age=31536000, immutable" if immutable else "public, max-age=300"
                return FileResponse(candidate, headers={"Cache-Control": cache})
            if path.startswith("assets/") or "." in path.rsplit("/", 1)[-1]:
                # A file, not a client route: a page in its place would reach the browser as a broken script
                # (an old chunk after a redeploy) instead of a clear 404.
                return error_response(404, "not_found", f"/{path} does not exist.")
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
