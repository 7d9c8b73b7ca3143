"""Browser fixtures: headless Chromium (Debian's where installed, see tools/browser.py) driven by
Playwright, each person in a context of their own, against the web app the local stack serves."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import WEB_DIST, Account, Api
from tests.stack_runner import ROOT, RunningStack
from tools.browser import launch_options

SCREENSHOTS = ROOT / ".screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
PASSWORD = "correct horse battery"

expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """pytest-playwright's launch options: headless, with Debian's Chromium where it is installed."""
    return launch_options()


@pytest.fixture(scope="session")
def web_url(stack: RunningStack) -> str:
    # Never a silent skip: a missing build is a failure that says what to run.
    assert (WEB_DIST / "index.html").is_file(), "the web app is not built: run `make web` (make test does)"
    assert stack.web_url, "the local stack serves no web app"
    return stack.web_url


@dataclass
class Person:
    """One person at their own browser (a context: own storage, own session)."""

    page: Page
    context: BrowserContext
    username: str
    password: str = PASSWORD

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    def sign_up(self) -> None:
        page = self.page
        page.goto("/signup")
        page.get_by_label("Username").fill(self.username)
        page.get_by_label("Email").fill(f"{self.username}@example.com")
        page.get_by_label("Password").fill(self.password)
        page.get_by_role("button", name="Sign up").click()
        expect(page.get_by_role("link", name=re.compile("^Notifications"))).to_be_visible()
        expect(page).to_have_url(re.compile(r"/$"))

    def log_in(self) -> None:
        page = self.page
        page.goto("/login")
        page.get_by_label("Username").fill(self.username)
        page.get_by_label("Password").fill(self.password)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_attached()


@pytest.fixture
def open_browser(browser: Browser, web_url: str) -> Iterator[Callable[..., Person]]:
    """`open_browser(username, phone=False)`: a new person at a browser of their own."""
    contexts: list[BrowserContext] = []

    def opened(username: str, phone: bool = False) -> Person:
        context = browser.new_context(
            base_url=web_url,
            viewport=PHONE if phone else DESKTOP,
            device_scale_factor=2 if phone else 1,
            is_mobile=phone,
            has_touch=phone,
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return Person(page=page, context=context, username=username)

    errors: list[str] = []
    yield opened
    for context in contexts:
        context.close()
    assert not errors, f"the app threw: {errors}"


@pytest.fixture
def account(api: Api) -> Account:
    """Someone who signed up through the API (for tests about something other than signing up)."""
    return api.sign_up(password=PASSWORD)
