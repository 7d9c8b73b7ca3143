"""template.yaml's web hosting: the bucket behind CloudFront, its caching, and who may depend on whom."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from devstack.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = load_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = DOCUMENT["Resources"]
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"


def references(value: Any) -> set[str]:
    """Logical ids a value refers to (Ref, GetAtt, ${...} of Sub), parameters included."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, argument in value.items():
            if key == "Ref":
                found.add(argument)
            elif key == "Fn::GetAtt":
                found.add(argument[0])
            elif key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^!}][^}]*)\}", text)} - set(variables)
                found |= references(variables)
            else:
                found |= references(argument)
    return found


def depends_on(logical_id: str) -> set[str]:
    seen: set[str] = set()
    todo = [logical_id]
    while todo:
        resource = RESOURCES[todo.pop()]
        direct = references(resource.get("Properties")) | set(resource.get("DependsOn") or [])
        for name in direct & set(RESOURCES) - seen:
            seen.add(name)
            todo.append(name)
    return seen


def test_the_distribution_depends_on_nothing_that_allows_its_origin() -> None:
    # The API, the functions (CORS_ALLOW_ORIGIN) and the uploads bucket refer to the distribution.
    # Its Content-Security-Policy names the media distribution, which reads the media bucket
    # (replicated by ReplicationRole) and the uploads bucket by name only.
    assert depends_on("WebDistribution") == {
        "WebBucket",
        "WebOriginAccessControl",
        "WebOriginCachePolicy",
        "WebHeadersPolicy",
        "MediaDistribution",
        "MediaOriginAccessControl",
        "MediaCachePolicy",
        "MediaHeadersPolicy",
        "MediaKeyGroup",
        "MediaPublicKey",
        "MediaBucket",
        "ReplicationRole",
    }


def test_every_cors_origin_defaults_to_the_distribution() -> None:
    fallback = {"Fn::Sub": "https://${WebDistribution.DomainName}"}
    choice = {"Fn::If": ["HasCorsAllowOrigin", {"Ref": "CorsAllowOrigin"}, fallback]}
    api = RESOURCES["PhotoFeedApi"]["Properties"]
    origins = [api["Cors"]["AllowOrigin"]["Fn::Sub"][1]["Origin"]]
    origins += [
        response["ResponseParameters"]["Headers"]["Access-Control-Allow-Origin"]["Fn::Sub"][1]["Origin"]
        for response in api["GatewayResponses"].values()
    ]
    origins += RESOURCES["UploadsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"][0]["AllowedOrigins"]
    origins.append(DOCUMENT["Globals"]["Function"]["Environment"]["Variables"]["CORS_ALLOW_ORIGIN"])

    assert origins == [choice] * len(origins)
    assert DOCUMENT["Parameters"]["CorsAllowOrigin"]["Default"] == ""


def test_assets_are_cached_for_long_and_the_rest_as_the_bucket_says() -> None:
    config = RESOURCES["WebDistribution"]["Properties"]["DistributionConfig"]
    (assets,) = config["CacheBehaviors"]
    default_policy = RESOURCES["WebOriginCachePolicy"]["Properties"]["CachePolicyConfig"]

    assert (assets["PathPattern"], assets["CachePolicyId"]) == ("/assets/*", CACHING_OPTIMIZED)
    assert config["DefaultCacheBehavior"]["CachePolicyId"] == {"Ref": "WebOriginCachePolicy"}
    assert (default_policy["MinTTL"], default_policy["DefaultTTL"]) == (0, 0)
    for behaviour in (config["DefaultCacheBehavior"], assets):
        assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
        assert behaviour["Compress"] is True
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "WebHeadersPolicy"}


def test_unknown_paths_answer_the_app() -> None:
    config = RESOURCES["WebDistribution"]["Properties"]["DistributionConfig"]

    assert config["DefaultRootObject"] == "index.html"
    assert {
        (answer["ErrorCode"], answer["ResponseCode"], answer["ResponsePagePath"])
        for answer in config["CustomErrorResponses"]
    } == {(403, 200, "/index.html"), (404, 200, "/index.html")}


def test_only_the_distribution_reads_the_bucket() -> None:
    (allow,) = [
        statement
        for statement in RESOURCES["WebBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
    ]

    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert "${WebDistribution}" in allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert set(DOCUMENT["Outputs"]) >= {"WebBucketName", "WebDistributionId", "WebUrl"}
