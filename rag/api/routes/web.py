"""The page at `/` (static files from rag/web/static) and /docs and /redoc without a CDN (the
Swagger UI and ReDoc bundles of the `fastapi-offline` package, served from here)."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"

# The page's scripts and styles come from this server only; nothing inline runs, nothing
# loads from or talks to another origin, and the page cannot be framed.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# Swagger UI and ReDoc start from a small inline script FastAPI writes into their page.
DOCS_POLICY = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; font-src 'self' data:; "
               "base-uri 'none'; frame-ancestors 'none'")

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=FileResponse)
def page() -> FileResponse:
    """The web page."""
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


def install(app: FastAPI) -> None:
    """Serve the page, its assets, and the API docs from local files."""
    app.include_router(router)
    app.mount("/ui", StaticFiles(directory=STATIC), name="ui")
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title=f"{app.title} - API",
                                   swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
                                   swagger_favicon_url=f"{root}/docs-assets/favicon.png",
                                   # No badge fetched from validator.swagger.io.
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}/openapi.json", title=f"{app.title} - API reference",
                              redoc_js_url=f"{root}/docs-assets/redoc.standalone.js",
                              redoc_favicon_url=f"{root}/docs-assets/favicon.png", with_google_fonts=False)

    app.add_middleware(SecurityHeaders)


class SecurityHeaders:
    """A Content-Security-Policy on the page and the docs, and no MIME sniffing anywhere. Plain
    ASGI (not BaseHTTPMiddleware), so streamed answers still see a client that disconnects."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        policy = (PAGE_POLICY if path == "/" or path.startswith("/ui/") else
                  DOCS_POLICY if path in ("/docs", "/redoc") or path.startswith("/docs-assets/") else None)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if policy:
                    headers["Content-Security-Policy"] = policy
                    headers["Referrer-Policy"] = "no-referrer"
                if "x-content-type-options" not in headers:
                    headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, with_headers)
