"""`make load`, short: 30 s of the load with all four faults (tools/load), and its verdict."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.stack_runner import ROOT

pytestmark = pytest.mark.e2e


def test_a_short_load_with_every_fault_passes_its_checks() -> None:
    # Given a stack of its own, 12 users and their posts; when 30 s of traffic run while Redis is
    # killed and started again, the media worker is killed mid-batch, SQS batches come twice and
    # poison messages are sent; then every check of the tool holds.
    finished = subprocess.run(
        [sys.executable, "-m", "tools.load", "--seconds", "30", "--users", "12", "--workers", "4", "--posts-each", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = finished.stdout + finished.stderr

    assert finished.returncode == 0, output
    assert "Verdict: PASS" in output
    for fault in ("Redis server killed", "ProcessMediaFunction armed", "poison upload", "delivered twice"):
        assert fault in output, fault
    assert "FAIL" not in output
