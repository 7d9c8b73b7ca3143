"""`make bench` shows progress and a table of the figures beside their targets, and nothing
else: the measured code's log lines (the handlers' JSON, moto's and the libraries' warnings,
child processes' output) go to `.bench/bench.log`. It once printed about 30,000 characters of
JSON log lines around its figures. The parts here are stand-ins as noisy as the real ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.stack_runner import ROOT

NOISY_BENCH = textwrap.dedent(
    """
    import json, logging, subprocess, sys, warnings
    from pathlib import Path

    from aws_lambda_powertools import Logger

    import tests.bench.__main__ as bench
    from tests.bench import feed, media, notify, search, video, web
    from tests.devstack.file_watch import watching

    handler_log = Logger(service="read_api")  # made before the bench starts, as the handlers' are

    def media_part():
        handler_log.info("rendered the variants", extra={"post_id": "p1"})
        logging.getLogger("moto").warning("moto warns about something")
        warnings.warn("a library warns about something")
        print("a print in the measured code")
        subprocess.run(["sh", "-c", "echo a child on stdout; echo a child on stderr >&2"], check=True)
        return {"media_12mp_jpeg_seconds_median": 0.34}

    def feed_part():
        for _ in range(100):
            handler_log.info("served a page", extra={"items": 20})
        return {
            "feed_read_p99_ms": 1.17,
            "dynamodb_calls_per_warm_read": 0.0,
            "redis_round_trips_per_warm_read": 2.0,
            "cluster_feed_read_p99_ms": 2.4,
            "cluster_redis_round_trips_per_warm_read": 2.0,
            "stream_framework_read_p99_ms": 1.3,
            "feed_read_p99_vs_stream_framework": 0.9,
            "cluster_feed_read_p99_vs_stream_framework": 1.846,
            "fanout_deliveries_per_s": 150000,
            "redis_benchmark_zadd_per_s": 790000,
            "fanout_vs_redis_benchmark_zadd": 0.19,
            "cluster_fanout_deliveries_per_s": 210000,
            "cluster_redis_benchmark_zadd_per_s": 400000,
            "cluster_fanout_vs_redis_benchmark_zadd": 0.525,
            "time_to_feed_10k_s": 0.12,
            "celebrity_publish_redis_writes": 5,
            "celebrity_post_in_next_read_of_sample": "1000/1000",
            "redis_bytes_per_feed_entry": 38.1,
            "cluster_redis_bytes_per_feed_entry": 41.5,
        }

    def failing_part():
        handler_log.info("about to fail")
        raise AssertionError("present == 9999, not 10000")

    media.run = media_part
    feed.run = feed_part
    search.run = lambda: {"search_query_p50_ms": 401.0}
    web.run = lambda: {"web_js_gzip_kb": 19.8, "web_lcp_ms": 268.0}
    video.run = lambda: {"video_10s_1080p_seconds": 22.6}
    notify.run = failing_part if "--fail" in sys.argv else (lambda: {"notify_10k_followers_s": 19.5})
    sys.argv = [arg for arg in sys.argv if arg != "--fail"]
    with watching(Path("bench-results.json")) as watch:
        code = bench.main()
    Path("watch.json").write_text(json.dumps(watch.violations))
    sys.exit(code)
    """
)
NOISE = ("rendered the variants", "served a page", "moto warns", "a library warns", "a print in", "a child on")


def run_bench(directory: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", NOISY_BENCH, *arguments],
        cwd=directory,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )


def row(terminal: str, figure: str) -> list[str]:
    [line] = [line for line in terminal.splitlines() if line.split()[:1] == [figure]]
    return line.split()


def test_the_terminal_shows_progress_and_the_figures_beside_their_targets_only(tmp_path: Path) -> None:
    done = run_bench(tmp_path)
    terminal = done.stdout

    assert done.returncode == 0, terminal
    assert not [line for line in terminal.splitlines() if any(noise in line for noise in NOISE)], terminal
    assert "{" not in terminal
    assert len(terminal) < 3000
    assert row(terminal, "feed_read_p99_ms") == ["feed_read_p99_ms", "1.17", "≤", "2", "ms", "met"]
    assert row(terminal, "fanout_deliveries_per_s") == [
        *("fanout_deliveries_per_s", "150,000", "≥", "200,000", "/s", "not", "met")
    ]
    assert row(terminal, "celebrity_post_in_next_read_of_sample")[-2:] == ["follower", "met"]
    assert row(terminal, "notify_10k_followers_s") == ["notify_10k_followers_s", "19.5", "reported"]
    log = (tmp_path / ".bench" / "bench.log").read_text()
    assert all(noise in log for noise in NOISE), log
    assert ".bench/bench.log" in terminal  # the terminal says where the rest went


def test_the_cluster_and_the_baselines_are_shown_beside_their_targets(tmp_path: Path) -> None:
    """Both modes side by side: the cluster's figures beside the single node's, held to the same
    targets; the read against Stream-Framework's and fan-out against redis-benchmark's ZADD."""
    terminal = run_bench(tmp_path).stdout

    ratio_target = ["≤", "1", "(p99", "≤", "Stream-Framework's)"]
    assert row(terminal, "feed_read_p99_vs_stream_framework") == [
        *("feed_read_p99_vs_stream_framework", "0.9", *ratio_target, "met")
    ]
    assert row(terminal, "cluster_feed_read_p99_vs_stream_framework") == [
        *("cluster_feed_read_p99_vs_stream_framework", "1.846", *ratio_target, "not", "met")
    ]
    assert row(terminal, "stream_framework_read_p99_ms") == ["stream_framework_read_p99_ms", "1.3", "reported"]
    assert row(terminal, "fanout_vs_redis_benchmark_zadd")[1:] == ["0.19", "≥", "0.5", "(aim)", "not", "met"]
    assert row(terminal, "cluster_fanout_vs_redis_benchmark_zadd")[1:] == ["0.525", "≥", "0.5", "(aim)", "met"]
    assert row(terminal, "redis_benchmark_zadd_per_s") == ["redis_benchmark_zadd_per_s", "790,000", "reported"]
    # A cluster figure without a target of its own has its single-node name's.
    assert row(terminal, "cluster_feed_read_p99_ms")[1:] == ["2.4", "≤", "2", "ms", "not", "met"]
    assert row(terminal, "cluster_fanout_deliveries_per_s")[1:] == ["210,000", "≥", "200,000", "/s", "met"]
    assert row(terminal, "cluster_redis_bytes_per_feed_entry")[1:] == ["41.5", "≤", "40", "(aim)", "not", "met"]
    assert row(terminal, "cluster_redis_round_trips_per_warm_read")[1:] == ["2", "reported"]
    # Every figure with a target counts in the verdict, the cluster's included.
    assert "targets: 11 met, 5 not met" in terminal, terminal


def test_the_results_file_is_written_whole(tmp_path: Path) -> None:
    done = run_bench(tmp_path)

    assert done.returncode == 0, done.stdout
    assert json.loads((tmp_path / "watch.json").read_text()) == []
    results: dict[str, Any] = json.loads((tmp_path / "bench-results.json").read_text())
    assert results["feed_read_p99_ms"] == 1.17
    assert results["notify_10k_followers_s"] == 19.5


def test_a_part_that_fails_is_said_in_one_line_and_the_others_are_shown(tmp_path: Path) -> None:
    done = run_bench(tmp_path, "--fail")
    terminal = done.stdout

    assert done.returncode == 1
    [failed] = [line for line in terminal.splitlines() if "notify" in line and "failed" in line]
    assert "AssertionError: present == 9999, not 10000" in failed
    assert "Traceback" not in terminal
    assert "feed_read_p99_ms" in terminal
    assert "Traceback" in (tmp_path / ".bench" / "bench.log").read_text()


def test_a_partial_run_updates_only_its_own_figures(tmp_path: Path) -> None:
    assert run_bench(tmp_path).returncode == 0
    results = json.loads((tmp_path / "bench-results.json").read_text())
    results["feed_read_p99_ms"] = 99.0
    results["notify_10k_followers_s"] = 99.0
    (tmp_path / "bench-results.json").write_text(json.dumps(results))

    done = run_bench(tmp_path, "--only", "notify")

    assert done.returncode == 0, done.stdout
    assert "feed_read_p99_ms" not in done.stdout
    results = json.loads((tmp_path / "bench-results.json").read_text())
    assert results["notify_10k_followers_s"] == 19.5  # measured again
    assert results["feed_read_p99_ms"] == 99.0  # kept from the last run
    assert set(results["measured"]) == {"media", "video", "feed", "search", "notify", "web"}
