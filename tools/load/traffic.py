"""The clients: users signed up through the API, the follow graph, photo posts, and the mix of
requests the load runs, each request recorded (route template, status, start, end)."""

from __future__ import annotations

import io
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from PIL import Image, ImageDraw

WORDS = [
    "sunset",
    "harbour",
    "mountain",
    "coffee",
    "street",
    "garden",
    "winter",
    "market",
    "river",
    "bridge",
    "forest",
    "festival",
    "morning",
    "lantern",
    "island",
    "meadow",
    "skyline",
]
PASSWORD = "correct horse battery"
NO_ANSWER = 0  # the status recorded for a request that got no answer (refused, reset, timed out)
REQUEST_TIMEOUT = 30
UNEXPECTED_4XX = {400, 401, 403, 413, 415, 422}  # what a correct client never gets


@dataclass(frozen=True)
class Sample:
    route: str
    status: int
    started: float  # time.monotonic()
    ended: float
    note: str = ""  # for an answer a correct client never gets: who asked what, and the answer

    @property
    def latency_ms(self) -> float:
        return (self.ended - self.started) * 1000


@dataclass
class User:
    id: str
    username: str
    token: str
    own_posts: list[str] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def photos(count: int, seed: int) -> list[bytes]:
    """Distinct small JPEGs (a gradient and a few shapes), made on the spot."""
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        size = (rng.choice((480, 640, 800)), rng.choice((360, 480, 600)))
        image = Image.linear_gradient("L").resize(size).convert("RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = rng.randrange(size[0]), rng.randrange(size[1])
            colour = tuple(rng.randrange(256) for _ in range(3))
            draw.ellipse((x, y, x + rng.randrange(20, 200), y + rng.randrange(20, 200)), fill=colour)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        made.append(out.getvalue())
    return made


class Client:
    """HTTP against the API (one session per thread), every request recorded while `recording`."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.samples: list[Sample] = []
        self.recording = False
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def call(self, route: str, method: str, path: str, user: User | None = None, **kwargs: Any) -> tuple[int, Any]:
        """(status, JSON body or None); status 0 when no answer came."""
        headers = user.auth if user else {}
        started = time.monotonic()
        try:
            answer = self._session().request(
                method, self.api_url + path, headers=headers, timeout=REQUEST_TIMEOUT, **kwargs
            )
            status = answer.status_code
            try:
                body = answer.json() if answer.content else None
            except ValueError:
                body = None
        except requests.RequestException:
            status, body = NO_ANSWER, None
        if self.recording:
            note = ""
            if status == NO_ANSWER or status >= 500 or status in UNEXPECTED_4XX:
                note = f"{user.username if user else 'anonymous'} {method} {path}: {status} {body}"
            self.samples.append(Sample(route, status, started, time.monotonic(), note))
        return status, body

    def upload(self, upload: dict[str, Any], data: bytes) -> int:
        """The photo to its presigned POST as a browser sends it: every field, the file last."""
        started = time.monotonic()
        try:
            status = (
                self._session()
                .post(
                    upload["url"],
                    data=upload["fields"],
                    files={"file": ("photo.jpg", data, "image/jpeg")},
                    timeout=REQUEST_TIMEOUT,
                )
                .status_code
            )
        except requests.RequestException:
            status = NO_ANSWER
        if self.recording:
            self.samples.append(Sample("POST <upload to S3>", status, started, time.monotonic()))
        return status

    # ------------------------------------------------------------------ what users do
    def sign_up(self, username: str, password: str = PASSWORD) -> User:
        status, body = self.call(
            "POST /auth/signup",
            "POST",
            "/auth/signup",
            json={"username": username, "email": f"{username}@example.com", "password": password},
        )
        if status != 201:
            raise RuntimeError(f"sign-up of {username} answered {status}: {body}")
        user_id = body["user"]["id"]
        status, tokens = self.call(
            "POST /auth/login", "POST", "/auth/login", json={"username": username, "password": password}
        )
        if status != 200:
            raise RuntimeError(f"login of {username} answered {status}: {tokens}")
        return User(id=user_id, username=username, token=tokens["id_token"])

    def create_post(self, user: User, data: bytes, title: str) -> tuple[str, dict[str, Any]] | None:
        """A post announced (pending_upload): its id and its upload, or None if refused."""
        status, body = self.call(
            "POST /posts",
            "POST",
            "/posts",
            user,
            json={"title": title, "caption": "load test", "content_type": "image/jpeg", "content_length": len(data)},
        )
        if status != 201:
            return None
        return str(body["post"]["id"]), body["upload"]

    def post_photo(self, user: User, data: bytes, title: str) -> str | None:
        created = self.create_post(user, data, title)
        if created is None:
            return None
        post_id, upload = created
        if self.upload(upload, data) not in (200, 201, 204):
            return None
        user.own_posts.append(post_id)
        return post_id

    def follow(self, user: User, other: User, method: str = "PUT") -> int:
        return self.call(f"{method} /users/{{username}}/follow", method, f"/users/{other.username}/follow", user)[0]

    def feed_page(self, user: User, cursor: str | None = None, limit: int = 20) -> tuple[int, Any]:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        return self.call("GET /feed", "GET", "/feed", user, params=params)

    def whole_feed(self, user: User) -> list[str] | None:
        """Every post id of the user's feed, walking the cursors (None if a page failed)."""
        ids: list[str] = []
        cursor = None
        for _ in range(1000):
            status, page = self.feed_page(user, cursor, limit=50)
            if status != 200:
                return None
            ids += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return ids
        return None


def title(rng: random.Random) -> str:
    return " ".join(rng.sample(WORDS, rng.choice((2, 3)))).capitalize()


class Mix:
    """What a user does next, weighted as the seeds' traffic is: reads of feeds far above writes."""

    def __init__(self, client: Client, users: list[User], posts: list[str], photos: list[bytes], seed: int) -> None:
        self.client = client
        self.users = users
        self.posts = posts  # post ids seen so far (shared; appends are atomic)
        self.photos = photos
        self.seed = seed
        self.actions: list[tuple[int, Callable[[random.Random, User], None]]] = [
            (50, self.read_feed),
            (13, self.view_post),
            (4, self.read_comments),
            (3, self.view_profile),
            (5, self.search),
            (10, self.like_or_unlike),
            (5, self.comment),
            (4, self.follow_or_unfollow),
            (4, self.new_post),
            (1, self.delete_post),
        ]
        self._weights = [weight for weight, _ in self.actions]

    def run(self, worker: int, deadline: float, stop: threading.Event) -> None:
        rng = random.Random(self.seed * 1000 + worker)
        while time.monotonic() < deadline and not stop.is_set():
            user = rng.choice(self.users)
            action = rng.choices(self.actions, weights=self._weights)[0][1]
            action(rng, user)

    def _a_post(self, rng: random.Random) -> str | None:
        return rng.choice(self.posts) if self.posts else None

    def read_feed(self, rng: random.Random, user: User) -> None:
        status, page = self.client.feed_page(user)
        pages = 1
        while status == 200 and page["next_cursor"] and rng.random() < 0.35 and pages < 5:
            self._learn(page)
            status, page = self.client.feed_page(user, page["next_cursor"])
            pages += 1
        if status == 200:
            self._learn(page)

    def _learn(self, page: dict[str, Any]) -> None:
        known = set(self.posts[-200:])
        self.posts.extend(item["id"] for item in page["items"] if item["id"] not in known)

    def view_post(self, rng: random.Random, user: User) -> None:
        if post_id := self._a_post(rng):
            self.client.call("GET /posts/{id}", "GET", f"/posts/{post_id}", user)

    def read_comments(self, rng: random.Random, user: User) -> None:
        if post_id := self._a_post(rng):
            self.client.call("GET /posts/{id}/comments", "GET", f"/posts/{post_id}/comments", user)

    def view_profile(self, rng: random.Random, user: User) -> None:
        other = rng.choice(self.users)
        if rng.random() < 0.5:
            self.client.call("GET /users/{username}", "GET", f"/users/{other.username}", user)
        else:
            self.client.call("GET /users/{username}/posts", "GET", f"/users/{other.username}/posts", user)

    def search(self, rng: random.Random, user: User) -> None:
        word = rng.choice(WORDS)
        query = word if rng.random() < 0.7 else word[: rng.randint(2, len(word))]
        self.client.call("GET /search", "GET", "/search", user, params={"q": query})

    def like_or_unlike(self, rng: random.Random, user: User) -> None:
        if post_id := self._a_post(rng):
            method = "PUT" if rng.random() < 0.65 else "DELETE"
            self.client.call(f"{method} /posts/{{id}}/like", method, f"/posts/{post_id}/like", user)

    def comment(self, rng: random.Random, user: User) -> None:
        if post_id := self._a_post(rng):
            text = f"{rng.choice(WORDS)} {uuid.uuid4().hex[:6]}"
            self.client.call(
                "POST /posts/{id}/comments", "POST", f"/posts/{post_id}/comments", user, json={"text": text}
            )

    def follow_or_unfollow(self, rng: random.Random, user: User) -> None:
        other = rng.choice([candidate for candidate in self.users if candidate is not user])
        self.client.follow(user, other, "PUT" if rng.random() < 0.6 else "DELETE")

    def new_post(self, rng: random.Random, user: User) -> None:
        post_id = self.client.post_photo(user, rng.choice(self.photos), title(rng))
        if post_id:
            self.posts.append(post_id)

    def delete_post(self, rng: random.Random, user: User) -> None:
        if len(user.own_posts) > 1:
            try:
                post_id = user.own_posts.pop(rng.randrange(len(user.own_posts)))
            except IndexError:  # another thread, acting as the same user, took the last one
                return
            self.client.call("DELETE /posts/{id}", "DELETE", f"/posts/{post_id}", user)


def seed_world(
    client: Client, users: int, posts_each: int, photos: list[bytes], rng: random.Random, workers: int
) -> tuple[list[User], list[str]]:
    """Users, a follow graph (a few popular accounts, everyone following 3 to 10 others) and
    `posts_each` photo posts per user."""
    from concurrent.futures import ThreadPoolExecutor

    run = uuid.uuid4().hex[:6]
    with ThreadPoolExecutor(workers) as pool:
        people = list(pool.map(lambda n: client.sign_up(f"load_{run}_{n:03d}"), range(users)))
        weights = [5.0 if index < max(2, users // 8) else 1.0 for index in range(users)]
        pairs = []
        for index, user in enumerate(people):
            others = [
                (other, weight) for j, (other, weight) in enumerate(zip(people, weights, strict=True)) if j != index
            ]
            count = min(len(others), rng.randint(3, 10))
            chosen: set[int] = set()
            while len(chosen) < count:
                chosen.add(rng.choices(range(len(others)), weights=[w for _, w in others])[0])
            pairs += [(user, others[j][0]) for j in chosen]
        statuses = list(pool.map(lambda pair: client.follow(*pair), pairs))
        if any(status != 204 for status in statuses):
            raise RuntimeError(f"seeding follows answered {sorted(set(statuses))}")
        jobs = [(user, rng.choice(photos), title(rng)) for user in people for _ in range(posts_each)]
        created = list(pool.map(lambda job: client.post_photo(*job), jobs))
    if not all(created):
        raise RuntimeError("seeding a post failed")
    return people, [post_id for post_id in created if post_id]
