"""The Chromium the web app's browser tests and `make bench` drive with Playwright.

Debian's `chromium` package where it is installed (Playwright's own browser download cannot reach
every machine); else Playwright's own Chromium. `python -m tools.browser --install` (run by
`make test`) makes sure one of them is there: as root on Debian it installs the `chromium`
package with apt-get; elsewhere it runs `playwright install chromium`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

SYSTEM_CHROMIUMS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Without the networking flags a headless Chromium keeps dialling Google's services at start-up.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def system_chromium() -> str | None:
    """Path of an installed system Chromium (`CHROMIUM` overrides), or None."""
    wanted = os.environ.get("CHROMIUM")
    if wanted:
        return wanted
    for candidate in SYSTEM_CHROMIUMS:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def launch_options() -> dict[str, object]:
    """Keyword arguments for Playwright's `chromium.launch()` (headless)."""
    options: dict[str, object] = {"headless": True, "args": LAUNCH_ARGS}
    executable = system_chromium()
    if executable:
        options["executable_path"] = executable
    return options


def _is_debian_root() -> bool:
    return os.geteuid() == 0 and Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def install() -> str:
    """Make sure a Chromium is there; return what will be used. Raises CalledProcessError on failure."""
    found = system_chromium()
    if found:
        return found
    if _is_debian_root():
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"], check=True, env=environment
        )
        found = system_chromium()
        if found:
            return found
    subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"], check=True)
    return "Playwright's Chromium"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.browser", description=__doc__)
    parser.add_argument("--install", action="store_true", help="install a Chromium if none is there")
    args = parser.parse_args(argv)
    used = install() if args.install else (system_chromium() or "Playwright's Chromium")
    print(f"browser tests use: {used}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
