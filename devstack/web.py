"""The web app's static server: what S3 behind CloudFront does on AWS (template.yaml's WebBucket and
WebDistribution), on one local port.

- Files of the built app (`web/dist`, from `npm run build`) as they are, with the cache headers the
  deploy gives them: a year and `immutable` for the content-hashed `assets/*`, `no-cache` for the rest.
- `/config.json` written from the running stack (the API's URL, the pool and client ids), as
  `make deploy` writes it from the stack's outputs, so the same build runs against either.
- Any other path that is not a file answers `index.html` (the single-page app's routes), as the
  distribution's 403/404 → `/index.html` fallback does; a missing `assets/*` file is a plain 404.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("devstack.web")

IMMUTABLE = "public, max-age=31536000, immutable"
NOT_BUILT = (
    "<!doctype html><meta charset=utf-8><title>Photo feed</title>"
    "<p>The web app is not built yet: run <code>make web</code> (or <code>make local</code>, which builds it).</p>"
)


class WebServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], root: Path) -> None:
        super().__init__(address, _Handler)
        self.root = root.resolve()
        self.config: dict[str, Any] = {}
        self._serving = False

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> WebServer:
        self._serving = True
        threading.Thread(target=self.serve_forever, name="web-app", daemon=True).start()
        return self

    def stop(self) -> None:
        # shutdown() waits for serve_forever() to return: only ask it of a server that serves (the
        # stack binds the port early and may stop before it ever served, if another part failed).
        if self._serving:
            self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: WebServer
    server_version = "photofeed-devstack"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == "/config.json":
            self._send(HTTPStatus.OK, json.dumps(self.server.config).encode(), "application/json", "no-cache", head)
            return
        root = self.server.root
        file = (root / path.lstrip("/")).resolve()
        if path.endswith("/"):
            file = file / "index.html"
        inside = file == root or root in file.parents
        if inside and file.is_file():
            cache = IMMUTABLE if file.parent == root / "assets" else "no-cache"
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind in ("application/javascript", "image/svg+xml"):
                kind += "; charset=utf-8"
            self._send(HTTPStatus.OK, file.read_bytes(), kind, cache, head)
        elif path.startswith("/assets/") or not inside:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", "no-cache", head)
        else:
            index = root / "index.html"
            body = index.read_bytes() if index.is_file() else NOT_BUILT.encode()
            self._send(HTTPStatus.OK, body, "text/html; charset=utf-8", "no-cache", head)

    def _send(self, status: HTTPStatus, body: bytes, kind: str, cache: str, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "strict-origin-when-cross-origin")
        self.end_headers()
        if not head:
            self.wfile.write(body)


def web_server(root: Path, host: str, port: int) -> WebServer:
    """Bind (port 0: any free port) without serving yet; `start()` serves."""
    if not (root / "index.html").is_file():
        log.warning("%s/index.html is missing: the web app is not built (make web)", root)
    return WebServer((host, port), root)
