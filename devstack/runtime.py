"""Run the template's functions in this process, each with its environment from the template.

As on Lambda, an execution environment serves one invocation at a time: handlers keep
per-invocation state in module globals (Powertools' resolver keeps the current event), so
concurrent invocations of one function queue for its environment. Separately imported copies of
a module are not separate environments in one process: with tracing disabled, Powertools routes
of one copy can run another copy's route functions (seen in 72 of 2,000 concurrent calls), which
read the other copy's request. So each function has one environment (like reserved concurrency
1); functions still run concurrently with each other.

Powertools' REST resolver keeps the current request on a class attribute
(`BaseRouter.current_event`), shared by every resolver in the process: two functions that serve
the API, running at once here (on Lambda they are separate processes), would read each other's
request, and so each other's caller (seen under `make load`: a delete by the author answered 403).
So the functions that serve API routes take turns, one API invocation at a time.

Faults can be injected on purpose (devstack/faults.py, off unless asked for): an invocation
marked to be killed dies as a killed environment does, with `Runtime.ExitError`.

All functions share one process here, so they share one `os.environ`. Every variable the
template gives a function is set once for all of them; a variable that two functions give
different values would make one of them wrong, so that stops the stack at start-up. The one
variable that must differ, `POWERTOOLS_SERVICE_NAME`, is set while each function's module is
imported, which is when Powertools reads it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from devstack.faults import Faults
from devstack.template import ACCOUNT_ID, Template, TemplateError

log = logging.getLogger("devstack.lambda")

PER_FUNCTION_VARIABLES = {"POWERTOOLS_SERVICE_NAME"}


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    code_dir: Path
    handler_path: str
    environment: dict[str, str]
    timeout_seconds: int
    memory_mb: int
    events: dict[str, dict[str, Any]]
    # How asynchronous invocations (schedules) are retried: MaximumRetryAttempts.
    event_invoke_config: dict[str, Any] = field(default_factory=dict)
    handler: Callable[[Any, Any], Any] | None = None
    environments: queue.Queue[Callable[[Any, Any], Any]] = field(default_factory=queue.Queue)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{self.name}"


@dataclass
class LambdaContext:
    """What the Lambda runtime hands a handler as its second argument."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


class FunctionError(Exception):
    """A function invocation failed; carries the error type Lambda would report."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


ENVIRONMENTS_PER_FUNCTION = 1


class FunctionRuntime:
    def __init__(
        self, template: Template, environments: int = ENVIRONMENTS_PER_FUNCTION, faults: Faults | None = None
    ) -> None:
        self.template = template
        self.environments = environments
        self.faults = faults or Faults.from_environment()
        self._api_turn = threading.Lock()  # one API invocation at a time (see the module's docstring)
        self.functions: dict[str, LocalFunction] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ loading
    def load(self, base_environment: dict[str, str]) -> None:
        t = self.template
        for logical_id in t.of_type("AWS::Serverless::Function"):
            props = t.function_properties(logical_id)
            variables = t.resolve((props.get("Environment") or {}).get("Variables") or {})
            self.functions[logical_id] = LocalFunction(
                logical_id=logical_id,
                name=t.refs[logical_id],
                code_dir=(t.root / str(t.resolve(props["CodeUri"]))).resolve(),
                handler_path=str(props.get("Handler", "app.lambda_handler")),
                environment={key: str(value) for key, value in variables.items()},
                timeout_seconds=int(t.resolve(props.get("Timeout", 3))),
                memory_mb=int(t.resolve(props.get("MemorySize", 128))),
                events=t.resolve(props.get("Events") or {}),
                event_invoke_config=t.resolve(props.get("EventInvokeConfig") or {}),
            )
        shared = dict(base_environment)
        owners: dict[str, str] = {}
        for function in self.functions.values():
            for key, value in function.environment.items():
                if key in PER_FUNCTION_VARIABLES:
                    continue
                if key in shared and key not in base_environment and shared[key] != value:
                    raise TemplateError(
                        f"{function.logical_id} and {owners[key]} give {key} different values; "
                        "in one process they must agree"
                    )
                if key not in base_environment:
                    shared[key] = value
                    owners[key] = function.logical_id
        os.environ.update(shared)
        for function in self.functions.values():
            function.handler = self._import(function)
            function.environments.put(function.handler)
            for copy in range(1, self.environments):
                function.environments.put(self._import(function, copy))

    def _import(self, function: LocalFunction, copy: int = 0) -> Callable[[Any, Any], Any]:
        module_path, _, attribute = function.handler_path.rpartition(".")
        source = function.code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
        if not source.exists():
            raise TemplateError(f"{function.logical_id}: handler file {source} not found")
        try:
            relative = source.relative_to(Path.cwd())
            module_name = ".".join(relative.with_suffix("").parts)
        except ValueError:
            module_name = f"devstack_functions.{function.logical_id}"
        if copy:
            module_name = f"devstack_environments.{function.logical_id}.{copy}"
        previous = {key: os.environ.get(key) for key in PER_FUNCTION_VARIABLES}
        try:
            for key in PER_FUNCTION_VARIABLES:
                if key in function.environment:
                    os.environ[key] = function.environment[key]
            module = (sys.modules.get(module_name) if not copy else None) or self._load_module(module_name, source)
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise TemplateError(f"{function.logical_id}: {function.handler_path} is not callable")
        return handler

    @staticmethod
    def _load_module(name: str, source: Path) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, source)
        if spec is None or spec.loader is None:
            raise TemplateError(f"cannot import {source}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    # ------------------------------------------------------------------ invoking
    def by_name(self, name: str) -> LocalFunction:
        for function in self.functions.values():
            if function.name == name or function.logical_id == name:
                return function
        raise KeyError(name)

    def invoke(self, function: LocalFunction, event: Any, source: str) -> Any:
        """Run the handler; a raised exception becomes a FunctionError, as Lambda reports it."""
        assert function.handler is not None
        context = LambdaContext(
            function_name=function.name,
            memory_limit_in_mb=function.memory_mb,
            invoked_function_arn=function.arn,
            timeout_seconds=function.timeout_seconds,
        )
        killed = self.faults.take_kill(function.logical_id)
        batch = len(event.get("Records") or []) if isinstance(event, dict) else 0
        if killed:
            event = _first_half(event)
        started = time.perf_counter()
        handler = function.environments.get()  # a free execution environment (waits if all are busy)
        turn = self._api_turn if _serves_api(function) else contextlib.nullcontext()
        try:
            with turn:
                result = handler(event, context)
        except Exception as error:
            elapsed = (time.perf_counter() - started) * 1000
            log.warning(
                "λ %s ← %s failed in %.1f ms: %s: %s",
                function.logical_id,
                source,
                elapsed,
                type(error).__name__,
                error,
            )
            raise FunctionError(type(error).__name__, str(error)) from error
        finally:
            function.environments.put(handler)
        elapsed = (time.perf_counter() - started) * 1000
        if killed:
            handled = len(event.get("Records") or []) if isinstance(event, dict) else 0
            log.warning(
                "fault: λ %s ← %s killed after %.1f ms (%d of %d record(s) handled, none acknowledged)",
                function.logical_id,
                source,
                elapsed,
                handled,
                batch,
            )
            raise FunctionError("Runtime.ExitError", "the execution environment was killed (injected fault)")
        if elapsed > function.timeout_seconds * 1000:
            log.warning(
                "λ %s ran %.0f ms, past its %d s timeout (it would be killed on AWS)",
                function.logical_id,
                elapsed,
                function.timeout_seconds,
            )
        log.info("λ %s ← %s %.1f ms", function.logical_id, source, elapsed)
        return result

    def invoke_for_moto(self, name: str, event: Any) -> tuple[Any, str | None]:
        try:
            return self.invoke(self.by_name(name), event, "lambda:Invoke"), None
        except FunctionError as error:
            return str(error), error.error_type


def _first_half(event: Any) -> Any:
    """What a batch handler gets through before its environment is killed: the first half of the
    records (all of a batch of one); any other event whole."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or len(records) < 2:
        return event
    return {**event, "Records": records[: (len(records) + 1) // 2]}


def _serves_api(function: LocalFunction) -> bool:
    return any(event.get("Type") == "Api" for event in function.events.values())
