"""`python -m devstack` (what `make local` runs): the whole stack on this machine until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from devstack.redis_server import SERVER_VARIABLE
from devstack.stack import LocalStack, StackConfig


def parse_arguments(argv: list[str]) -> StackConfig:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("API_PORT", 3000)), help="API port")
    parser.add_argument(
        "--aws-port",
        type=int,
        default=int(os.environ.get("AWS_PORT", 4566)),
        help="moto's port (0: any free port)",
    )
    parser.add_argument(
        "--redis-port",
        type=int,
        default=0,
        help="Redis port; in cluster mode (CacheClusterMode=enabled), the first node's, the others following it "
        "(0: any free port)",
    )
    parser.add_argument(
        "--redis-server",
        default=os.environ.get(SERVER_VARIABLE) or None,
        metavar="PATH_OR_NAME",
        help=f"a Redis-protocol server to run instead of the pinned Valkey 8 (default: ${SERVER_VARIABLE}, if set)",
    )
    parser.add_argument(
        "--web-dir",
        type=Path,
        default=None,
        help="the built web app to serve (make local passes web/dist); none: no web app",
    )
    parser.add_argument(
        "--web-port",
        type=int,
        default=int(os.environ.get("WEB_PORT", 5173)),
        help="the web app's port (0: any free port)",
    )
    parser.add_argument("--state-dir", type=Path, default=Path(".devstack"))
    parser.add_argument("--reset", action="store_true", help="start empty (forget the saved state)")
    parser.add_argument("--ephemeral", action="store_true", help="neither load nor save any state")
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a template parameter (repeatable)",
    )
    parser.add_argument("--stack-name")
    parser.add_argument("--log-level", default=os.environ.get("DEVSTACK_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)-16s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.reset and args.state_dir.exists():
        import shutil

        shutil.rmtree(args.state_dir)
    return StackConfig(
        template_path=args.template,
        host=args.host,
        port=args.port,
        aws_port=args.aws_port,
        redis_port=args.redis_port,
        state_dir=args.state_dir,
        keep_state=not args.ephemeral,
        stack_name=args.stack_name,
        parameter_overrides=dict(item.split("=", 1) for item in args.parameter),
        redis_server=args.redis_server,
        web_dir=args.web_dir,
        web_port=args.web_port,
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_arguments(sys.argv[1:] if argv is None else argv)
    # Pool and client ids derived from their names: stable across runs, so tokens stay valid.
    os.environ.setdefault("MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY", "HASH")
    os.environ.setdefault("MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY", "HASH")
    stack = LocalStack(config)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        endpoints = stack.start()
    except Exception:
        logging.getLogger("devstack").exception("the local stack could not start")
        stack.stop()
        return 1
    print(banner(endpoints, config), flush=True)
    stopping.wait()
    print("stopping…", flush=True)
    stack.stop()
    return 0


def banner(endpoints: dict[str, object], config: StackConfig) -> str:
    resources = endpoints["resources"]
    assert isinstance(resources, dict)
    lines = ["", "Photo feed local stack is up"]
    if endpoints.get("web_url"):
        # On a line of its own, first: the address a person opens.
        lines.append(f"Web app                  {endpoints['web_url']}/")
    lines.append(f"  API                    {endpoints['api_url']}")
    # The API's own description, where the template routes the conventional paths.
    declared = endpoints.get("routes") or []
    assert isinstance(declared, list)
    routes = {str(route).split(" -> ")[0] for route in declared}
    for route, label in (("GET /docs", "API docs"), ("GET /openapi.json", "OpenAPI document")):
        if route in routes:
            lines.append(f"  {label:<22} {endpoints['api_url']}{route.split(' ', 1)[1]}")
    lines += [
        f"  AWS endpoint           {endpoints['aws_endpoint_url']}   (export AWS_ENDPOINT_URL=… to use the aws CLI)",
        f"  Redis                  {endpoints['redis_url']}   ({endpoints['redis_server']})",
    ]
    if endpoints.get("redis_cluster"):
        lines += redis_cluster_lines(endpoints.get("redis_nodes") or [])
    lines += [f"  {name:<22} {value}" for name, value in resources.items()]
    kept = "kept between runs; make local RESET=1 starts empty" if config.keep_state else "not kept"
    lines += [
        f"  State                  {config.state_dir}/ ({kept})",
        f"  Endpoints              {config.endpoints_file}",
        "Ctrl-C stops it.",
        "",
    ]
    return "\n".join(lines)


def redis_cluster_lines(nodes: object) -> list[str]:
    """The cluster's nodes under the Redis line: each primary with its slots, then its replicas."""
    assert isinstance(nodes, list)
    primaries = [node for node in nodes if node["role"] == "primary"]
    replicas = [node for node in nodes if node["role"] == "replica"]
    lines = [
        f"    cluster              {len(primaries)} primaries, {len(replicas)} replicas "
        "(redis.RedisCluster.from_url finds them all from the URL above)"
    ]
    for primary in primaries:
        slots = ", ".join(f"{first}-{last}" for first, last in primary.get("slots") or [])
        lines.append(f"    primary              {primary['url']}   slots {slots}")
        lines += [
            f"      replica            {replica['url']}"
            for replica in replicas
            if replica.get("primary_id") == primary.get("node_id")
        ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
