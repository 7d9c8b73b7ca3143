"""`openapi.json`: generated from the code, true to the template's routes, and to what routes answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from devstack.template import load_yaml
from tools.openapi import DOCUMENT, TEMPLATE, DocumentMismatch, build_document, declared_routes, render


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, item in document["paths"].items() for method, op in item.items()}


def test_the_checked_in_document_is_what_the_code_gives() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render(build_document()), "run `make openapi` and commit it"


def test_it_is_a_valid_openapi_3_1_document(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_every_route_of_the_template_is_an_operation_and_nothing_else_is(document: dict[str, Any]) -> None:
    declared = {(route.method, route.path) for route in declared_routes()}
    assert set(operations(document)) == declared


def test_public_routes_come_from_the_template_and_the_others_need_the_bearer_token(document: dict[str, Any]) -> None:
    public = {(route.method, route.path) for route in declared_routes() if route.public}
    assert public == {
        ("GET", "/health"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("POST", "/auth/signup"),
        ("POST", "/auth/login"),
        ("POST", "/auth/refresh"),
    }
    scheme = document["components"]["securitySchemes"]["cognitoIdToken"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    for key, operation in operations(document).items():
        if key in public:
            assert "security" not in operation, key
            # Only a refused password or refresh token is a 401 on a public route.
            assert ("401" in operation["responses"]) == (key[1] in ("/auth/login", "/auth/refresh")), key
        else:
            assert operation["security"] == [{"cognitoIdToken": []}], key
            assert "401" in operation["responses"], key


def test_every_error_answer_has_the_contracts_body(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"]
    for (method, path), operation in operations(document).items():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
        assert {"429", "500"} <= set(operation["responses"]), (method, path)
        assert "Retry-After" in operation["responses"]["429"]["headers"], (method, path)
    assert "HTTPValidationError" not in json.dumps(document)  # Powertools' `detail` body is never answered


def test_success_statuses_are_the_ones_routes_answer(document: dict[str, Any]) -> None:
    success = {key: [s for s in op["responses"] if s.startswith("2")] for key, op in operations(document).items()}
    created = {
        ("POST", "/auth/signup"),
        ("POST", "/posts"),
        ("POST", "/posts/{post_id}/comments"),
        ("POST", "/me/devices"),
    }
    for key, statuses in success.items():
        method, path = key
        if key in created:
            assert statuses == ["201"], key
        elif method in ("PUT", "DELETE") or path == "/notifications/read":
            assert statuses == ["204"], key
            assert operations(document)[key]["responses"]["204"]["content"] == {}, key
        else:
            assert statuses == ["200"], key


def test_body_routes_document_400_413_415_422(document: dict[str, Any]) -> None:
    for key, operation in operations(document).items():
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= set(operation["responses"]), key
            assert operation["requestBody"]["required"] is True


def test_the_validators_constraints_are_in_the_document(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["SignupRequest"]["properties"]["username"]["pattern"] == "^[A-Za-z0-9_]{3,30}$"
    post = schemas["CreatePostRequest"]["properties"]
    media_types = ["image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "image/avif"]
    media_types += ["video/mp4", "video/quicktime"]
    assert post["content_type"]["enum"] == media_types
    assert post["media"]["maxItems"] == 10
    assert post["media"]["minItems"] == 1
    item = schemas["MediaItemRequest"]["properties"]
    assert item["content_type"]["enum"] == media_types
    assert item["alt_text"]["maxLength"] == 1500
    assert {"required": ["media"]} in schemas["CreatePostRequest"]["oneOf"]
    assert post["content_length"]["maximum"] == 100 * 1024 * 1024  # a video's; a photo's 20 MiB is 413
    shown = schemas["MediaItem"]
    assert shown["properties"]["video"]["type"] == "string"  # not nullable: absent for a photo
    assert shown["properties"]["duration_s"]["type"] == "number"
    assert "video" not in shown["required"]
    assert "duration_s" not in shown["required"]
    assert post["title"]["maxLength"] == 120
    assert schemas["CreatePostRequest"]["additionalProperties"] is False
    assert schemas["Post"]["properties"]["created_at"]["format"] == "date-time"
    header = operations(document)["POST", "/posts"]["parameters"][0]
    assert header["in"] == "header"
    assert header["name"].lower() == "idempotency-key"
    limit = next(p for p in operations(document)["GET", "/feed"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"], limit["schema"]["default"]) == (1, 50, 20)


def test_operations_have_ids_summaries_and_declared_tags(document: dict[str, Any]) -> None:
    tags = {tag["name"] for tag in document["tags"]}
    ids = [operation["operationId"] for operation in operations(document).values()]
    assert len(ids) == len(set(ids))
    for key, operation in operations(document).items():
        assert operation["summary"], key
        assert not operation["summary"].startswith(key[0]), key  # not Powertools' "GET /path" default
        assert set(operation["tags"]) <= tags, key


def test_links_name_operations_that_exist(document: dict[str, Any]) -> None:
    ids = {operation["operationId"]: operation for operation in operations(document).values()}
    found = 0
    for operation in operations(document).values():
        for response in operation["responses"].values():
            for link in response.get("links", {}).values():
                target = ids[link["operationId"]]
                names = {parameter["name"] for parameter in target.get("parameters", [])}
                assert set(link["parameters"]) <= names, link
                found += 1
    assert found >= 8


def _template_with(tmp_path: Path, change: Any) -> Path:
    template = load_yaml(TEMPLATE)
    change(template["Resources"])
    copy = tmp_path / "template.yaml"
    # Re-serialised without short-form tags, which the route reading does not need.
    copy.write_text(yaml.safe_dump(json.loads(json.dumps(template, default=str))))
    (tmp_path / "functions").symlink_to(TEMPLATE.parent / "functions")
    return copy


def test_a_route_the_template_declares_but_no_code_serves_fails_the_build(tmp_path: Path) -> None:
    def add_route(resources: dict[str, Any]) -> None:
        resources["ReadApiFunction"]["Properties"]["Events"]["Extra"] = {
            "Type": "Api",
            "Properties": {"Path": "/explore", "Method": "get"},
        }

    with pytest.raises(DocumentMismatch, match="GET /explore"):
        build_document(_template_with(tmp_path, add_route))


def test_a_route_the_code_serves_but_the_template_does_not_fails_the_build(tmp_path: Path) -> None:
    def drop_route(resources: dict[str, Any]) -> None:
        del resources["ReadApiFunction"]["Properties"]["Events"]["Search"]

    with pytest.raises(DocumentMismatch, match="GET /search"):
        build_document(_template_with(tmp_path, drop_route))


def test_a_route_public_in_the_template_but_not_in_the_code_fails_the_build(tmp_path: Path) -> None:
    def publish_route(resources: dict[str, Any]) -> None:
        resources["ReadApiFunction"]["Properties"]["Events"]["GetFeed"]["Properties"]["Auth"] = {"Authorizer": "NONE"}

    with pytest.raises(DocumentMismatch, match="GET /feed"):
        build_document(_template_with(tmp_path, publish_route))
