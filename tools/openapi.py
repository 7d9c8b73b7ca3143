"""Generate `openapi.json`, the OpenAPI 3.1 document of the whole API, from the code (`make openapi`).

Each API function's resolver gives the schema of its own routes (Powertools builds it from the
route decorators and the pydantic models); `OpenAPIMerge` merges them into one document, refusing
an operation defined twice. The result is checked against the routes `template.yaml` declares,
both ways: every route the template gives a function is an operation of that function's resolver
and no resolver has a route the template does not wire to it, and a route is public in the
document exactly when the template takes its authorizer away. It is then validated with
openapi-spec-validator.

    python -m tools.openapi           # write openapi.json
    python -m tools.openapi --check   # exit 1 if openapi.json is not what the code gives
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from openapi_spec_validator import validate

from devstack.template import load_yaml
from photofeed.api.openapi import SECURITY_SCHEMES, TAGS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
DOCUMENT = ROOT / "openapi.json"

TITLE = "Photo feed API"
DESCRIPTION = """\
An Instagram-style photo feed: sign up, post photos with a title, follow people, read a fast home
feed, comment, like posts and comments, search by title, and get notifications.

- JSON in and out, UTF-8. Media types are matched case-insensitively; JSON types are strict (a
  boolean or a string where a number is expected is 422); a body that is not JSON text is 400.
- Every error is `{"error": {"code", "message"}}` with the status the responses below list.
- Lists take `limit` (1..50, default 20) and `cursor` and answer `{"items", "next_cursor"}`;
  following `next_cursor` walks the whole list with no repeats and no gaps.
- Ids are opaque strings; post, comment and notification ids sort by creation time.
- Times are ISO 8601 UTC strings with milliseconds.
- Authenticate with the `id_token` from `POST /auth/login`: `Authorization: Bearer <id_token>`.
- Photos never pass through this API: `POST /posts` answers a presigned POST to upload to.
"""


@dataclass(frozen=True)
class DeclaredRoute:
    function: str
    method: str
    path: str
    public: bool


def declared_routes(template_path: Path = TEMPLATE) -> list[DeclaredRoute]:
    """Every `Type: Api` event of the template's functions."""
    template = load_yaml(template_path)
    api: dict[str, Any] = next(
        (spec for spec in template["Resources"].values() if spec.get("Type") == "AWS::Serverless::Api"), {}
    )
    default_authorizer = ((api.get("Properties") or {}).get("Auth") or {}).get("DefaultAuthorizer")
    routes = []
    for logical_id, spec in template["Resources"].items():
        if spec.get("Type") != "AWS::Serverless::Function":
            continue
        for event in ((spec.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            props = event["Properties"]
            authorizer = (props.get("Auth") or {}).get("Authorizer", default_authorizer)
            routes.append(
                DeclaredRoute(
                    logical_id, str(props["Method"]).upper(), str(props["Path"]), authorizer in (None, "NONE")
                )
            )
    return routes


def load_resolver(logical_id: str, template_path: Path = TEMPLATE) -> Any:
    """The resolver (`app`) of a function's handler module, imported from its CodeUri."""
    template = load_yaml(template_path)
    properties = template["Resources"][logical_id]["Properties"]
    handler = properties.get("Handler") or template["Globals"]["Function"]["Handler"]
    module_file = template_path.parent / properties["CodeUri"] / (handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location(f"_openapi_{logical_id}", module_file)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {module_file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


class DocumentMismatch(Exception):
    """The code and the template disagree about the API's routes."""


def build_document(template_path: Path = TEMPLATE) -> dict[str, Any]:
    routes = declared_routes(template_path)
    merge = OpenAPIMerge(
        title=TITLE,
        version=version("photofeed"),
        description=DESCRIPTION,
        tags=TAGS,  # type: ignore[arg-type]
        servers=[{"url": ".", "description": "Where this document is served from"}],  # type: ignore[list-item]
        on_conflict="error",  # the security schemes come with each resolver's schema
    )
    problems = []
    for function in sorted({route.function for route in routes}):
        schema = load_resolver(function, template_path).get_openapi_schema(security_schemes=SECURITY_SCHEMES)
        document = schema.model_dump(by_alias=True, exclude_none=True, mode="json")
        coded = {(method.upper(), path) for path, item in document.get("paths", {}).items() for method in item}
        wired = {(route.method, route.path) for route in routes if route.function == function}
        problems += [
            f"{function}: the template routes {m} {p} to it, but its code has no such route"
            for m, p in sorted(wired - coded)
        ]
        problems += [
            f"{function}: its code has {m} {p}, but the template does not route it there"
            for m, p in sorted(coded - wired)
        ]
        merge.add_schema(document)
    merged = merge.get_openapi_schema()
    for route in routes:
        operation = merged.get("paths", {}).get(route.path, {}).get(route.method.lower())
        if operation is not None and route.public == bool(operation.get("security")):
            problems.append(
                f"{route.method} {route.path}: the template makes it {'public' if route.public else 'need a token'}, "
                f"the route decorator says {'it needs a token' if route.public else 'it is public'}"
            )
    if problems:
        raise DocumentMismatch("\n".join(problems))
    document = _tidy(merged)
    validate(document)
    return document


def _tidy(document: dict[str, Any]) -> dict[str, Any]:
    """Responses in status order, without the 422 Powertools adds to every route with its
    FastAPI-style body (`detail`) where a route did not declare its own (it has nothing to
    validate), and no component schema that nothing refers to."""
    powertools_422 = {"$ref": "#/components/schemas/HTTPValidationError"}
    for item in document["paths"].values():
        for operation in item.values():
            responses = operation["responses"]
            if responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema") == powertools_422:
                del responses["422"]
            operation["responses"] = dict(sorted(responses.items()))
    document["paths"] = dict(sorted(document["paths"].items()))
    schemas = document.get("components", {}).get("schemas", {})
    used: set[str] = set()
    pending = [json.dumps({key: value for key, value in document.items() if key != "components"})]
    while pending:
        text = pending.pop()
        for name in schemas:
            if name not in used and f'"#/components/schemas/{name}"' in text:
                used.add(name)
                pending.append(json.dumps(schemas[name]))
    document.setdefault("components", {})["schemas"] = {name: schemas[name] for name in sorted(used)}
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with openapi.json instead of writing it")
    arguments = parser.parse_args(argv)
    try:
        text = render(build_document())
    except DocumentMismatch as mismatch:
        print(f"openapi: the code and template.yaml disagree:\n{mismatch}", file=sys.stderr)
        return 1
    if arguments.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text(encoding="utf-8") != text:
            print("openapi.json is not what the code gives: run `make openapi` and commit it", file=sys.stderr)
            return 1
        print("openapi.json matches the code")
        return 0
    DOCUMENT.write_text(text, encoding="utf-8")
    operations = sum(len(item) for item in json.loads(text)["paths"].values())
    print(f"wrote {DOCUMENT.name}: {operations} operations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
