"""The web app as people use it: headless Chromium against `make local`'s stack, selecting every
control by the accessible name a screen reader would read out (DESIGN.md "The web client")."""

from __future__ import annotations

import base64
import io
import json
import re
import time
import uuid
from collections.abc import Callable

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Locator, Page, Route, expect

from tests import images
from tests.e2e.conftest import Account, Api
from tests.e2e.test_posts_and_follows_e2e import post_photo, settled
from tests.e2e.web.conftest import Person

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def new_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def poll_fast(context: BrowserContext) -> None:
    """The app's polls (new posts, unread badge) every second instead of every 30, through config.json."""

    def handle(route: Route) -> None:
        answer = route.fetch()
        config = answer.json()
        config.update(feed_poll_seconds=1, notifications_poll_seconds=1)
        route.fulfill(response=answer, body=json.dumps(config))

    context.route("**/config.json", handle)


def photo_file(data: bytes, name: str = "photo.jpg", mime: str = "image/jpeg") -> dict[str, object]:
    return {"name": name, "mimeType": mime, "buffer": data}


def post_in_the_app(page: Page, data: bytes, title: str, caption: str = "") -> None:
    page.get_by_role("link", name="New post").click()
    page.get_by_label("Photo").set_input_files(photo_file(data))  # type: ignore[arg-type]
    page.get_by_label("Title").fill(title)
    if caption:
        page.get_by_label("Caption").fill(caption)
    page.get_by_role("button", name="Post", exact=True).click()


def rendered(image: Locator) -> Image.Image:
    """What the browser drew for `image`, as pixels."""
    return Image.open(io.BytesIO(image.screenshot())).convert("RGB")


def is_red(pixel: tuple[int, ...]) -> bool:
    red, green, blue = pixel[:3]
    return red > 180 and green < 90 and blue < 90


def articles(page: Page) -> Locator:
    return page.locator("article.post-card")


UNNAMED = re.compile(r"^\s*- (button|link|textbox|searchbox|checkbox|combobox|img)(\s*\[[^\]]*\])*:?$", re.M)


def assert_every_control_named(page: Page) -> None:
    """Every control has an accessible name (the one a screen reader reads out), as the browser computes it."""
    snapshot = page.locator("body").aria_snapshot()
    assert not UNNAMED.findall(snapshot), snapshot


def reload_until(page: Page, path: str, present: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        if present():
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_two_people_post_follow_like_comment_and_are_told(open_browser: Callable[..., Person], api: Api) -> None:
    # Alice, on a phone, signs up and posts a photo that a camera stored on its side (EXIF orientation 6).
    alice = open_browser(new_name("alice"), phone=True)
    alice.sign_up()
    expect(alice.page.get_by_text("Your feed is empty")).to_be_visible()
    title = f"Harbour {uuid.uuid4().hex[:6]} at dusk"
    alice.page.get_by_role("link", name="New post").click()
    alice.page.get_by_label("Photo").set_input_files(photo_file(images.scene_jpeg_orientation_6()))  # type: ignore[arg-type]
    preview = rendered(alice.page.get_by_role("img", name="Preview of photo 1"))
    assert preview.width < preview.height, preview.size  # the preview is the right way up too
    assert is_red(preview.getpixel((int(preview.width * 0.9), int(preview.height * 0.1))))
    alice.page.get_by_label("Title").fill(title)
    alice.page.get_by_label("Caption").fill("Boats coming home.")
    alice.page.get_by_role("button", name="Post", exact=True).click()
    progress = alice.page.get_by_role("progressbar", name="Upload progress")
    expect(progress).to_have_attribute("aria-valuenow", "100")
    expect(alice.page.get_by_role("status").filter(has_text="Published")).to_be_visible()
    alice.shot("compose-published-phone")
    assert_every_control_named(alice.page)

    # In her feed, upright: portrait as shown, the red sun top-right (stored, it was top-left).
    alice.page.get_by_role("link", name="Home").click()
    card = alice.page.get_by_role("article", name=f"{title} by {alice.username}")
    image = card.get_by_role("img", name=title)
    expect(image).to_have_js_property("complete", True)
    natural = image.evaluate("img => [img.naturalWidth, img.naturalHeight, img.currentSrc]")
    assert natural[0] * 4 == natural[1] * 3, natural  # 3:4, portrait, from a 4:3 landscape file
    assert "medium" in natural[2] or "large" in natural[2]  # a variant from srcset, never the original
    picture = rendered(image)
    width, height = picture.size
    assert is_red(picture.getpixel((int(width * 0.9), int(height * 0.1)))), "the sun is not top-right"
    assert not is_red(picture.getpixel((int(width * 0.1), int(height * 0.1))))
    alice.shot("feed-phone")

    # Bob, at a desktop, signs up, finds the post by a word of its title, and follows its author.
    bob = open_browser(new_name("bob"))
    bob.sign_up()
    bob.page.get_by_role("link", name="Search").click()
    bob.page.get_by_role("searchbox", name="Search").fill(title.split()[1][:4])
    found = bob.page.get_by_role("article", name=f"{title} by {alice.username}")
    expect(found).to_be_visible()
    bob.shot("search-desktop")
    assert_every_control_named(bob.page)
    found.get_by_role("link", name=alice.username).first.click()
    expect(bob.page.get_by_role("heading", name=alice.username)).to_be_visible()
    bob.page.get_by_role("button", name="Follow", exact=True).click()
    expect(bob.page.get_by_role("button", name="Unfollow")).to_be_enabled()  # shown at once, enabled when done
    expect(bob.page.get_by_role("link", name="1 follower")).to_be_visible()
    bob.page.get_by_role("link", name="1 follower").click()
    expect(bob.page.get_by_role("link", name=bob.username)).to_be_visible()

    # It reaches his feed (the follow backfills it); he likes it and comments on it.
    reload_until(bob.page, "/", lambda: articles(bob.page).count() > 0, "alice's post in bob's feed")
    in_feed = bob.page.get_by_role("article", name=f"{title} by {alice.username}")
    like = in_feed.get_by_role("button", name="Like", exact=True)
    expect(like).to_have_attribute("aria-pressed", "false")
    with bob.page.expect_response(lambda answer: answer.url.endswith("/like") and answer.request.method == "PUT"):
        like.click()
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(in_feed.get_by_label("1 like", exact=True)).to_be_visible()
    bob.shot("feed-desktop")

    # The post page as the API may answer it a moment after the like: liked by him, but the like
    # not counted yet (counts follow the like through the stream). He still sees his own like.
    def count_not_caught_up(route: Route) -> None:
        answer = route.fetch()
        post = answer.json()
        route.fulfill(response=answer, json={**post, "like_count": 0} if post.get("liked_by_me") else post)

    post_route = re.compile(r".*/posts/[0-9A-Z]{26}$")
    bob.page.route(post_route, count_not_caught_up)
    in_feed.get_by_role("heading", name=title).get_by_role("link").click()
    expect(bob.page.get_by_role("button", name="Like", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(bob.page.get_by_label("1 like", exact=True).first).to_be_visible()
    bob.page.unroute(post_route)
    bob.page.get_by_role("textbox", name="Comment").fill("Lovely light on the water.")
    bob.page.get_by_role("button", name="Comment", exact=True).click()
    comment = bob.page.get_by_role("listitem", name=f"Comment by {bob.username}")
    expect(comment).to_contain_text("Lovely light on the water.")
    expect(bob.page.get_by_role("textbox", name="Comment")).to_have_value("")
    bob.page.evaluate("() => window.scrollTo(0, 0)")
    bob.shot("post-desktop")
    assert_every_control_named(bob.page)

    # Alice sees the like and the comment, and three unread notifications (follow, like, comment).
    poll_fast(alice.context)
    alice.page.reload()
    badge = alice.page.get_by_test_id("unread-badge")
    expect(badge).to_have_text("3")
    expect(alice.page.get_by_role("link", name="Notifications, 3 unread")).to_be_visible()
    alice.page.get_by_role("heading", name=title).get_by_role("link").click()
    expect(alice.page.get_by_label("1 like", exact=True).first).to_be_visible()
    expect(alice.page.get_by_role("listitem", name=f"Comment by {bob.username}")).to_contain_text("Lovely light")
    alice.page.get_by_role("link", name=re.compile("^Notifications")).click()
    entries = alice.page.locator(".notification-list li")
    expect(entries).to_have_count(3)
    expect(entries.filter(has_text="commented on your post")).to_be_visible()
    expect(entries.filter(has_text="liked your post")).to_be_visible()
    expect(entries.filter(has_text="started following you")).to_be_visible()
    alice.shot("notifications-phone")
    assert_every_control_named(alice.page)
    alice.page.get_by_role("button", name="Mark all read").click()
    expect(badge).to_have_count(0)
    expect(alice.page.get_by_role("link", name="Notifications", exact=True)).to_be_visible()

    # The counts are the server's too, not only what the pages showed.
    token = api.sign_up().id_token
    found_posts = api.call("GET", f"/users/{alice.username}/posts", token=token).json()["items"]
    assert [(post["title"], post["like_count"], post["comment_count"]) for post in found_posts] == [(title, 1, 1)]

    # A comment on her post is hers to delete, from the notification that told her of it.
    alice.page.get_by_role("link", name=re.compile("commented on your post")).click()
    bobs = alice.page.get_by_role("listitem", name=f"Comment by {bob.username}")
    bobs.get_by_role("button", name="Delete comment").click()
    expect(bobs).to_have_count(0)
    expect(alice.page.get_by_text("No comments yet.")).to_be_visible()
    assert api.call("GET", f"/posts/{found_posts[0]['id']}", token=token).json()["comment_count"] == 0


def test_a_rejected_upload_shows_why(open_browser: Callable[..., Person], account: Account) -> None:
    person = open_browser(account.username)
    # Logged in with the keyboard alone.
    person.page.goto("/login")
    expect(person.page.get_by_label("Username")).to_be_focused()  # where typing starts
    person.page.keyboard.type(account.username)
    person.page.keyboard.press("Tab")
    person.page.keyboard.type(person.password)
    person.page.keyboard.press("Enter")
    expect(person.page.get_by_role("button", name="Log out")).to_be_attached()
    post_in_the_app(person.page, b"\xff\xd8\xff\xe0 this is not a JPEG at all" * 40, "Not a photo")
    reason = person.page.get_by_role("alert").filter(has_text="Rejected")
    expect(reason).to_be_visible()
    expect(reason).not_to_have_text(re.compile(r"^Rejected:\s*$"))
    person.shot("compose-rejected-desktop")

    # Her profile: edit the name and bio.
    person.page.get_by_role("link", name="Profile").click()
    person.page.get_by_role("link", name="Edit profile").click()
    person.page.get_by_label("Display name").fill("Ada Lovelace")
    person.page.get_by_label("Bio").fill("Engines and photographs.")
    person.page.get_by_role("button", name="Save").click()
    expect(person.page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    expect(person.page.get_by_text("Engines and photographs.")).to_be_visible()


def test_a_double_click_makes_one_post(open_browser: Callable[..., Person], account: Account, api: Api) -> None:
    person = open_browser(account.username)
    person.log_in()
    page = person.page
    page.get_by_role("link", name="New post").click()
    # The photo dropped on the drop zone, as from a file manager.
    dropped = page.evaluate_handle(
        """bytes => {
            const transfer = new DataTransfer();
            const data = Uint8Array.from(atob(bytes), c => c.charCodeAt(0));
            transfer.items.add(new File([data], "dropped.jpg", {type: "image/jpeg"}));
            return transfer;
        }""",
        base64.b64encode(images.scene_jpeg((640, 480), 3)).decode(),
    )
    page.locator(".drop-zone").dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.get_by_role("img", name="Preview of photo 1")).to_be_visible()
    page.get_by_label("Title").fill("Clicked twice")
    page.get_by_role("button", name="Post", exact=True).dblclick()
    expect(page.get_by_role("status").filter(has_text="Published")).to_be_visible()

    answer = api.call("GET", f"/users/{account.username}/posts", token=account.id_token)
    assert [post["title"] for post in answer.json()["items"]] == ["Clicked twice"]


def test_a_failed_upload_is_retried_into_the_same_post(
    open_browser: Callable[..., Person], account: Account, api: Api
) -> None:
    person = open_browser(account.username)
    person.log_in()
    page = person.page
    cut: list[str] = []

    def cut_the_first_two_uploads(route: Route) -> None:
        if route.request.method == "POST" and len(cut) < 2:
            cut.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    person.context.route(re.compile(r".*-uploads-.*"), cut_the_first_two_uploads)
    creating = lambda response: response.request.method == "POST" and response.url.endswith("/posts")  # noqa: E731
    with page.expect_response(creating) as first:
        post_in_the_app(page, images.jpeg((640, 480)), "Second try")
    abandoned = first.value.json()["post"]["id"]
    failed = page.get_by_role("alert").filter(has_text="upload failed")
    expect(failed).to_be_visible()

    # Given up: that post is deleted, and the form can be changed and sent again.
    page.get_by_role("button", name="Cancel and edit").click()
    expect(page.get_by_label("Title")).to_be_editable()
    assert api.call("GET", f"/posts/{abandoned}", token=account.id_token).status_code == 404
    page.get_by_role("button", name="Post", exact=True).click()
    expect(failed).to_be_visible()
    page.get_by_role("button", name="Retry upload").click()
    expect(page.get_by_role("status").filter(has_text="Published")).to_be_visible()

    assert len(cut) == 2
    answer = api.call("GET", f"/users/{account.username}/posts", token=account.id_token)
    assert [post["title"] for post in answer.json()["items"]] == ["Second try"]


def test_infinite_scroll_and_the_new_posts_prompt(
    open_browser: Callable[..., Person], account: Account, api: Api
) -> None:
    titles = ["Evening over the ridge", "Cold lake, warm sky", "First light", "Blue hour on the water"]
    ids = [
        post_photo(api, account, images.scene_jpeg((800, 600), n), title=f"{titles[n % len(titles)]} ({n + 1})")
        for n in range(13)
    ]
    for post_id in ids:
        assert settled(api, account, post_id)["status"] == "published"

    person = open_browser(account.username, phone=True)
    poll_fast(person.context)
    person.log_in()
    page = person.page
    expect(articles(page)).to_have_count(10)  # the first page
    expect(articles(page).first.get_by_role("img")).to_have_js_property("complete", True)
    person.shot("feed-scenes-phone")
    assert_every_control_named(page)
    page.mouse.wheel(0, 20_000)
    expect(articles(page)).to_have_count(13)
    expect(page.get_by_text("You're all caught up.")).to_be_visible()
    shown = articles(page).evaluate_all("cards => cards.map(card => card.dataset.postId)")
    assert shown == list(reversed(ids))  # newest first, every post once

    # A newer post: offered, not forced; taking it puts it first, still with no duplicates.
    newest = post_photo(api, account, images.scene_jpeg((800, 600), 2), title="The newest")
    assert settled(api, account, newest)["status"] == "published"
    prompt = page.get_by_role("button", name="New posts")
    expect(prompt).to_be_visible()
    assert page.evaluate("() => window.scrollY") > 0  # the reader's place is kept until they choose
    prompt.click()
    expect(articles(page).first).to_have_attribute("data-post-id", newest)
    expect(articles(page)).to_have_count(10)
    page.mouse.wheel(0, 20_000)
    expect(articles(page)).to_have_count(14)
    shown = articles(page).evaluate_all("cards => cards.map(card => card.dataset.postId)")
    assert shown == [newest, *reversed(ids)]


def test_an_expired_token_is_renewed_unnoticed_and_a_dead_session_returns_to_log_in(
    open_browser: Callable[..., Person], account: Account
) -> None:
    person = open_browser(account.username)
    person.log_in()
    page = person.page
    stored = lambda: json.loads(page.evaluate("() => localStorage.getItem('photofeed.session')"))  # noqa: E731
    first = stored()

    # An id token the server refuses (its claims changed, so its signature no longer holds), though
    # the app still thinks it is good: the 401 is answered by a refresh and the request goes again.
    header, _, signature = first["idToken"].split(".")
    expired = f"{header}.eyJleHAiOjF9.{signature}"
    page.evaluate("s => localStorage.setItem('photofeed.session', s)", json.dumps({**first, "idToken": expired}))
    page.goto(f"/u/{account.username}")
    expect(page.get_by_role("heading", name=account.username)).to_be_visible()
    renewed = stored()
    assert renewed["idToken"] != expired
    expect(page.get_by_role("button", name="Log out")).to_be_attached()

    # A token past its expiry time is renewed before the request goes out.
    page.evaluate("s => localStorage.setItem('photofeed.session', s)", json.dumps({**renewed, "expiresAt": 0}))
    page.goto("/notifications")
    expect(page.get_by_text("Nothing yet.")).to_be_visible()  # the list came, so its request went
    assert stored()["expiresAt"] > time.time() * 1000

    # A refresh token the server refuses: back to log in, then back to where the person was.
    page.evaluate(
        "s => localStorage.setItem('photofeed.session', s)",
        json.dumps({**stored(), "idToken": expired, "refreshToken": "revoked"}),
    )
    page.goto("/search?q=harbour")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_text("Your session ended")).to_be_visible()
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/search\?q=harbour$"))
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("harbour")
