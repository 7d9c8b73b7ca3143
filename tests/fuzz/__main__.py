"""`make fuzz`: schemathesis against a fresh local stack for longer, with more examples.

    python -m tests.fuzz [--minutes 10] [--seed N]

Starts the stack (write limits raised for the fuzzer), seeds it, runs `st run` with the long
budget (its configuration and JSON report are kept in `.fuzz/`), and ends with the figures:
operations tested, test cases, HTTP requests the local API Gateway answered (from its log), and
failures. Exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tests.e2e.conftest import Api
from tests.fuzz.run import FUZZ_WRITE_LIMITS, LONG, run_schemathesis
from tests.fuzz.seed import seed
from tests.stack_runner import ROOT, running_stack

REPORTS = ROOT / ".fuzz"  # schemathesis's configuration and JSON report of the last run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="time budget of the schemathesis run")
    parser.add_argument("--seed", type=int, default=None, help="schemathesis seed, to repeat a run")
    arguments = parser.parse_args(argv)
    budget = replace(LONG, max_time_seconds=max(1, round(arguments.minutes * 60)))
    work = REPORTS
    shutil.rmtree(work, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="fuzz-stack-") as scratch:
        print("starting the local stack ...", flush=True)
        with running_stack(Path(scratch) / "stack", parameters={"WriteRateLimits": FUZZ_WRITE_LIMITS}) as stack:
            print(f"seeding {stack.api_url} ...", flush=True)
            seeded = seed(Api(stack.api_url))
            requests_before = _requests_answered(stack.log())
            started = time.monotonic()
            outcome = run_schemathesis(stack.api_url, seeded, budget, work / "schemathesis", arguments.seed, echo=True)
            elapsed = time.monotonic() - started
            requests = _requests_answered(stack.log()) - requests_before
    report = outcome.report
    operations = report.get("operations", {})
    cases = report.get("test_cases", {})
    failures = len(report.get("failures", [])) + len(report.get("errors", []))  # type: ignore[arg-type]
    print()
    print(f"fuzz_minutes: {elapsed / 60:.1f}")
    print(f"fuzz_operations_tested: {operations.get('tested')} of {operations.get('total')}")  # type: ignore[union-attr]
    print(f"fuzz_test_cases: {cases.get('generated')}")  # type: ignore[union-attr]
    print(f"fuzz_requests: {requests} ({requests / max(elapsed, 1):.0f}/s)")
    print(f"fuzz_failures: {failures}")
    return 0 if outcome.passed and failures == 0 else 1


def _requests_answered(log: str) -> int:
    """Requests the local API Gateway logged (one line each: `METHOD /path → status`)."""
    return len(re.findall(r"devstack\.api .* → \d{3} ", log))


if __name__ == "__main__":
    sys.exit(main())
