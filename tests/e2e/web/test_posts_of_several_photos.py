"""Posts of several photos in the web app: chosen, ordered and described on the compose page, sent in
one post, and shown as a carousel in the feed and on the post's page (API.md "Posts and media")."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests import images
from tests.e2e.conftest import Account
from tests.e2e.web.conftest import Person
from tests.e2e.web.test_web_app import assert_every_control_named, photo_file

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ALT_TEXTS = [
    "Boats at their moorings, the sun low over the ridge",
    "A purple sky over still water",
    "Green hills beside a bright lake at noon",
]


def carousel_of(scope: Page | Locator) -> Locator:
    return scope.get_by_role("region", name="Photos")


def current_dot(carousel: Locator) -> Locator:
    return carousel.locator("button[aria-current='true']")


def slide_alts(carousel: Locator) -> list[str]:
    return carousel.get_by_role("group").evaluate_all(
        "slides => slides.map(slide => [slide.getAttribute('aria-roledescription'), slide.getAttribute('aria-label'),"
        " slide.querySelector('img').alt])"
    )


def test_three_photos_are_ordered_described_posted_and_shown_as_a_carousel(
    open_browser: Callable[..., Person], account: Account
) -> None:
    person = open_browser(account.username, phone=True)
    person.log_in()
    page = person.page
    page.get_by_role("link", name="New post").click()
    chosen = page.get_by_label("Photo", exact=True)
    chosen.set_input_files(
        [
            photo_file(images.scene_jpeg((1080, 810), 0), "harbour.jpg"),
            photo_file(images.scene_jpeg((1080, 810), 2), "lake.jpg"),
            photo_file(images.scene_jpeg((810, 1080), 1), "dusk.jpg"),
        ]  # type: ignore[arg-type]
    )
    for n in (1, 2, 3):
        expect(page.get_by_role("img", name=f"Preview of photo {n}")).to_have_js_property("complete", True)
    for n, alt in enumerate([ALT_TEXTS[0], ALT_TEXTS[2], ALT_TEXTS[1]], start=1):
        page.get_by_label(f"Alt text for photo {n}").fill(alt)
    expect(page.get_by_text(f"{len(ALT_TEXTS[0])}/1500")).to_be_visible()
    # The last photo dragged to the middle; then down and up again by its buttons. Its alt text goes
    # with it, and the focus stays on the button that moved it.
    page.get_by_role("img", name="Preview of photo 3").drag_to(page.get_by_role("img", name="Preview of photo 2"))
    expect(page.get_by_label("Alt text for photo 2")).to_have_value(ALT_TEXTS[1])
    page.get_by_role("button", name="Move photo 2 later").click()
    expect(page.get_by_label("Alt text for photo 3")).to_have_value(ALT_TEXTS[1])
    page.get_by_role("button", name="Move photo 3 earlier").click()
    expect(page.get_by_label("Alt text for photo 2")).to_have_value(ALT_TEXTS[1])
    expect(page.get_by_label("Alt text for photo 3")).to_have_value(ALT_TEXTS[2])
    expect(page.get_by_role("button", name="Move photo 2 earlier")).to_be_focused()

    # Eight more: a HEIC (no preview in Chromium: a named tile), and one past the ten a post holds; a text file refused.
    extras = [photo_file(b"\0\0\0\x18ftypheic" + bytes(200), "extra-1.heic", "image/heic")]
    extras += [photo_file(images.jpeg((40, 30)), f"extra-{n}.jpg") for n in range(2, 9)]
    chosen.set_input_files([*extras, photo_file(b"notes", "notes.txt", "text/plain")])  # type: ignore[arg-type]
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text('A post holds at most 10 photos: "extra-8.jpg" was not added.')
    expect(refusal).to_contain_text('"notes.txt" is not a JPEG, PNG, WebP, HEIC or AVIF photo.')
    expect(page.get_by_role("img", name="Photo 4, extra-1.heic: no preview in this browser")).to_be_visible()
    expect(page.get_by_role("list", name="Photos").get_by_role("listitem")).to_have_count(10)
    expect(chosen).to_have_count(0)  # full: nothing more can be added
    for _ in range(7):
        page.get_by_role("button", name="Remove photo 4").click()
    expect(page.get_by_role("list", name="Photos").get_by_role("listitem")).to_have_count(3)
    expect(page.get_by_role("button", name="Remove photo 3")).to_be_focused()
    page.get_by_label("Title").fill("Three views of the water")
    page.evaluate("() => window.scrollTo(0, 0)")
    person.shot("compose-three-photos-phone")
    assert_every_control_named(page)

    page.get_by_role("button", name="Post", exact=True).click()
    for name in ["Upload progress"] + [f"Upload progress for photo {n}" for n in (1, 2, 3)]:
        expect(page.get_by_role("progressbar", name=name, exact=True)).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_role("status").filter(has_text="Published")).to_be_visible()
    page.get_by_role("link", name="View post").click()

    # The post's page: a carousel of three slides, in the chosen order, each with its own alt text.
    carousel = carousel_of(page)
    expect(carousel).to_have_attribute("aria-roledescription", "carousel")
    expect(carousel.get_by_role("group")).to_have_count(3)
    assert slide_alts(carousel) == [["slide", f"{n} of 3", alt] for n, alt in enumerate(ALT_TEXTS, start=1)]
    expect(carousel.get_by_role("img", name=ALT_TEXTS[0])).to_have_js_property("complete", True)
    expect(current_dot(carousel)).to_have_accessible_name("Photo 1 of 3")
    expect(carousel.get_by_role("button", name="Previous photo")).to_be_hidden()
    person.shot("carousel-post-phone")
    assert_every_control_named(page)

    carousel.get_by_role("button", name="Next photo").click()
    expect(current_dot(carousel)).to_have_accessible_name("Photo 2 of 3")
    expect(carousel.get_by_role("img", name=ALT_TEXTS[1])).to_be_in_viewport(ratio=0.9)
    expect(carousel.get_by_role("img", name=ALT_TEXTS[0])).not_to_be_in_viewport()
    page.keyboard.press("ArrowRight")  # the carousel has the focus (the arrow clicked is inside it)
    expect(current_dot(carousel)).to_have_accessible_name("Photo 3 of 3")
    expect(carousel.get_by_role("img", name=ALT_TEXTS[2])).to_be_in_viewport(ratio=0.9)
    expect(carousel.get_by_role("button", name="Next photo")).to_be_hidden()
    expect(carousel).to_be_focused()  # the hidden arrow handed it to the carousel
    page.keyboard.press("ArrowLeft")
    expect(current_dot(carousel)).to_have_accessible_name("Photo 2 of 3")
    carousel.get_by_role("button", name="Photo 1 of 3").click()
    expect(current_dot(carousel)).to_have_accessible_name("Photo 1 of 3")
    expect(carousel.get_by_role("img", name=ALT_TEXTS[0])).to_be_in_viewport(ratio=0.9)
    # A sideways scroll (a swipe, a trackpad) lands on the next slide, and the dots follow.
    carousel.get_by_role("img", name=ALT_TEXTS[0]).hover()
    page.mouse.wheel(250, 0)
    expect(current_dot(carousel)).to_have_accessible_name("Photo 2 of 3")
    expect(carousel.get_by_role("img", name=ALT_TEXTS[1])).to_be_in_viewport(ratio=0.9)

    # The feed: the same carousel; the BlurHash painted while the first photo loads, gone once it has.
    held: list[Route] = []
    holding = [True]

    def hold_images(route: Route) -> None:
        if holding[0] and route.request.resource_type == "image":
            held.append(route)
        else:
            route.continue_()

    page.route("**/*", hold_images)
    page.get_by_role("link", name="Home").click()
    card = page.get_by_role("article", name=f"Three views of the water by {account.username}")
    in_feed = carousel_of(card)
    expect(in_feed.get_by_role("group")).to_have_count(3)
    assert [alt for _, _, alt in slide_alts(in_feed)] == ALT_TEXTS
    placeholder = in_feed.get_by_role("group").first.locator("canvas")
    expect(placeholder).to_be_visible()
    sky, water = placeholder.evaluate(
        """canvas => {
            const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            const at = (row) => Array.from(pixels.slice(row * canvas.width * 4, row * canvas.width * 4 + 4));
            return [at(0), at(canvas.height - 1)];
        }"""
    )
    assert sky[3] == water[3] == 255, (sky, water)  # opaque
    assert sky[:3] != water[:3], (sky, water)  # a picture, not a flat colour
    holding[0] = False
    for route in held:
        route.continue_()
    expect(in_feed.get_by_role("img", name=ALT_TEXTS[0])).to_have_js_property("complete", True)
    expect(placeholder).to_have_count(0)
    person.shot("carousel-feed-phone")


def test_a_bad_photo_among_several_is_named_in_the_rejection(
    open_browser: Callable[..., Person], account: Account
) -> None:
    person = open_browser(account.username)
    person.log_in()
    page = person.page
    page.get_by_role("link", name="New post").click()
    page.get_by_label("Photo", exact=True).set_input_files(
        [
            photo_file(images.scene_jpeg((640, 480), 0), "first.jpg"),
            # Named and typed as a JPEG, so the browser sends it as it is; only the server can tell.
            photo_file(b"\xff\xd8\xff\xe0 this is not a JPEG at all" * 40, "second.jpg"),
            photo_file(images.scene_jpeg((640, 480), 3), "third.jpg"),
        ]  # type: ignore[arg-type]
    )
    # What Chromium cannot draw is a named tile, not a broken image.
    expect(page.get_by_role("img", name="Photo 2, second.jpg: no preview in this browser")).to_be_visible()
    page.get_by_label("Title").fill("One of these is not a photo")
    page.get_by_role("button", name="Post", exact=True).click()
    reason = page.get_by_role("alert").filter(has_text="Rejected")
    expect(reason).to_contain_text(re.compile(r"Rejected: item 2: \S"))
    refused = page.get_by_role("list", name="Photos").get_by_role("listitem").nth(1)
    expect(refused).to_contain_text("Photo 2 · refused")
    refused.scroll_into_view_if_needed()
    person.shot("compose-rejected-item-desktop")
