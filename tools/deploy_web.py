"""Publish the built web app (`web/dist`) to its stack's bucket and CloudFront distribution.

`make deploy` runs it after `sam deploy` and `make web`:

    python -m tools.deploy_web --stack-name photofeed-prod [--region us-east-1]
    python -m tools.deploy_web --config-env prod     # stack name and region from samconfig.toml

1. The stack's outputs give the API's URL, the Cognito ids, the web bucket and the distribution.
2. They are written to `web/dist/config.json`, which the app reads at start-up: the build itself
   holds no stack's address, so one build serves any stack.
3. Upload, in an order that never serves a page whose files are not there yet: `assets/*` first
   (hashed names, `Cache-Control: public, max-age=31536000, immutable`), then every other file
   with `no-cache` (CloudFront and browsers revalidate them), `index.html` last. Each file gets
   the Content-Type of its extension. Files and folders whose names start with a dot (such as
   Vite's `.vite/manifest.json`) are not published.
4. Objects outside `assets/` that the new build does not have are deleted, once it is all up.
   Objects under `assets/` are never deleted: a tab opened before the deploy keeps loading the
   lazily imported chunks of the build it started with, for as long as it stays open, and no
   grace period is long enough for that. Hashed files are small (the whole of `assets/` is a few
   hundred kilobytes a build) and the bucket is private, so keeping them costs next to nothing.
   To prune by hand: delete the `assets/` objects that no `index.html` of the builds that may
   still be open refers to. (The bucket keeps replaced and deleted versions for 30 days.)
5. `/`, `/index.html` and `/config.json` are invalidated in CloudFront. They are `no-cache`
   already; the invalidation also drops a copy an edge kept from before (an upload without
   Cache-Control, a cache policy that was different).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
import tomllib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "web" / "dist"
SAMCONFIG = ROOT / "samconfig.toml"

ASSETS_PREFIX = "assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
INVALIDATED_PATHS = ("/", "/index.html", "/config.json")
REQUIRED_OUTPUTS = ("ApiUrl", "UserPoolId", "UserPoolClientId", "WebBucketName", "WebDistributionId")

# What browsers need, whatever this machine's mime.types says (Python's table comes from it).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".wasm": "application/wasm",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}


class DeployError(Exception):
    """Something the person deploying has to fix; said in one line."""


@dataclass
class Published:
    bucket: str
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    invalidation_id: str = ""


def content_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or "application/octet-stream"


def cache_control(key: str) -> str:
    return IMMUTABLE if key.startswith(ASSETS_PREFIX) else NO_CACHE


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs, refusing a stack that lacks one this tool needs."""
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {str(item["OutputKey"]): str(item["OutputValue"]) for item in stacks[0].get("Outputs") or []}
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise DeployError(f"stack {stack_name} has no output {', '.join(missing)}: deploy template.yaml first")
    return outputs


def web_config(outputs: dict[str, str], region: str) -> dict[str, str]:
    """What the app reads from /config.json (web/src/config.ts)."""
    return {
        "api_url": outputs["ApiUrl"],
        "region": region,
        "user_pool_id": outputs["UserPoolId"],
        "user_pool_client_id": outputs["UserPoolClientId"],
    }


def build_files(dist: Path) -> dict[str, Path]:
    """Bucket key -> file, for every file of the build that is published."""
    files = {}
    for path in sorted(dist.rglob("*")):
        relative = path.relative_to(dist)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[relative.as_posix()] = path
    return files


def upload_order(keys: Iterable[str]) -> list[list[str]]:
    """Batches uploaded one after the other (each batch in parallel): assets, the rest, then
    config.json, then index.html, so no page is served before the files it loads."""
    keys = sorted(keys)
    last = ["config.json", "index.html"]
    assets = [key for key in keys if key.startswith(ASSETS_PREFIX)]
    rest = [key for key in keys if not key.startswith(ASSETS_PREFIX) and key not in last]
    return [batch for batch in (assets, rest, *([key] for key in last if key in keys)) if batch]


def stale_keys(existing: Iterable[str], published: Iterable[str]) -> list[str]:
    """Objects to delete: outside assets/ and not part of the build just published."""
    keep = set(published)
    return sorted(key for key in existing if key not in keep and not key.startswith(ASSETS_PREFIX))


def _list_keys(s3: Any, bucket: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents") or []:
            yield str(item["Key"])


def _upload(s3: Any, bucket: str, key: str, path: Path) -> None:
    with path.open("rb") as body:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type(key),
            CacheControl=cache_control(key),
        )


def _delete(s3: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True})
        errors = answer.get("Errors") or []
        if errors:
            key, message = errors[0].get("Key"), errors[0].get("Message")
            raise DeployError(f"could not delete {len(errors)} objects, e.g. {key}: {message}")


def publish(dist: Path, outputs: dict[str, str], region: str, s3: Any, cloudfront: Any, log: Any = print) -> Published:
    """Write config.json into `dist`, upload `dist`, delete stale objects, invalidate the entry points."""
    if not (dist / "index.html").is_file():
        raise DeployError(f"{dist / 'index.html'} is missing: build the app first (make web)")
    (dist / "config.json").write_text(json.dumps(web_config(outputs, region), indent=2) + "\n")
    files = build_files(dist)
    result = Published(bucket=outputs["WebBucketName"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        for batch in upload_order(files):
            list(pool.map(lambda key: _upload(s3, result.bucket, key, files[key]), batch))
            result.uploaded.extend(batch)
    log(f"uploaded {len(result.uploaded)} files to s3://{result.bucket}")

    result.deleted = stale_keys(_list_keys(s3, result.bucket), files)
    if result.deleted:
        _delete(s3, result.bucket, result.deleted)
        log(f"deleted {len(result.deleted)} files the build no longer has: {', '.join(result.deleted)}")

    answer = cloudfront.create_invalidation(
        DistributionId=outputs["WebDistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": len(INVALIDATED_PATHS), "Items": list(INVALIDATED_PATHS)},
            "CallerReference": f"deploy-web-{time.time_ns()}",
        },
    )
    result.invalidation_id = str(answer["Invalidation"]["Id"])
    log(f"invalidation {result.invalidation_id} of {' '.join(INVALIDATED_PATHS)} requested")
    return result


def samconfig_target(environment: str, path: Path = SAMCONFIG) -> tuple[str | None, str | None]:
    """(stack name, region) that `sam deploy --config-env <environment>` uses, as far as
    samconfig.toml says: the environment's deploy parameters, then its global ones."""
    if not path.exists():
        return None, None
    config = tomllib.loads(path.read_text()).get(environment, {})
    found: dict[str, str | None] = {"stack_name": None, "region": None}
    for section in ("deploy", "global"):
        parameters = config.get(section, {}).get("parameters", {})
        for name in found:
            found[name] = found[name] or parameters.get(name)
    return found["stack_name"], found["region"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.deploy_web", description="Publish web/dist to the stack's bucket and CloudFront."
    )
    parser.add_argument("--stack-name", help="the stack to publish to (default: the config environment's)")
    parser.add_argument("--region", help="the stack's region (default: the config environment's, else boto3's)")
    parser.add_argument(
        "--config-env", help="take the stack name and region from this environment of samconfig.toml (e.g. prod)"
    )
    parser.add_argument("--dist", type=Path, default=DIST, help="the built app (default: web/dist)")
    args = parser.parse_args(argv)

    stack_name, region = args.stack_name, args.region
    if args.config_env:
        configured_stack, configured_region = samconfig_target(args.config_env)
        stack_name = stack_name or configured_stack
        region = region or configured_region
    if not stack_name:
        parser.error("give --stack-name, or --config-env of a samconfig.toml environment that names the stack")

    if not (args.dist / "index.html").is_file():
        print(f"deploy_web: {args.dist / 'index.html'} is missing: build the app first (make web)", file=sys.stderr)
        return 1
    session = boto3.session.Session(region_name=region)
    if not session.region_name:
        parser.error("no region: give --region (or set AWS_REGION)")
    try:
        outputs = stack_outputs(session.client("cloudformation"), stack_name)
        publish(args.dist, outputs, session.region_name, session.client("s3"), session.client("cloudfront"))
    except (DeployError, ClientError, BotoCoreError) as error:
        print(f"deploy_web: {error}", file=sys.stderr)
        return 1
    if "WebUrl" in outputs:
        print(f"the web app: {outputs['WebUrl']}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
