"""Serving the built web app: hashed assets cached for a year, client routes answered with index.html."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

from whatsapp_builder.core.errors import CLIENT_ROUTES, error_response, method_not_allowed, methods_serving

WEBUI_DIR = Path(__file__).parent / "webui"
RESERVED_PREFIXES = ("api/", "webhooks/", "socket.io", "docs", "redoc", "openapi.json", "healthz")
RESERVED_PATHS = ("api", "webhooks")

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>WhatsApp Builder</title></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>WhatsApp Builder</h1>
<p>The web app has not been built. <code>make run</code> builds it (it needs Node.js 20+ and npm).</p>
<p>The API works without it: see <a href="/docs">/docs</a>.</p></body></html>"""


# The web app's scripts are its own files only: a customer's file or text can never run in it. Styles may be inline
# (Mantine sets them), images and audio/video come from anywhere (media sent by link) or from blobs (media fetched
# with the token).
APP_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https: http:;"
    " media-src 'self' blob: https: http:; connect-src 'self'; font-src 'self' data:; object-src 'none';"
    " base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

SWAGGER_UI_DIR = "swagger-ui"
"""Where the web build puts Swagger UI's files (web/vite.config.ts), so /docs needs no CDN."""
FAVICON = (
    "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'>"
    "<circle cx='8' cy='8' r='8' fill='%2325d366'/></svg>"
)


def install_api_docs(app: FastAPI, webui_dir: Path = WEBUI_DIR) -> None:
    """/docs: Swagger UI from the web build's own copy when built, else from FastAPI's default CDN."""
    local = webui_dir / SWAGGER_UI_DIR

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        title = f"{app.title} - API"
        if (local / "swagger-ui-bundle.js").is_file() and (local / "swagger-ui.css").is_file():
            return get_swagger_ui_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=title,
                swagger_js_url=f"/{SWAGGER_UI_DIR}/swagger-ui-bundle.js",
                swagger_css_url=f"/{SWAGGER_UI_DIR}/swagger-ui.css",
                swagger_favicon_url=FAVICON,
            )
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=title)


def _file_under(root: Path, webui_dir: Path, path: str) -> Path | None:
    """The file at `path` in the build (never outside it), or None."""
    try:
        candidate = (webui_dir / path).resolve()
        return candidate if candidate.is_file() and candidate.is_relative_to(root) else None
    except (OSError, ValueError):  # a NUL byte in the path, or a name longer than the system allows
        return None


def install_webui(app: FastAPI, webui_dir: Path = WEBUI_DIR) -> None:
    index = webui_dir / "index.html"
    root = webui_dir.resolve()

    @app.api_route("/{path:path}", methods=["GET", "HEAD"], include_in_schema=False, name=CLIENT_ROUTES)
    async def webui(path: str, request: Request) -> Response:
        if path.startswith(RESERVED_PREFIXES) or path in RESERVED_PATHS:
            served = methods_serving(request) if request.method == "HEAD" else set()
            if served:  # HEAD of an API route (HEAD is the web app's here, which would hide the 405)
                return method_not_allowed(served)
            return error_response(404, "not_found", f"/{path} does not exist.")
        if not index.is_file():
            return HTMLResponse(NOT_BUILT)
        if path:
            candidate = _file_under(root, webui_dir, path)
            if candidate is not None:
                immutable = path.startswith("assets/")
                cache = "public, max-age=31536000, immutable" if immutable else "public, max-age=300"
                return FileResponse(candidate, headers={"Cache-Control": cache})
            if path.startswith("assets/") or "." in path.rsplit("/", 1)[-1]:
                # A file, not a client route: a page in its place would reach the browser as a broken script
                # (an old chunk after a redeploy) instead of a clear 404.
                return error_response(404, "not_found", f"/{path} does not exist.")
        return FileResponse(index, headers={"Cache-Control": "no-cache", "Content-Security-Policy": APP_POLICY})
