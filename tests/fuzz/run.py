"""Run schemathesis's CLI (`st run`) against a running stack, from the checked-in `openapi.json`.

Every operation is tested in every phase (examples, coverage, fuzzing, stateful, following the
document's links) with the contract's checks. Path parameters take the seeded ids and usernames
with a probability (schemathesis dictionaries), so operations reach their real logic as well as
their refusals; the rest are generated. A failure prints the curl that reproduces it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.seed import Seeded
from tools.openapi import DOCUMENT

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
# Write limits high enough that the fuzzer is never refused for its pace (the limits keep their own tests).
FUZZ_WRITE_LIMITS = "post=1000000/60,comment=1000000/60,like=1000000/60,follow=1000000/60,device=1000000/60"


@dataclass(frozen=True)
class Budget:
    max_examples: int
    max_time_seconds: int
    stateful_steps: int


SUITE = Budget(max_examples=15, max_time_seconds=170, stateful_steps=20)
LONG = Budget(max_examples=200, max_time_seconds=600, stateful_steps=100)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    output: str
    report: dict[str, object]

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


def _config(seeded: Seeded, budget: Budget) -> str:
    dictionaries = {
        "usernames": seeded.usernames,
        "passwords": [seeded.reader.password],
        "refresh_tokens": [seeded.reader.refresh_token],
        "post_ids": seeded.post_ids,
        "comment_ids": seeded.comment_ids,
        "device_ids": seeded.device_ids,
        "notification_ids": seeded.notification_ids,
    }
    lines = []
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines += [
        "[parameters]",
        '"path.username" = { dictionary = "usernames", probability = 0.6 }',
        '"path.post_id" = { dictionary = "post_ids", probability = 0.6 }',
        '"path.comment_id" = { dictionary = "comment_ids", probability = 0.6 }',
        '"path.device_id" = { dictionary = "device_ids", probability = 0.3 }',
        # Logins and refreshes that succeed, besides those that do not.
        '"body.username" = { dictionary = "usernames", probability = 0.5 }',
        '"body.password" = { dictionary = "passwords", probability = 0.5 }',
        '"body.refresh_token" = { dictionary = "refresh_tokens", probability = 0.5 }',
        "",
        "[phases.stateful]",
        f"max-steps = {budget.stateful_steps}",
        "",
    ]
    return "\n".join(lines)


def run_schemathesis(
    api_url: str, seeded: Seeded, budget: Budget, work_dir: Path, seed: int | None = None, echo: bool = False
) -> Outcome:
    """Run `st run` to the end of its budget; with `echo`, its output is shown as it goes."""
    work_dir.mkdir(parents=True, exist_ok=True)
    config = work_dir / "schemathesis.toml"
    config.write_text(_config(seeded, budget))
    report = work_dir / "report.json"
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config),
        "run",
        str(DOCUMENT),
        "--url",
        api_url,
        "--header",
        f"Authorization: Bearer {seeded.reader.id_token}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(budget.max_examples),
        "--max-time",
        str(budget.max_time_seconds),
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    if seed is not None:
        command += ["--seed", str(seed)]
    environment = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "COLUMNS": "120"}
    lines = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if echo:
                print(line, end="", flush=True)
    output = "".join(lines)
    return Outcome(process.returncode, output, json.loads(report.read_text()) if report.exists() else {})
