"""The local stand-in for the web app's bucket behind CloudFront (devstack/web.py): what a browser
gets for each kind of path."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack.web import WebServer, web_server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[WebServer]:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>app</title>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path.parent / "secret.txt").write_text("outside")
    server = web_server(tmp_path, "127.0.0.1", 0).start()
    server.config = {"api_url": "http://127.0.0.1:3000"}
    yield server
    server.stop()


def test_files_carry_the_deploys_cache_headers(served: WebServer) -> None:
    asset = requests.get(f"{served.url}/assets/index-abc123.js", timeout=5)
    index = requests.get(f"{served.url}/", timeout=5)
    icon = requests.get(f"{served.url}/favicon.svg", timeout=5)

    assert asset.status_code == 200
    assert asset.text == "console.log(1)"
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert asset.headers["Content-Type"].startswith(("text/javascript", "application/javascript"))
    assert index.headers["Cache-Control"] == "no-cache"
    assert "<title>app</title>" in index.text
    assert icon.headers["Content-Type"].startswith("image/svg+xml")


def test_app_routes_fall_back_to_index_html_but_missing_assets_do_not(served: WebServer) -> None:
    route = requests.get(f"{served.url}/u/alice/followers?x=1", timeout=5)
    missing = requests.get(f"{served.url}/assets/index-gone.js", timeout=5)

    assert route.status_code == 200
    assert "<title>app</title>" in route.text
    assert missing.status_code == 404


def test_config_json_is_the_running_stacks(served: WebServer) -> None:
    answer = requests.get(f"{served.url}/config.json", timeout=5)

    assert answer.json() == {"api_url": "http://127.0.0.1:3000"}
    assert answer.headers["Cache-Control"] == "no-cache"


def test_nothing_outside_the_build_is_served(served: WebServer) -> None:
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt"):
        answer = requests.get(f"{served.url}{path}", timeout=5)
        assert "outside" not in answer.text, path


def test_a_server_that_never_served_stops_at_once(tmp_path: Path) -> None:
    """The stack binds the port before the rest starts; if the rest fails, stopping must not hang."""
    done = threading.Event()
    server = web_server(tmp_path, "127.0.0.1", 0)
    threading.Thread(target=lambda: (server.stop(), done.set()), daemon=True).start()
    assert done.wait(5), "stop() of a server that never served hangs"
