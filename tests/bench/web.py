"""Web app figures: what the first screen downloads, and how soon the home feed paints.

- The JavaScript the first screen loads (index.html's module script and its modulepreloads) and its
  CSS, each file gzipped at level 9, in KB of 1024 bytes. The app is built afresh into
  `.bench/web-dist` (the same build as `make web`, into a directory of the bench's own, so that a
  build here never empties a `web/dist` that a browser test is serving).
- The largest contentful paint of the home feed in headless Chromium against the local stack
  serving that build, warm: a reader follows an author with five published photos (1600x1200
  JPEGs, uploaded as an app does), the session is put in localStorage as the app keeps it, `/` is
  loaded once, then LOADS more times, each a fresh page of the same context: a returning visitor's
  HTTP cache (the hashed assets and the photos from it, the photos' signed URLs being the same
  while the post cache holds them; index.html and config.json fetched again; the API called each
  time, its CORS preflights cached after the first load). Each load is read once the first feed
  image is complete and the network idle; the LCP element must be that image, else the part fails
  rather than give a wrong figure. Phone (390x844 at 2x) and desktop (1280x860 at 1x): the median,
  and the p90 (interpolated: with 7 loads, between the two slowest). Each load's requests are in
  the log (`Waterfall`).
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Browser, Page, sync_playwright

from tests import images
from tests.stack_runner import ROOT, eventually, running_stack
from tools.browser import launch_options

BUILD_DIR = ROOT / ".bench" / "web-dist"
STATE_DIR = ROOT / ".bench" / "web-stack"
WEB_STAMP = "web/node_modules/.installed"  # the Makefile's: Node.js and the web app's packages installed
KB = 1024
POSTS = 5
LOADS = 7
PASSWORD = "correct horse battery"
SESSION_KEY = "photofeed.session"  # web/src/session.ts
FIRST_IMAGE = "article.post-card img"
SCREENS: dict[str, dict[str, Any]] = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
    "desktop": {"viewport": {"width": 1280, "height": 860}, "device_scale_factor": 1},
}
# Registered before any of the page's own scripts: the latest LCP candidate, with its element.
LCP_OBSERVER = """
window.__lcp = null;
new PerformanceObserver((list) => {
  const entry = list.getEntries().at(-1);
  if (!entry) return;
  window.__lcp = {
    startTime: entry.startTime,
    renderTime: entry.renderTime,
    loadTime: entry.loadTime,
    size: entry.size,
    url: entry.url,
    tag: entry.element ? entry.element.tagName : null,
    selector: entry.element ? (entry.element.className || entry.element.tagName) : null,
  };
}).observe({ type: "largest-contentful-paint", buffered: true });
"""


# --- what the first screen downloads ---------------------------------------------------------


def build(out_dir: Path) -> None:
    """`make web`'s build, into `out_dir`; its output goes to the log."""
    node_path = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    if not (ROOT / WEB_STAMP).exists():  # Node.js and the packages, as `make web` would install them
        subprocess.run(["make", WEB_STAMP], cwd=ROOT, check=True)
    subprocess.run(
        ["npm", "--prefix", "web", "run", "build", "--", "--outDir", str(out_dir), "--emptyOutDir"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "PATH": node_path},
    )


class _FirstScreen(HTMLParser):
    """The files index.html makes the browser fetch before the app can start."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        rel = (attributes.get("rel") or "").lower().split()
        if tag == "script" and attributes.get("type") == "module" and attributes.get("src"):
            self.scripts.append(str(attributes["src"]))
        elif tag == "link" and "modulepreload" in rel and attributes.get("href"):
            self.scripts.append(str(attributes["href"]))
        elif tag == "link" and "stylesheet" in rel and attributes.get("href"):
            self.styles.append(str(attributes["href"]))


def gzip_kb(dist: Path, paths: list[str]) -> float:
    total = 0
    for path in dict.fromkeys(paths):  # each file once, in order
        data = (dist / path.split("?")[0].lstrip("/")).read_bytes()
        total += len(gzip.compress(data, compresslevel=9, mtime=0))
    return total / KB


def bench_bundle(dist: Path) -> dict[str, Any]:
    first_screen = _FirstScreen()
    first_screen.feed((dist / "index.html").read_text(encoding="utf-8"))
    if not first_screen.scripts:
        raise RuntimeError(f"{dist / 'index.html'} loads no module script")
    print(f"first screen: scripts {first_screen.scripts}, styles {first_screen.styles}", flush=True)
    return {
        "web_js_gzip_kb": round(gzip_kb(dist, first_screen.scripts), 1),
        "web_css_gzip_kb": round(gzip_kb(dist, first_screen.styles), 1),
    }


# --- a reader with a feed of photos ----------------------------------------------------------


@dataclass
class Account:
    username: str
    id_token: str
    refresh_token: str
    expires_in: int


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)

    def sign_up(self) -> Account:
        username = f"bench{uuid.uuid4().hex[:10]}"
        credentials = {"username": username, "password": PASSWORD}
        created = self.call("POST", "/auth/signup", json={**credentials, "email": f"{username}@example.com"})
        created.raise_for_status()
        tokens = self.call("POST", "/auth/login", json=credentials)
        tokens.raise_for_status()
        body = tokens.json()
        return Account(username, body["id_token"], body["refresh_token"], int(body.get("expires_in", 3600)))

    def publish(self, author: Account, title: str, data: bytes) -> str:
        """POST /posts, the photo to the presigned POST as a browser sends it, then until published."""
        created = self.call(
            "POST",
            "/posts",
            author.id_token,
            json={"title": title, "content_type": "image/jpeg", "content_length": len(data)},
        )
        created.raise_for_status()
        upload = created.json()["upload"]
        sent = requests.post(
            upload["url"], data=upload["fields"], files={"file": ("photo.jpg", data, "image/jpeg")}, timeout=30
        )
        sent.raise_for_status()
        post_id = str(created.json()["post"]["id"])

        def settled() -> str | None:
            status = self.call("GET", f"/posts/{post_id}", author.id_token).json()["status"]
            return None if status in ("pending_upload", "processing") else str(status)

        status = eventually(settled, timeout=30, what=f"post {post_id} processed")
        if status != "published":
            raise RuntimeError(f"post {post_id} ended {status}")
        return post_id

    def feed_ids(self, reader: Account) -> list[str]:
        answer = self.call("GET", "/feed?limit=20", reader.id_token)
        answer.raise_for_status()
        return [item["id"] for item in answer.json()["items"]]


def reader_with_a_feed(api: Api) -> Account:
    author, reader = api.sign_up(), api.sign_up()
    api.call("PUT", f"/users/{author.username}/follow", reader.id_token).raise_for_status()
    api.feed_ids(reader)  # the reader's feed exists from now on
    photo = images.jpeg((1600, 1200))
    with ThreadPoolExecutor(POSTS) as pool:
        posts = set(pool.map(lambda number: api.publish(author, f"Photo {number}", photo), range(1, POSTS + 1)))
    eventually(lambda: set(api.feed_ids(reader)) == posts, timeout=30, what="the posts in the reader's feed")
    return reader


# --- largest contentful paint ----------------------------------------------------------------


class Waterfall:
    """Every request of one load as the browser's network layer saw it (Chrome DevTools Protocol):
    when it went out and finished, CORS preflights included, and whether the HTTP cache answered."""

    def __init__(self, page: Page) -> None:
        self.requests: dict[str, dict[str, Any]] = {}
        session = page.context.new_cdp_session(page)
        session.on("Network.requestWillBeSent", self._sent)
        session.on("Network.responseReceived", self._answered)
        session.on("Network.loadingFinished", self._finished)
        session.send("Network.enable")

    def _sent(self, event: dict[str, Any]) -> None:
        request = event["request"]
        self.requests[event["requestId"]] = {
            "url": request["url"],
            "method": request["method"],
            "type": event.get("type", ""),
            "start": event["timestamp"],
            "end": None,
            "status": None,
            "cache": False,
            "bytes": 0,
        }

    def _answered(self, event: dict[str, Any]) -> None:
        if entry := self.requests.get(event["requestId"]):
            response = event["response"]
            entry["status"] = response.get("status")
            entry["cache"] = bool(response.get("fromDiskCache") or response.get("fromPrefetchCache"))
            entry["type"] = event.get("type") or entry["type"]  # a preflight's type shows here

    def _finished(self, event: dict[str, Any]) -> None:
        if entry := self.requests.get(event["requestId"]):
            entry["end"] = event["timestamp"]
            entry["bytes"] = int(event.get("encodedDataLength", 0))

    def lines(self) -> list[str]:
        entries = sorted(self.requests.values(), key=lambda entry: float(entry["start"]))
        if not entries:
            return []
        origin = float(entries[0]["start"])

        def at(seconds: float | None) -> str:
            return "    …" if seconds is None else f"{(seconds - origin) * 1000:5.0f}"

        return [
            f"    {at(entry['start'])} → {at(entry['end'])} ms  {entry['method']:<7} {entry['type']:<10} "
            f"{entry['status'] or '-'!s:>3} {'cache' if entry['cache'] else str(entry['bytes']) + ' B':>9}  "
            f"{entry['url'][:110]}"
            for entry in entries
        ]


def load_feed(page: Page) -> dict[str, Any]:
    """Open `/`; once the first feed image is complete and the network idle, the LCP and the load."""
    waterfall = Waterfall(page)
    page.goto("/")
    page.wait_for_function(
        f"() => {{ const image = document.querySelector({json.dumps(FIRST_IMAGE)}); "
        "return image !== null && image.complete && image.naturalWidth > 0; }"
    )
    page.wait_for_load_state("networkidle")
    measured: dict[str, Any] = page.evaluate(
        f"""() => ({{
          lcp: window.__lcp,
          image: document.querySelector({json.dumps(FIRST_IMAGE)}).currentSrc,
          paints: Object.fromEntries(performance.getEntriesByType("paint").map((e) => [e.name, e.startTime])),
        }})"""
    )
    measured["waterfall"] = waterfall.lines()
    return measured


def bench_lcp(browser: Browser, web_url: str, reader: Account, screen: str) -> list[float]:
    context = browser.new_context(base_url=web_url, **SCREENS[screen])
    context.set_default_timeout(20_000)
    errors: list[str] = []
    try:
        context.add_init_script(LCP_OBSERVER)
        page = context.new_page()
        page.goto("/login")  # any page of the app, so that localStorage is its origin's
        session = {
            "username": reader.username,
            "idToken": reader.id_token,
            "refreshToken": reader.refresh_token,
            "expiresAt": int(time.time() * 1000) + reader.expires_in * 1000,
        }
        page.evaluate("([key, value]) => localStorage.setItem(key, value)", [SESSION_KEY, json.dumps(session)])
        page.close()

        times: list[float] = []
        for load in range(LOADS + 1):  # the first warms the cache and is not counted
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            measured = load_feed(page)
            page.close()
            lcp = measured["lcp"]
            print(f"{screen} load {load}{'' if load else ' (warming)'}: lcp {json.dumps(lcp)}", flush=True)
            print(f"    paints {json.dumps(measured['paints'])}; first image {measured['image'][:110]}", flush=True)
            print("\n".join(measured["waterfall"]), flush=True)
            if not lcp or lcp["tag"] != "IMG" or lcp["url"] != measured["image"]:
                raise RuntimeError(f"{screen}: the LCP element is not the first feed image but {lcp}")
            if load:
                times.append(float(lcp["startTime"]))
    finally:
        context.close()
    if errors:
        raise RuntimeError(f"the app threw on the {screen}: {errors}")
    return times


def percentile_90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def run() -> dict[str, Any]:
    started = time.perf_counter()

    def progress(what: str) -> None:
        print(f"web: {what} after {time.perf_counter() - started:.1f} s", flush=True)

    build(BUILD_DIR)
    figures = bench_bundle(BUILD_DIR)
    progress("built")
    with running_stack(STATE_DIR, web_dir=BUILD_DIR) as stack:
        if not stack.web_url:
            raise RuntimeError("the local stack serves no web app")
        progress("the stack serving")
        reader = reader_with_a_feed(Api(stack.api_url))
        progress(f"{POSTS} photos in the reader's feed")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(**launch_options())  # type: ignore[arg-type]
            try:
                for screen, suffix in (("phone", ""), ("desktop", "_desktop")):
                    times = bench_lcp(browser, stack.web_url, reader, screen)
                    progress(f"{screen} LCP (ms) {[round(value) for value in times]}")
                    figures[f"web_lcp_ms{suffix}"] = round(statistics.median(times))
                    figures[f"web_lcp_ms{suffix}_p90"] = round(percentile_90(times))
            finally:
                browser.close()
    return figures
