"""Video posts in the web app: a clip chosen beside a photo, checked and previewed on the compose page,
uploaded with its progress, converted, and played where it is shown only when someone asks, one at a
time (API.md "Posts and media": `MediaItem.video`, `duration_s`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import CDPSession, Locator, Page, expect

from tests import images, videos
from tests.e2e.conftest import Account, Api
from tests.e2e.test_posts_and_follows_e2e import post_photo, settled, upload_like_a_browser
from tests.e2e.web.conftest import Person
from tests.e2e.web.test_web_app import assert_every_control_named, photo_file

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Converting a clip takes seconds; a loaded machine may take many more than the 20 s other waits get.
CONVERTED_MS = 120_000
ALT_VIDEO = "Waves rolling in over the sand"
ALT_PHOTO = "The beach from the dunes at noon"

# What the page shows while it posts, each time it changes: the whole post's bar, each item's bar, and
# the status line. Recorded in the page, since a small upload is over sooner than a test can look.
RECORD_POSTING = """() => {
    const seen = window.posting = { bars: [], status: [] };
    const value = (name) => {
        const bar = document.querySelector(`[role=progressbar][aria-label="${name}"]`);
        return bar ? Number(bar.getAttribute('aria-valuenow')) : null;
    };
    new MutationObserver(() => {
        const names = ['Upload progress', 'Upload progress for video 1', 'Upload progress for photo 2'];
        const bars = names.map(value);
        if (bars[0] !== null && JSON.stringify(bars) !== JSON.stringify(seen.bars.at(-1))) seen.bars.push(bars);
        const status = document.querySelector('form [role=status][aria-live]')?.textContent ?? '';
        if (status && status !== seen.status.at(-1)) seen.status.push(status);
    }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
}"""

PLAYBACK = """video => ({
    ready: video.readyState, duration: video.duration, time: video.currentTime, paused: video.paused, muted: video.muted
})"""

PLAYED = """(video, past) => new Promise((resolve) => {
    const check = () => video.readyState >= 2 && (video.currentTime > past || video.ended);
    if (check()) resolve();
    else video.addEventListener('timeupdate', () => check() && resolve());
})"""

METADATA = "video => video.readyState >= 1 || new Promise((resolve) => video.onloadedmetadata = resolve)"


def playback(video: Locator) -> dict[str, Any]:
    state: dict[str, Any] = video.evaluate(PLAYBACK)
    return state


def played(video: Locator, past: float = 0.3) -> None:
    """Wait until `video` has a frame to show and has played `past` seconds (or to its end)."""
    video.evaluate(PLAYED, past)


def nothing_plays(page: Page) -> bool:
    return bool(page.evaluate("() => [...document.querySelectorAll('video')].every((video) => video.paused)"))


def throttle_uploads(network: CDPSession, bytes_per_second: int) -> None:
    """DevTools' network throttling: -1 is no limit."""
    conditions = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_second}
    network.send("Network.emulateNetworkConditions", conditions)


def test_a_clip_and_a_photo_are_posted_together_and_the_clip_plays_only_when_asked(
    open_browser: Callable[..., Person], account: Account
) -> None:
    clip = videos.h264_mp4(320, 240, 2.0, audio=True)
    photo = images.scene_jpeg((640, 480), 2)
    person = open_browser(account.username)
    person.log_in()
    page = person.page
    page.get_by_role("link", name="New post").click()
    page.get_by_label("Photo", exact=True).set_input_files(
        [photo_file(clip, "beach.mp4", "video/mp4"), photo_file(photo, "dunes.jpg")]  # type: ignore[arg-type]
    )
    # The clip is shown by its first frame, with its length; its controls say "video", the photo's "photo".
    preview = page.get_by_role("img", name="Preview of video 1").locator("video")
    expect(preview).to_have_js_property("videoWidth", 320)
    page.wait_for_function("video => video.readyState >= 2 && !video.seeking", arg=preview.element_handle())
    expect(page.get_by_role("img", name="Preview of photo 2")).to_have_js_property("complete", True)
    first = page.get_by_role("list", name="Photos").get_by_role("listitem").first
    expect(first).to_contain_text("Video 1")
    expect(first).to_contain_text("beach.mp4")
    expect(first.get_by_text("0:02", exact=True)).to_be_visible()
    page.get_by_label("Alt text for video 1").fill(ALT_VIDEO)
    page.get_by_label("Alt text for photo 2").fill(ALT_PHOTO)
    expect(page.get_by_role("button", name="Move video 1 later")).to_be_enabled()
    expect(page.get_by_role("button", name="Remove photo 2")).to_be_visible()
    page.get_by_label("Title").fill("A day at the beach")
    person.shot("compose-video-desktop")
    assert_every_control_named(page)

    # Sent slowly enough to watch: the bar follows the bytes sent, the clip's and the photo's together.
    page.evaluate(RECORD_POSTING)
    network = person.context.new_cdp_session(page)
    network.send("Network.enable")
    throttle_uploads(network, 24 * 1024)
    page.get_by_role("button", name="Post", exact=True).click()
    whole = page.get_by_role("progressbar", name="Upload progress", exact=True)
    expect(whole).to_have_attribute("aria-valuenow", "100")
    throttle_uploads(network, -1)
    expect(page.get_by_role("status").filter(has_text="Published")).to_be_visible(timeout=CONVERTED_MS)
    seen = page.evaluate("() => window.posting")
    overall = [bars[0] for bars in seen["bars"]]
    assert overall == sorted(overall), seen
    assert overall[-1] == 100, seen
    assert any(0 < value < 100 for value in overall), f"no progress between 0 and 100: {seen}"
    for shown, video_part, photo_part in seen["bars"]:
        if video_part is not None and photo_part is not None:
            weighted = (len(clip) * video_part + len(photo) * photo_part) / (len(clip) + len(photo))
            assert abs(shown - weighted) <= 1.5, (shown, video_part, photo_part)
    assert any("Converting your video" in status for status in seen["status"]), seen["status"]
    person.shot("compose-video-published-desktop")

    # The feed: the poster with a play button and the length; nothing loads or plays until pressed.
    page.get_by_role("link", name="Home").click()
    card = page.get_by_role("article", name=f"A day at the beach by {account.username}")
    carousel = card.get_by_role("region", name="Photos and videos")
    expect(carousel.get_by_role("button", name="Video 1 of 2")).to_have_attribute("aria-current", "true")
    expect(carousel.get_by_role("button", name="Photo 2 of 2")).to_be_visible()
    expect(carousel.get_by_role("button", name="Next photo")).to_be_visible()
    expect(carousel.get_by_role("img", name=ALT_VIDEO)).to_have_js_property("complete", True)
    play = carousel.get_by_role("button", name="Play video", exact=True)
    expect(play).to_be_visible()
    expect(carousel.get_by_text("0:02")).to_be_visible()
    expect(card.locator("video")).to_have_count(0)
    assert nothing_plays(page)
    person.shot("feed-video-desktop")
    assert_every_control_named(page)

    play.click()
    video = card.locator("video")
    played(video)
    state = playback(video)
    assert state["duration"] == pytest.approx(2.0, abs=0.2), state
    assert not state["muted"], state  # pressed, it plays with its sound
    expect(video).to_have_attribute("controls", "")
    expect(video).to_be_focused()  # the button pressed is gone: the video's own controls have the focus
    person.shot("feed-video-playing-desktop")

    # The post's page: the video element itself, with its poster and controls, and not playing.
    card.get_by_role("link", name="A day at the beach").click()
    on_page = page.locator("video[controls]")
    expect(on_page).to_have_attribute("preload", "metadata")
    expect(on_page).to_have_attribute("poster", re.compile(r"\S"))
    on_page.evaluate(METADATA)
    assert playback(on_page)["duration"] == pytest.approx(2.0, abs=0.2)
    assert nothing_plays(page)
    person.shot("post-video-desktop")
    assert_every_control_named(page)
    on_page.click()  # a click on the picture plays it (the browser's own controls)
    played(on_page, past=0.1)
    state = playback(on_page)
    assert state["ready"] >= 2, state
    assert state["duration"] == pytest.approx(2.0, abs=0.2), state

    # The same on a phone, and the post's tile in the profile marked as a video.
    phone = open_browser(account.username, phone=True)
    phone.log_in()
    phone_card = phone.page.get_by_role("article", name=f"A day at the beach by {account.username}")
    expect(phone_card.get_by_role("button", name="Play video", exact=True)).to_be_visible()
    expect(phone_card.get_by_role("img", name=ALT_VIDEO)).to_have_js_property("complete", True)
    phone.shot("feed-video-phone")
    phone_card.get_by_role("link", name="A day at the beach").click()
    phone.page.locator("video[controls]").evaluate(METADATA)
    phone.shot("post-video-phone")
    # Where the video cannot be played (here: never delivered), a note links to the file itself.
    phone.page.route(
        "**/*", lambda route: route.abort() if route.request.resource_type == "media" else route.fallback()
    )
    phone.page.reload()
    expect(phone.page.get_by_role("alert")).to_contain_text("This browser cannot play the video.")
    file_url = phone.page.locator("video[controls]").get_attribute("src") or "no video"
    expect(phone.page.get_by_role("link", name="Open the video file")).to_have_attribute("href", file_url)
    phone.page.unroute("**/*")
    phone.page.get_by_role("link", name="Profile").click()
    tile = phone.page.get_by_role("link", name="A day at the beach (1 photo and 1 video)")
    expect(tile.locator("svg")).to_have_count(2)  # marked as a video, and as one of several
    phone.shot("profile-video-phone")


def test_one_video_plays_at_a_time_and_one_scrolled_away_pauses(
    open_browser: Callable[..., Person], account: Account, api: Api
) -> None:
    # Two clips long enough to be still playing while the test looks, and two photos posted after them.
    clips = []
    for n in (1, 2):
        clip = videos.h264_mp4(320, 180, 8.0, audio=True)
        body = {"title": f"Clip {n}", "media": [{"content_type": "video/mp4", "content_length": len(clip)}]}
        created = api.call("POST", "/posts", token=account.id_token, json=body)
        assert created.status_code == 201, created.text
        upload = created.json()["uploads"][0]
        assert upload_like_a_browser(upload, clip, f"clip-{n}.mp4", "video/mp4") in (200, 201, 204)
        clips.append(created.json()["post"]["id"])
    for post_id in clips:
        assert settled(api, account, post_id, timeout=CONVERTED_MS / 1000)["status"] == "published"
    for n in (1, 2):
        settled(api, account, post_photo(api, account, images.scene_jpeg((1080, 810), n), title=f"Above {n}"))

    person = open_browser(account.username)
    person.log_in()
    page = person.page
    page.set_viewport_size({"width": 1280, "height": 1300})
    upper = page.get_by_role("article", name=f"Clip 2 by {account.username}")
    lower = page.get_by_role("article", name=f"Clip 1 by {account.username}")
    upper.scroll_into_view_if_needed()
    upper.evaluate("card => window.scrollBy(0, card.getBoundingClientRect().top - 70)")
    expect(lower.get_by_role("button", name="Play video")).to_be_in_viewport()

    upper.get_by_role("button", name="Play video").click()
    played(upper.locator("video"))
    lower.get_by_role("button", name="Play video").click()
    played(lower.locator("video"))
    # Both on screen; only the one started last plays.
    expect(upper.locator("video")).to_be_in_viewport()
    assert playback(upper.locator("video"))["paused"]
    assert not playback(lower.locator("video"))["paused"]
    person.shot("feed-two-videos-desktop")

    # Back up to the photos at the top: the playing video, off the screen, pauses.
    page.evaluate("() => window.scrollTo(0, 0)")
    expect(lower.locator("video")).not_to_be_in_viewport()
    page.wait_for_function("video => video.paused", arg=lower.locator("video").element_handle())
    assert nothing_plays(page)


def test_files_that_cannot_be_posted_as_videos_are_refused_at_once(
    open_browser: Callable[..., Person], account: Account
) -> None:
    person = open_browser(account.username, phone=True)
    person.log_in()
    page = person.page
    page.get_by_role("link", name="New post").click()
    chosen = page.get_by_label("Photo", exact=True)
    expect(chosen).to_have_accessible_description(re.compile("Videos: MP4 or MOV, up to 100 MB and 60 seconds"))
    iphone_clip = videos.hevc_mov(320, 240, 1.0, rotation=0, gps=False)
    chosen.set_input_files(
        [
            # A clip the browser gives an odd type: its name says what it is.
            photo_file(videos.h264_mp4(160, 120, 1.0), "clip.m4v", "video/x-m4v"),
            # An iPhone's HEVC clip of no known type: its name says MOV.
            photo_file(iphone_clip, "IMG_0001.MOV", "application/octet-stream"),
            photo_file(b"just some notes, not a film", "notes.mp4", "video/mp4"),
            photo_file(videos.long_clip(62.0), "long.mp4", "video/mp4"),
        ]  # type: ignore[arg-type]
    )
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text('"notes.mp4" is not an MP4 or MOV video.')
    expect(refusal).to_contain_text('"long.mp4" lasts 1:02; the limit is 60 seconds a video.')
    items = page.get_by_role("list", name="Photos").get_by_role("listitem")
    expect(items).to_have_count(2)
    expect(page.get_by_role("img", name="Preview of video 1").locator("video")).to_have_js_property("videoWidth", 160)
    hevc = "() => document.createElement('video').canPlayType('video/mp4; codecs=\"hvc1.1.6.L93.B0\"')"
    if page.evaluate(hevc):  # a browser that decodes HEVC shows it
        expect(page.get_by_role("img", name="Preview of video 2")).to_be_visible()
    else:
        expect(page.get_by_role("img", name="Video 2, IMG_0001.MOV: no preview in this browser")).to_be_visible()
        expect(items.nth(1)).to_contain_text("MOV")
    expect(page.get_by_role("button", name="Move video 2 earlier")).to_be_visible()
    page.evaluate("() => window.scrollTo(0, 0)")
    person.shot("compose-video-refusals-phone")
    assert_every_control_named(page)
