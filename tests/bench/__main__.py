"""`make bench`: measure the figures and show them as a table beside their targets.

Everything the measured code writes (the handlers' JSON log lines, moto's and the servers'
warnings, child processes' output) goes to the log file, `.bench/bench.log`; the terminal shows
one progress line per part and the table. The figures are also written to `bench-results.json`
(whole or not at all: see `devstack.files`).

    python -m tests.bench                      # every part
    python -m tests.bench --only feed,media    # some parts (a partial run updates only their figures)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from devstack.files import read_complete_json, write_json_atomically
from tests.bench import feed, media, notify, report, search, video, web

PARTS = {"media": media, "video": video, "feed": feed, "search": search, "notify": notify, "web": web}
LOG = Path(".bench/bench.log")
RESULTS = Path("bench-results.json")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        default="",
        metavar="PART,…",
        help=f"run only these parts, comma-separated: {', '.join(PARTS)} (default: all)",
    )
    parser.add_argument("--log", type=Path, default=LOG, help=f"where everything else goes (default: {LOG})")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"the figures as JSON (default: {RESULTS})")
    args = parser.parse_args(argv)
    chosen = [part.strip() for part in args.only.split(",") if part.strip()] or list(PARTS)
    unknown = [part for part in chosen if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}: choose among {', '.join(PARTS)}")
    args.parts = chosen
    return args


@contextlib.contextmanager
def output_to(log_path: Path) -> Iterator[TextIO]:
    """Send this process's stdout and stderr, and so its children's, to `log_path` (at the file
    descriptor level: loggers holding `sys.stdout` and C code included); yield the terminal."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="replace", buffering=1)
    log_handle = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log_handle, 1)
    os.dup2(log_handle, 2)
    os.close(log_handle)
    try:
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        terminal.close()


def measure(parts: list[str], terminal: TextIO, log_path: Path) -> tuple[dict[str, list[str]], dict[str, Any], bool]:
    """Run each part; report progress on the terminal. Returns the figures' names by part, the
    figures, and whether every part ran."""
    names: dict[str, list[str]] = {}
    figures: dict[str, Any] = {}
    whole = True
    for number, part in enumerate(parts, 1):
        terminal.write(f"[{number}/{len(parts)}] {part} … ")
        terminal.flush()
        print(f"==== {part} ====", flush=True)  # a heading in the log
        started = time.perf_counter()
        try:
            measured = PARTS[part].run()
        except Exception as error:  # reported, and the other parts still run
            traceback.print_exc()
            sys.stderr.flush()
            whole = False
            reason = f"{type(error).__name__}: {error}".splitlines()[0][:200]
            terminal.write(f"failed after {time.perf_counter() - started:.1f} s: {reason} (see {log_path})\n")
            continue
        names[part] = list(measured)
        figures.update(measured)
        count = len(measured)
        terminal.write(f"{count} figure{'' if count == 1 else 's'} in {time.perf_counter() - started:.1f} s\n")
    return names, figures, whole


def save(path: Path, parts: list[str], figures: dict[str, Any]) -> None:
    """Write the figures; a partial run keeps the other parts' figures from the last run."""
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    previous = read_complete_json(path) if set(parts) != set(PARTS) else None
    kept: dict[str, Any] = previous if isinstance(previous, dict) else {}
    measured = kept.pop("measured", None)
    document = {
        **kept,
        "date": today,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        **figures,
        "measured": {**(measured if isinstance(measured, dict) else {}), **{part: today for part in parts}},
    }
    write_json_atomically(path, document)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    with output_to(args.log) as terminal:
        terminal.write(f"make bench: {', '.join(args.parts)}; logs in {args.log}\n")
        names, figures, whole = measure(args.parts, terminal, args.log)
        if figures:
            save(args.results, [part for part in args.parts if part in names], figures)
            met, missed = report.verdicts(figures)
            terminal.write("\n" + report.table(figures, names) + "\n\n")
            verdict = f"targets: {met} met, {missed} not met" if met + missed else "no targets among these figures"
            terminal.write(f"{verdict}; figures written to {args.results}\n")
        if not whole:
            terminal.write(f"some parts failed: their tracebacks are in {args.log}\n")
    return 0 if whole else 1


if __name__ == "__main__":
    sys.exit(main())
