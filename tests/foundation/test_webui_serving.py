"""Serving the built web app: client routes get index.html, hashed assets are cached for a year and gzipped."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from whatsapp_builder.webui_routes import install_webui


def _app(tmp_path: Path) -> FastAPI:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('x');" * 500)
    app = FastAPI()

    @app.get("/api/ping")
    async def ping() -> dict[str, str]:
        return {"ok": "yes"}

    install_webui(app, tmp_path)
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    return app


async def test_client_routes_assets_and_reserved_paths(tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=_app(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path in ("/", "/inbox", "/chatbots/123/edit", "/login"):
            page = await client.get(path)
            assert page.status_code == 200 and "id=root" in page.text
            assert page.headers["cache-control"] == "no-cache"
            # Only the app's own scripts run in it (a customer's file opened from a blob: URL, say, cannot).
            assert "script-src 'self';" in page.headers["content-security-policy"]
        asset = await client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"})
        assert asset.status_code == 200 and asset.headers["content-encoding"] == "gzip"
        assert "immutable" in asset.headers["cache-control"]
        assert (await client.get("/api/ping")).json() == {"ok": "yes"}
        assert (await client.get("/api/nothing-here")).status_code == 404
        for missing in ("/assets/index-old.js", "/favicon.ico", "/api", "/inbox/photo.png"):
            response = await client.get(missing)
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", missing
        assert (await client.get("/../../etc/passwd")).status_code in (200, 404)
        assert "root:" not in (await client.get("/assets/../../../../etc/passwd")).text


async def test_without_a_build_the_page_says_how_to_build(tmp_path: Path) -> None:
    app = FastAPI()
    install_webui(app, tmp_path / "missing")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        page = await client.get("/")
    assert page.status_code == 200 and "make run" in page.text


async def test_api_docs_use_the_builds_own_swagger_ui_and_fall_back_to_the_cdn(tmp_path: Path) -> None:
    from whatsapp_builder.webui_routes import install_api_docs

    def docs_app(webui: Path) -> FastAPI:
        app = FastAPI(docs_url=None)
        install_api_docs(app, webui)
        install_webui(app, webui)
        return app

    (tmp_path / "swagger-ui").mkdir()
    (tmp_path / "swagger-ui" / "swagger-ui-bundle.js").write_text("window.SwaggerUIBundle = () => {};")
    (tmp_path / "swagger-ui" / "swagger-ui.css").write_text("body {}")
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=docs_app(tmp_path)), base_url="http://t") as client:
        page = (await client.get("/docs")).text
        assert '"/swagger-ui/swagger-ui-bundle.js"' in page and '"/swagger-ui/swagger-ui.css"' in page
        assert "cdn" not in page and "https://" not in page
        assert (await client.get("/swagger-ui/swagger-ui-bundle.js")).text.startswith("window.SwaggerUIBundle")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=docs_app(tmp_path / "missing")), base_url="http://t"
    ) as client:
        page = (await client.get("/docs")).text
        assert "cdn.jsdelivr.net" in page and "/openapi.json" in page


async def test_a_path_no_file_can_have_is_not_a_500(tmp_path: Path) -> None:
    """A NUL byte, or a name longer than the file system allows, made the file lookup raise: 404 (a file's name) or
    the page (a client route), as for any other path with no file."""
    transport = httpx.ASGITransport(app=_app(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/assets/a.js%00")).status_code == 404
        assert (await client.get("/a%00b")).status_code == 200
        assert (await client.get("/" + "a" * 5000)).status_code == 200
        assert (await client.get("/" + "a" * 5000 + ".js")).status_code == 404
