"""The API from outside, by a tool that only reads `openapi.json`: schemathesis against the local
stack (about three minutes), every operation, every phase, the contract's checks. 0 failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Api
from tests.fuzz.run import FUZZ_WRITE_LIMITS, SUITE, run_schemathesis
from tests.fuzz.seed import seed
from tests.stack_runner import RunningStack, running_stack
from tools.openapi import DOCUMENT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fuzzed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(tmp_path_factory.mktemp("fuzzed"), parameters={"WriteRateLimits": FUZZ_WRITE_LIMITS}) as stack:
        yield stack


@pytest.mark.timeout(600)  # the stack's start and the seeding count too; schemathesis stops at 170 s
def test_schemathesis_finds_nothing(fuzzed_stack: RunningStack, tmp_path: Path) -> None:
    seeded = seed(Api(fuzzed_stack.api_url))

    outcome = run_schemathesis(fuzzed_stack.api_url, seeded, SUITE, tmp_path)

    assert outcome.passed, f"schemathesis failed (reproduce with the curl lines below):\n{outcome.output[-20000:]}"
    every = sum(len(item) for item in json.loads(DOCUMENT.read_text())["paths"].values())
    assert outcome.report["operations"] == {  # type: ignore[comparison-overlap]
        "total": every,
        "selected": every,
        "tested": every,
        "errored": 0,
        "skipped": 0,
        "skip_reasons": [],
    }
    phases = outcome.report["phases"]
    assert {name: phase["status"] for name, phase in phases.items()} == {  # type: ignore[attr-defined]
        "examples": "skip",  # the document gives no examples
        "coverage": "success",
        "fuzzing": "success",
        "stateful": "success",
    }
    assert outcome.report["test_cases"]["generated"] > 1000  # type: ignore[index]
