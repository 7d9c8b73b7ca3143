"""Scheduled invocations (`Schedule` and `ScheduleV2` events), run the way EventBridge runs them.

Expressions are read as EventBridge reads them: `rate(5 minutes)` fires every interval from the
moment the schedule is created (here: when the stack starts); `cron(minutes hours day-of-month
month day-of-week year)` in UTC, or in `ScheduleExpressionTimezone` for `ScheduleV2`, with
`*`, `?`, `,`, `-`, `/`, names (JAN-DEC, SUN-SAT), `L`, `W`, `LW` and `#`; `at(...)` once
(`ScheduleV2`). An expression EventBridge would refuse stops the stack at start-up.

What the function receives: for `Schedule`, its `Input` or else the rule's "Scheduled Event"
(with the scheduled `time`); for `ScheduleV2`, its `Input` with the context attributes
(`<aws.scheduler.scheduled-time>` and the others) filled in, or else `{}`. Invocations are
asynchronous, as on AWS: one that fails is retried after 1 and then 2 minutes, up to the
function's `EventInvokeConfig.MaximumRetryAttempts` (2 by default). `Enabled: false`,
`State: DISABLED`, `StartDate` and `EndDate` are honoured.
"""

from __future__ import annotations

import calendar
import heapq
import itertools
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from devstack.runtime import FunctionError, FunctionRuntime, LocalFunction
from devstack.template import ACCOUNT_ID, TemplateError

log = logging.getLogger("devstack.events")

RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=2))
_SEARCH_DAYS = 366 * 10
_MONTHS = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {name.upper(): number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime | None:
        """The firing that follows `moment` (aware; the start, or the previous firing), or None."""


@dataclass(frozen=True)
class Rate:
    """Every `interval`, counted from when the schedule starts."""

    interval: timedelta

    def next_after(self, moment: datetime) -> datetime | None:
        return moment + self.interval


@dataclass(frozen=True)
class At:
    moment: datetime

    def next_after(self, moment: datetime) -> datetime | None:
        return self.moment if self.moment > moment else None


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: Callable[[date], bool]
    months: frozenset[int]
    years: frozenset[int]
    zone: ZoneInfo

    def next_after(self, moment: datetime) -> datetime | None:
        local = moment.astimezone(self.zone)
        day = local.date()
        for _ in range(_SEARCH_DAYS):
            if day.year in self.years and day.month in self.months and self.days(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.zone)
                        if candidate > moment:
                            return candidate.astimezone(UTC)
            day += timedelta(days=1)
        return None


def parse_expression(expression: str, zone_name: str = "UTC") -> Schedule:
    """A schedule expression as EventBridge reads it; a TemplateError for one it would refuse."""
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise TemplateError(f"unknown schedule time zone {zone_name!r}") from error
    text = expression.strip()
    if match := re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", text):
        value, unit = int(match[1]), match[2]
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise TemplateError(f"{expression}: the value must be 1 with a singular unit, or more with a plural one")
        seconds = {"minute": 60, "hour": 3600, "day": 86400}[unit.rstrip("s")]
        return Rate(timedelta(seconds=value * seconds))
    if match := re.fullmatch(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)", text):
        return At(datetime.fromisoformat(match[1]).replace(tzinfo=zone).astimezone(UTC))
    if match := re.fullmatch(r"cron\(([^)]*)\)", text):
        return _cron(expression, match[1].split(), zone)
    raise TemplateError(f"{expression!r} is not a rate(...), cron(...) or at(...) expression")


def _cron(expression: str, fields: list[str], zone: ZoneInfo) -> Cron:
    if len(fields) != 6:
        raise TemplateError(f"{expression}: a cron expression has 6 fields (minutes hours day month weekday year)")
    minutes, hours, day_of_month, month, weekday, year = fields
    if (day_of_month == "?") == (weekday == "?"):
        raise TemplateError(f"{expression}: exactly one of day-of-month and day-of-week must be '?'")
    try:
        return Cron(
            minutes=frozenset(_values(minutes, 0, 59)),
            hours=frozenset(_values(hours, 0, 23)),
            days=_month_days(day_of_month) if weekday == "?" else _weekdays(weekday),
            months=frozenset(_values(month, 1, 12, _MONTHS)),
            years=frozenset(_values(year, 1970, 2199)),
            zone=zone,
        )
    except ValueError as error:
        raise TemplateError(f"{expression}: {error}") from error


def _values(field_text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    def number(token: str) -> int:
        value = (names or {}).get(token.upper()) if not token.isdigit() else int(token)
        if value is None or not low <= value <= high:
            raise ValueError(f"{token!r} is not in {low}-{high}")
        return value

    values: set[int] = set()
    for part in field_text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"{part!r}: the step must be a positive number")
        if span in ("*", "?"):
            start, end = low, high
        elif "-" in span:
            first, last = span.split("-", 1)
            start, end = number(first), number(last)
        else:
            start = number(span)
            end = high if step else start
        if start > end:
            raise ValueError(f"{part!r}: the range runs backwards")
        values.update(range(start, end + 1, step or 1))
    return values


def _month_days(field_text: str) -> Callable[[date], bool]:
    """Day-of-month: numbers, `L` (the last day), `LW` (the last weekday), `15W` (the weekday
    nearest the 15th, within the month)."""
    if field_text == "L":
        return lambda day: day.day == calendar.monthrange(day.year, day.month)[1]
    if field_text == "LW":
        return lambda day: day == _nearest_weekday(day, calendar.monthrange(day.year, day.month)[1])
    if match := re.fullmatch(r"(\d{1,2})W", field_text):
        target = int(match[1])
        if not 1 <= target <= 31:
            raise ValueError(f"{field_text!r} is not in 1-31")
        return lambda day: day == _nearest_weekday(day, min(target, calendar.monthrange(day.year, day.month)[1]))
    days = _values(field_text, 1, 31)
    return lambda day: day.day in days


def _nearest_weekday(day: date, target: int) -> date:
    wanted = day.replace(day=target)
    last = calendar.monthrange(day.year, day.month)[1]
    if wanted.weekday() == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return wanted - timedelta(days=1) if target > 1 else wanted + timedelta(days=2)
    if wanted.weekday() == 6:  # Sunday: the Monday after, or the Friday before on the last day
        return wanted + timedelta(days=1) if target < last else wanted - timedelta(days=2)
    return wanted


def _weekdays(field_text: str) -> Callable[[date], bool]:
    """Day-of-week (1 = SUN ... 7 = SAT): numbers and names, `5L` (the month's last Thursday),
    `3#2` (its second Tuesday), `L` alone (Saturday)."""

    def cron_weekday(day: date) -> int:
        return (day.weekday() + 1) % 7 + 1

    if field_text == "L":
        return lambda day: cron_weekday(day) == 7
    if match := re.fullmatch(r"(\w+)L", field_text):
        (weekday,) = _values(match[1], 1, 7, _WEEKDAYS)
        return lambda day: cron_weekday(day) == weekday and day.month != (day + timedelta(days=7)).month
    if match := re.fullmatch(r"(\w+)#([1-5])", field_text):
        (weekday,) = _values(match[1], 1, 7, _WEEKDAYS)
        nth = int(match[2])
        return lambda day: cron_weekday(day) == weekday and (day.day - 1) // 7 + 1 == nth
    weekdays = _values(field_text, 1, 7, _WEEKDAYS)
    return lambda day: cron_weekday(day) in weekdays


@dataclass
class ScheduleMapping:
    """One `Schedule` or `ScheduleV2` event of a function."""

    function: LocalFunction
    name: str
    kind: str
    schedule: Schedule
    region: str
    input: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    retries: int = 2

    @classmethod
    def from_event(
        cls, function: LocalFunction, name: str, kind: str, props: dict[str, Any], stack_name: str, region: str
    ) -> ScheduleMapping:
        expression = props.get("Schedule") if kind == "Schedule" else props.get("ScheduleExpression")
        if not expression:
            raise TemplateError(f"{function.logical_id}.{name}: a {kind} event needs its schedule expression")
        zone = str(props.get("ScheduleExpressionTimezone", "UTC")) if kind == "ScheduleV2" else "UTC"
        invoke_config = function.event_invoke_config or {}
        return cls(
            function=function,
            name=str(props.get("Name") or f"{stack_name}-{function.logical_id}{name}"),
            kind=kind,
            schedule=parse_expression(str(expression), zone),
            region=region,
            input=props.get("Input"),
            start=_moment(props.get("StartDate"), zone),
            end=_moment(props.get("EndDate"), zone),
            retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
        )

    @property
    def arn(self) -> str:
        if self.kind == "Schedule":
            return f"arn:aws:events:{self.region}:{ACCOUNT_ID}:rule/{self.name}"
        return f"arn:aws:scheduler:{self.region}:{ACCOUNT_ID}:schedule/default/{self.name}"

    def next_after(self, moment: datetime) -> datetime | None:
        if self.start is not None and moment < self.start:
            moment = self.start - timedelta(microseconds=1)
        fire = self.schedule.next_after(moment)
        if fire is None or (self.end is not None and fire > self.end):
            return None
        return fire

    def event(self, scheduled: datetime, attempt: int) -> Any:
        time = scheduled.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.kind == "ScheduleV2":
            if self.input is None:
                return {}
            text = str(self.input)
            for attribute, value in (
                ("schedule-arn", self.arn),
                ("scheduled-time", time),
                ("execution-id", uuid.uuid4().hex[:16]),
                ("attempt-number", str(attempt)),
            ):
                text = text.replace(f"<aws.scheduler.{attribute}>", value)
            return json.loads(text)
        if self.input is not None:
            return json.loads(str(self.input))
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": time,
            "region": self.region,
            "resources": [self.arn],
            "detail": {},
        }


def _moment(value: Any, zone: str) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))).astimezone(UTC)


def is_enabled(props: dict[str, Any]) -> bool:
    if props.get("Enabled") is False:
        return False
    return str(props.get("State", "ENABLED")).upper() == "ENABLED"


@dataclass(order=True)
class _Due:
    when: datetime
    order: int
    mapping: ScheduleMapping = field(compare=False)
    scheduled: datetime = field(compare=False)
    attempt: int = field(compare=False, default=1)


class Scheduler:
    """Fires every schedule on time in one thread; `now` and `wait` are injectable for tests."""

    def __init__(
        self,
        runtime: FunctionRuntime,
        mappings: list[ScheduleMapping],
        stop: threading.Event,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.runtime = runtime
        self.mappings = mappings
        self._stop = stop
        self._now = now
        self._wait = wait or stop.wait
        self._order = itertools.count()

    def run(self) -> None:
        queue: list[_Due] = []
        started = self._now()
        for mapping in self.mappings:
            self._push_next(queue, mapping, started)
        while not self._stop.is_set():
            delay = (queue[0].when - self._now()).total_seconds() if queue else 60.0
            if delay > 0:
                if self._wait(min(delay, 60)):
                    return
                continue
            due = queue[0]
            heapq.heappop(queue)
            if due.attempt == 1:
                self._push_next(queue, due.mapping, due.scheduled)
            self._fire(queue, due)

    def _push_next(self, queue: list[_Due], mapping: ScheduleMapping, after: datetime) -> None:
        fire = mapping.next_after(after)
        if fire is not None:
            heapq.heappush(queue, _Due(fire, next(self._order), mapping, fire))

    def _fire(self, queue: list[_Due], due: _Due) -> None:
        mapping = due.mapping
        try:
            self.runtime.invoke(mapping.function, mapping.event(due.scheduled, due.attempt), f"schedule:{mapping.name}")
        except FunctionError as error:
            if due.attempt > mapping.retries:
                log.error(
                    "λ %s: scheduled invocation failed %d times (%s); dropped",
                    mapping.function.logical_id,
                    due.attempt,
                    error.error_type,
                )
                return
            retry = self._now() + RETRY_DELAYS[min(due.attempt, len(RETRY_DELAYS)) - 1]
            heapq.heappush(queue, _Due(retry, next(self._order), mapping, due.scheduled, due.attempt + 1))
