"""`python -m tools.load [--seconds 180] [--users 40] [--workers 8] [--seed N]`: see tools/load/__init__.py."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.faults import FAULTS_VARIABLE
from devstack.files import read_complete_json
from devstack.template import Template
from tests.stack_runner import ROOT, RunningStack, running_stack
from tools.load import verdict
from tools.load.chaos import DeadLetterWatch, FaultFile, RedisOutage, poison_fanout_message, poison_upload_event
from tools.load.traffic import Client, Mix, User, photos, seed_world

TEMPLATE = ROOT / "template.yaml"
KILLED_FUNCTION = "ProcessMediaFunction"
KILLS = 2
KILL_TRIGGERS = 5
POISON_REASON = "every attempt failed"  # photofeed.services.stuck_posts.gave_up: the dead-letter path only


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.load", description=(__doc__ or "").split(":")[0])
    parser.add_argument("--seconds", type=float, default=180, help="how long the load runs (default 180)")
    parser.add_argument("--users", type=int, default=40, help="users signed up and used (default 40)")
    parser.add_argument("--workers", type=int, default=8, help="client threads, each one request at a time (default 8)")
    parser.add_argument("--posts-each", type=int, default=2, help="photo posts per user before the load (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="the random seed of the mix and the world (default 1)")
    parser.add_argument(
        "--redis-down",
        type=float,
        default=None,
        help="seconds the Redis server stays down (default: 15, or 15%% of a shorter run)",
    )
    parser.add_argument(
        "--duplicates", type=float, default=0.2, help="share of SQS batches delivered twice (default 0.2)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (stack log) even when all passes")
    args = parser.parse_args(argv)
    if args.users < 3:
        parser.error("--users: at least 3")
    return args


@dataclass
class Schedule:
    """When each fault comes, in seconds from the start of the load."""

    poison_at: float
    redis_down_at: float
    redis_down_for: float
    kill_at: float
    retry_after_seconds: float  # the first retry of a failed SQS message; doubles with each receive

    @classmethod
    def for_run(cls, seconds: float, redis_down: float | None) -> Schedule:
        return cls(
            poison_at=max(2.0, 0.05 * seconds),
            redis_down_at=0.3 * seconds,
            redis_down_for=redis_down if redis_down is not None else min(15.0, 0.15 * seconds),
            kill_at=0.6 * seconds,
            # 5 receives back off for 1+2+4+8+16 s (0.5: 1+1+2+4+8 s): longer than the outage, so a
            # fan-out that failed while Redis was down is not dead-lettered.
            retry_after_seconds=1.0 if seconds >= 120 else 0.5,
        )


@dataclass
class Timeline:
    start: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str]] = field(default_factory=list)

    def note(self, what: str) -> None:
        at = time.monotonic() - self.start
        self.events.append((at, what))
        say(f"  t={at:6.1f}s  {what}")


def say(text: str) -> None:
    print(text, flush=True)


class LoadRun:
    def __init__(self, args: argparse.Namespace, stack: RunningStack, faults: FaultFile) -> None:
        self.args = args
        self.stack = stack
        self.faults = faults
        self.rng = random.Random(args.seed)
        self.client = Client(stack.api_url)
        self.sqs = stack.client("sqs")
        self.dynamodb = stack.client("dynamodb")
        endpoints = read_complete_json(stack.state_dir / "endpoints.json") or {}
        self.template = Template.load(TEMPLATE, endpoints["stack_name"], endpoints["region"])
        self.outage = RedisOutage(stack.redis_url, endpoints["redis_server"], self.template)
        self.schedule = Schedule.for_run(args.seconds, args.redis_down)
        self.timeline = Timeline()
        self.photos = photos(16, args.seed)
        self.users: list[User] = []
        self.posts: list[str] = []
        self.poison_post: str | None = None
        self.poison_key: str | None = None
        self.poison_marker: str | None = None
        self.kill_triggers: list[str] = []
        self.client_failures: list[str] = []
        queues = {name: url for name, url in stack.resources.items() if str(url).startswith("http") and "Queue" in name}
        self.dead_letter_queues = {name: url for name, url in queues.items() if "DeadLetter" in name}
        self.work_queues = {name: url for name, url in queues.items() if name not in self.dead_letter_queues}
        self.watch = DeadLetterWatch(self.sqs, self.dead_letter_queues)

    def table(self, logical_id: str) -> str:
        return self.stack.resources[logical_id]

    # ------------------------------------------------------------------ phases
    def seed(self) -> None:
        started = time.monotonic()
        self.users, self.posts = seed_world(
            self.client, self.args.users, self.args.posts_each, self.photos, self.rng, self.args.workers
        )
        settled, _ = verdict.settle(self.sqs, self.dynamodb, self.work_queues, self.table("PostsTable"), timeout=120)
        if not settled:
            raise RuntimeError("the seeded posts did not settle")
        say(
            f"seeded {len(self.users)} users, their follows and {len(self.posts)} photo posts "
            f"in {time.monotonic() - started:.1f} s"
        )

    def load(self) -> float:
        mix = Mix(self.client, self.users, list(self.posts), self.photos, self.args.seed)
        stop = threading.Event()
        self.faults.set(duplicate_sqs=self.args.duplicates)
        self.client.recording = True
        self.watch.start()
        self.timeline = Timeline()
        self.timeline.note(
            f"load starts: {self.args.workers} client threads for {self.args.seconds:g} s; "
            f"{self.args.duplicates:.0%} of SQS batches delivered twice"
        )
        deadline = self.timeline.start + self.args.seconds
        threads = [
            threading.Thread(target=self._guarded(mix.run, index, deadline, stop), name=f"client-{index}")
            for index in range(self.args.workers)
        ]
        threads.append(threading.Thread(target=self._guarded(self._faults, stop), name="faults"))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.client.recording = False
        elapsed = time.monotonic() - self.timeline.start
        self.faults.set(duplicate_sqs=0)
        self.timeline.note("load ends")
        return elapsed

    def _guarded(self, target: Callable[..., None], *args: Any) -> Callable[[], None]:
        def run() -> None:
            while True:
                try:
                    target(*args)
                    return
                except Exception as error:  # a client bug must not stop the run unseen
                    self.client_failures.append(f"{type(error).__name__}: {error}")
                    if len(self.client_failures) > 100:
                        raise

        return run

    def _at(self, offset: float, stop: threading.Event) -> bool:
        return not stop.wait(max(0.0, self.timeline.start + offset - time.monotonic()))

    def _faults(self, stop: threading.Event) -> None:
        schedule = self.schedule
        if self._at(schedule.poison_at, stop):
            self.send_poison()
        if self._at(schedule.redis_down_at, stop):
            self.outage.kill()
            self.timeline.note(f"Redis server killed (SIGKILL); down for {schedule.redis_down_for:g} s")
            time.sleep(schedule.redis_down_for)
            self.outage.start_again()
            self.timeline.note("Redis server started again on its port, empty")
        if self._at(schedule.kill_at, stop):
            # Two kills, and photos uploaded together so that a batch holds several of them.
            self.faults.write(kill={KILLED_FUNCTION: KILLS})
            authors = self.users[1 : 1 + KILL_TRIGGERS]
            with ThreadPoolExecutor(KILL_TRIGGERS) as pool:
                posted = list(pool.map(self._kill_trigger, authors))
            self.kill_triggers = [post_id for post_id in posted if post_id]
            self.timeline.note(
                f"{KILLED_FUNCTION} armed to die at its next {KILLS} batches; {len(authors)} photos posted at once"
            )

    def _kill_trigger(self, author: User) -> str | None:
        """A photo posted and uploaded, kept out of the author's own posts (the mix deletes those)."""
        created = self.client.create_post(author, self.photos[1], "Kill trigger")
        if created is None or self.client.upload(created[1], self.photos[1]) not in (200, 201, 204):
            return None
        return created[0]

    def send_poison(self) -> None:
        author = self.users[0]
        created = self.client.create_post(author, self.photos[0], "Poison upload")
        if created is None:
            raise RuntimeError("the poison post could not be created")
        self.poison_post, upload = created
        self.poison_key = upload["fields"]["key"]
        bucket = self.stack.resources["UploadsBucket"]
        self.sqs.send_message(
            QueueUrl=self.work_queues["MediaQueue"], MessageBody=poison_upload_event(bucket, self.poison_key)
        )
        self.poison_marker, body = poison_fanout_message()
        self.sqs.send_message(QueueUrl=self.work_queues["FanoutQueue"], MessageBody=body)
        self.timeline.note(
            "poison upload: an S3 event to MediaQueue for a post whose photo never came; "
            "poison fan-out message (an unknown type) to FanoutQueue"
        )

    # ------------------------------------------------------------------ after
    def checks(self, load_seconds: float) -> tuple[str, list[verdict.Check], list[str]]:
        samples = list(self.client.samples)
        table, _ = verdict.route_table(samples, load_seconds)
        say("settling: waiting for every queue to empty and every post to leave flight ...")
        settled, waited = verdict.settle(
            self.sqs, self.dynamodb, self.work_queues, self.table("PostsTable"), timeout=240
        )
        self.watch.stop()
        say(f"  {'settled' if settled else 'NOT settled'} after {waited:.1f} s")
        down = (
            (self.outage.down_at, self.outage.up_at)
            if self.outage.down_at is not None and self.outage.up_at is not None
            else None
        )
        checks = [verdict.Check("the system settled after the load", settled, f"in {waited:.1f} s")]
        checks += verdict.check_statuses(samples, down)
        checks.append(
            verdict.Check(
                "the clients ran without a failure of their own",
                not self.client_failures,
                "; ".join(self.client_failures[:3]) or "none",
            )
        )
        truth = self._truth_checks()
        if not all(check.passed for check in truth):
            time.sleep(5)  # not yet quiet after all? one more look, then it stands
            truth = self._truth_checks()
        checks += truth
        checks += self._fault_checks()
        alarms = self._alarm_lines()
        return table, checks, alarms

    def _truth_checks(self) -> list[verdict.Check]:
        posts = verdict.scan(self.dynamodb, self.table("PostsTable"))
        follows = verdict.scan(self.dynamodb, self.table("FollowsTable"))
        users = verdict.scan(self.dynamodb, self.table("UsersTable"))
        likes = verdict.scan(self.dynamodb, self.table("LikesTable"))
        comments = verdict.scan(self.dynamodb, self.table("CommentsTable"))
        expected = verdict.expected_feeds([user.id for user in self.users], follows, posts)
        actual = {user.id: self.client.whole_feed(user) for user in self.users}
        names = {user.id: user.username for user in self.users}
        return [
            verdict.check_posts(posts),
            verdict.check_feeds(expected, actual, names),
            verdict.check_counters(users, follows, posts, likes, comments),
        ]

    def _fault_checks(self) -> list[verdict.Check]:
        log = self.stack.log()
        checks = []
        kills = [
            line.split("(", 1)[-1].split(" handled")[0]
            for line in log.splitlines()
            if f"fault: λ {KILLED_FUNCTION} " in line
        ]
        statuses = Counter(str((self._post(post_id) or {}).get("status")) for post_id in self.kill_triggers)
        checks.append(
            verdict.Check(
                f"{KILLED_FUNCTION} killed mid-batch, the batch processed again",
                len(kills) == KILLS and statuses == Counter({"published": KILL_TRIGGERS}),
                f"{len(kills)} kills (records handled before each: {', '.join(kills) or 'none'}); "
                f"the photos posted then: {dict(statuses)}",
            )
        )
        duplicates = log.count("fault: a batch of ")
        checks.append(verdict.Check("SQS batches delivered twice", duplicates >= 1, f"{duplicates} batches"))
        poison = self._post(self.poison_post) if self.poison_post else None
        handled = bool(self.poison_key) and any(
            "dead-lettered upload rejected" in line and str(self.poison_key) in line for line in log.splitlines()
        )
        checks.append(
            verdict.Check(
                "the poison upload went to MediaDeadLetterQueue and its post was rejected from there",
                poison is not None
                and poison.get("status") == "rejected"
                and POISON_REASON in str(poison.get("rejection_reason"))
                and handled,
                f"post {(poison or {}).get('status', 'missing')}: {(poison or {}).get('rejection_reason')}"
                f"; StuckPostsFunction read it from the dead-letter queue: {handled}"
                f"; so MediaDeadLettersAlarm (messages waiting or received, at least 1) would fire: {handled}",
            )
        )
        kept = self._dead_letters("FanoutDeadLetterQueue")
        ours = [body for body in kept if self.poison_marker and self.poison_marker in body]
        others = {
            name: verdict.queue_depth(self.sqs, url)
            for name, url in self.dead_letter_queues.items()
            if name != "FanoutDeadLetterQueue"
        }
        checks.append(
            verdict.Check(
                "the poison fan-out message is in FanoutDeadLetterQueue, and nothing else is dead-lettered",
                len(ours) == 1 and len(kept) == 1 and not any(others.values()),
                f"FanoutDeadLetterQueue holds {len(kept)} (the poison: {len(ours)}); others: "
                + ", ".join(f"{name} {depth}" for name, depth in others.items()),
            )
        )
        alarms = {alarm.queue: alarm for alarm in verdict.dead_letter_alarms(TEMPLATE)}
        fanout_alarm = alarms.get("FanoutDeadLetterQueue")
        state = (
            fanout_alarm.state(self.watch.samples.get("FanoutDeadLetterQueue", []), time.monotonic())
            if fanout_alarm
            else "no alarm in the template"
        )
        checks.append(
            verdict.Check(
                "FanoutDeadLettersAlarm's condition holds (it would raise the alarm)",
                state == "ALARM",
                f"{fanout_alarm.condition if fanout_alarm else ''}: {state}",
            )
        )
        return checks

    def _alarm_lines(self) -> list[str]:
        lines = []
        now = time.monotonic()
        for alarm in verdict.dead_letter_alarms(TEMPLATE):
            samples = self.watch.samples.get(alarm.queue, [])
            ever = "; reached during the run" if alarm.ever(samples) else ""
            lines.append(f"{alarm.name:<30} {alarm.state(samples, now):<6} {alarm.condition}{ever}")
        return lines

    def _post(self, post_id: str | None) -> dict[str, Any] | None:
        if post_id is None:
            return None
        item = self.dynamodb.get_item(TableName=self.table("PostsTable"), Key={"id": {"S": post_id}}).get("Item")
        return {key: verdict._plain(value) for key, value in item.items()} if item else None

    def _dead_letters(self, queue: str) -> list[str]:
        """The bodies in a dead-letter queue, left there (received with no visibility timeout)."""
        url = self.dead_letter_queues[queue]
        bodies: dict[str, str] = {}
        for _ in range(5):
            answer = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
            for message in answer.get("Messages", []):
                bodies[message["MessageId"]] = message["Body"]
            if not answer.get("Messages"):
                break
        return list(bodies.values())


def report(run: LoadRun, load_seconds: float, table: str, checks: list[verdict.Check], alarms: list[str]) -> bool:
    say("")
    say(f"Requests during the load ({load_seconds:.0f} s, {run.args.workers} client threads, {len(run.users)} users):")
    say(table)
    say("")
    say("Faults:")
    for at, what in run.timeline.events:
        say(f"  t={at:6.1f}s  {what}")
    say("")
    say("Dead-letter alarms (the template's conditions on ApproximateNumberOfMessagesVisible, sampled every second):")
    for line in alarms:
        say(f"  {line}")
    say("")
    say("Checks:")
    for check in checks:
        say(f"  {'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    passed = all(check.passed for check in checks)
    say("")
    say(f"Verdict: {'PASS' if passed else 'FAIL'}")
    return passed


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    workdir = Path(tempfile.mkdtemp(prefix="photofeed-load-"))
    schedule = Schedule.for_run(args.seconds, args.redis_down)
    faults = FaultFile(workdir / "faults.json", schedule.retry_after_seconds)
    previous = os.environ.get(FAULTS_VARIABLE)
    os.environ[FAULTS_VARIABLE] = str(faults.path)  # the stack's process inherits it
    say(f"load: starting a local stack (its log: {workdir / 'stack.log'})")
    run: LoadRun | None = None
    passed = False
    try:
        with running_stack(workdir / "stack", timeout=120) as stack:
            run = LoadRun(args, stack, faults)
            run.seed()
            load_seconds = run.load()
            table, checks, alarms = run.checks(load_seconds)
            passed = report(run, load_seconds, table, checks, alarms)
    finally:
        if run is not None:
            run.outage.stop()
        if previous is None:
            os.environ.pop(FAULTS_VARIABLE, None)
        else:
            os.environ[FAULTS_VARIABLE] = previous
        if passed and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"the stack's log and the fault file are kept in {workdir}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
