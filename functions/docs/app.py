"""The API's own description: the OpenAPI document and a page that renders it (public routes).

`openapi.json` is generated from the API functions' routes (`make openapi`) and checked in; this
function ships it as it is. The page is Swagger UI from the pinned Powertools package, which
bundles its script and style, so the page loads nothing from elsewhere.
"""

from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi import swagger_ui
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from photofeed.api.http import create_resolver
from photofeed.api.openapi import answers

app = create_resolver()
logger = Logger()
tracer = Tracer()

DOCUMENT = Path(__file__).resolve().parent / "openapi.json"
_SWAGGER_UI = Path(swagger_ui.__file__).parent
# The document changes only with a deployment; browsers and CDNs may keep it for five minutes.
CACHE_CONTROL = "public, max-age=300"


@cache
def document_text() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


# Powertools' page names `<page>?format=json` as the document's address (its own Swagger route
# answers that); here the document has its own route, next to the page. Its address is also what
# the document's relative server URL (".") resolves against, so "Try it out" calls this stage.
_POWERTOOLS_SPEC_URL = 'ui.specActions.updateUrl(currentUrl.pathname + "?format=json");'
_SPEC_URL = 'ui.specActions.updateUrl(new URL("openapi.json", currentUrl).href);'


@cache
def docs_page() -> str:
    # `</` is escaped so that no string in the document can close the page's <script>.
    page = swagger_ui.generate_swagger_html(
        spec=document_text().replace("</", "<\\/"),
        swagger_js=(_SWAGGER_UI / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        swagger_css=(_SWAGGER_UI / "swagger-ui.min.css").read_text(encoding="utf-8"),
        swagger_base_url="",
        oauth2_config=None,
        persist_authorization=True,
    )
    if _POWERTOOLS_SPEC_URL not in page:
        raise RuntimeError("Powertools' Swagger UI page changed: check how it names the document's URL")
    return page.replace(_POWERTOOLS_SPEC_URL, _SPEC_URL)


@app.get(
    "/openapi.json",
    operation_id="getOpenApiDocument",
    summary="This API as an OpenAPI 3.1 document",
    tags=["Meta"],
    cache_control=CACHE_CONTROL,
    responses=answers(
        200,
        "The OpenAPI document",
        public=True,
        body={content_types.APPLICATION_JSON: {"schema": {"type": "object"}}},
    ),
)
def handle_openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=document_text())


@app.get(
    "/docs",
    operation_id="getDocsPage",
    summary="This API's documentation, as a page",
    description="Swagger UI rendering `/openapi.json`; try a request with a token from `POST /auth/login`.",
    tags=["Meta"],
    cache_control=CACHE_CONTROL,
    responses=answers(200, "An HTML page", public=True, body={"text/html": {"schema": {"type": "string"}}}),
)
def handle_docs_page() -> Response[str]:
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=docs_page())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
