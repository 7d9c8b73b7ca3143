"""The docs function with API Gateway's events: the checked-in document and the page that renders it."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import LocalAws, load_event
from tools.openapi import DOCUMENT


def test_get_openapi_json_answers_the_checked_in_document(local_aws: LocalAws, lambda_context: Any) -> None:
    answer = local_aws.handler("DocsFunction")(load_event("api_openapi.json"), lambda_context)

    assert answer["statusCode"] == 200
    assert answer["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert answer["multiValueHeaders"]["Cache-Control"] == ["public, max-age=300"]
    assert answer["body"] == DOCUMENT.read_text(encoding="utf-8")
    assert json.loads(answer["body"])["openapi"].startswith("3.1")


def test_get_docs_answers_a_swagger_ui_page_with_the_document_in_it(local_aws: LocalAws, lambda_context: Any) -> None:
    answer = local_aws.handler("DocsFunction")(load_event("api_docs.json"), lambda_context)
    page = answer["body"]

    assert answer["statusCode"] == 200
    assert answer["multiValueHeaders"]["Content-Type"] == ["text/html; charset=utf-8"]
    assert "SwaggerUIBundle(" in page  # the bundled Swagger UI script, inline
    assert "swagger-ui" in page
    start = page.index("spec: ") + len("spec: ")
    document = json.JSONDecoder().raw_decode(page[start:])[0]
    assert document == json.loads(DOCUMENT.read_text(encoding="utf-8"))
    assert "</script" not in page[start : page.index("presets:")]  # no string of it can end the script
    # The page names the document's own route as its address (what "." servers resolve against).
    assert 'updateUrl(new URL("openapi.json", currentUrl).href)' in page
    assert "?format=json" not in page
