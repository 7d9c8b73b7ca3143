"""template.yaml's media distribution (issue 14): with a signing key pair, clients fetch media from
CloudFront with signed URLs and both buckets stay private to it; without one (the default, and the
local stack), none of it exists and the functions presign with S3."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from devstack.template import Template, load_yaml

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = load_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = DOCUMENT["Resources"]
KEY_PAIR = {
    "MediaSigningPublicKey": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0\n-----END PUBLIC KEY-----",
    "MediaSigningKeySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:photofeed-media-signing-AbCdEf",
}
PIECES = {
    "MediaDistribution",
    "MediaPublicKey",
    "MediaKeyGroup",
    "MediaOriginAccessControl",
    "MediaCachePolicy",
    "MediaHeadersPolicy",
    "MediaBucketPolicy",
    "UploadsBucketPolicy",
}
# The wiring factories whose use cases present posts (PostPresenter signs their media URLs). The
# media worker and the stuck-post sweep use media_store too, but store and inspect, never sign.
PRESENTING = {"post_service", "feed_service", "search_service", "fanout_service", "post_presenter"}
MEDIA_ENVIRONMENT = ("MEDIA_CDN_DOMAIN", "MEDIA_SIGNING_KEY_ID", "MEDIA_SIGNING_KEY_SECRET_ARN")
YEAR = 31536000


def wiring_imports(function: str) -> set[str]:
    code = ROOT / RESOURCES[function]["Properties"]["CodeUri"] / "app.py"
    return {
        alias.name
        for node in ast.walk(ast.parse(code.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "photofeed.wiring"
        for alias in node.names
    }


def functions() -> list[str]:
    return [name for name, value in RESOURCES.items() if value["Type"] == "AWS::Serverless::Function"]


def presenting_functions() -> list[str]:
    return [name for name in functions() if wiring_imports(name) & PRESENTING]


def environment(template: Template, function: str) -> dict[str, Any]:
    variables = template.function_properties(function)["Environment"]["Variables"]
    return {name: template.resolve(variables[name]) for name in MEDIA_ENVIRONMENT if name in variables}


def test_a_plain_deploy_has_no_media_distribution_and_the_functions_presign_with_s3() -> None:
    template = Template.load(ROOT / "template.yaml", "photofeed", "us-east-1")

    assert not template.condition("ServeMediaFromCloudFront")
    assert not PIECES & set(template.resources)
    assert {"MediaDistributionDomain", "MediaSigningKeyId"} <= {
        name for name, output in DOCUMENT["Outputs"].items() if output.get("Condition") == "ServeMediaFromCloudFront"
    }
    for function in presenting_functions():
        assert environment(template, function) == dict.fromkeys(MEDIA_ENVIRONMENT, ""), function


@pytest.mark.parametrize("given", ["MediaSigningPublicKey", "MediaSigningKeySecretArn"])
def test_half_a_key_pair_turns_nothing_on(given: str) -> None:
    template = Template.load(ROOT / "template.yaml", "photofeed", "us-east-1", {given: KEY_PAIR[given]})

    assert not template.condition("ServeMediaFromCloudFront")
    assert not PIECES & set(template.resources)


def test_with_a_key_pair_the_functions_that_present_posts_sign_for_the_distribution() -> None:
    template = Template.load(ROOT / "template.yaml", "photofeed", "us-east-1", KEY_PAIR)
    template.attributes["MediaDistribution"] = {"DomainName": "d111111abcdef8.cloudfront.net"}
    template.refs["MediaPublicKey"] = "K2JCJMDEHXQW5F"

    assert set(template.resources) >= PIECES
    presenting = presenting_functions()
    assert {"ReadApiFunction", "WriteApiFunction", "FanoutFunction"} <= set(presenting)
    for function in presenting:
        assert environment(template, function) == {
            "MEDIA_CDN_DOMAIN": "d111111abcdef8.cloudfront.net",
            "MEDIA_SIGNING_KEY_ID": "K2JCJMDEHXQW5F",
            "MEDIA_SIGNING_KEY_SECRET_ARN": KEY_PAIR["MediaSigningKeySecretArn"],
        }, function
        (statement,) = [
            statement
            for policy in RESOURCES[function]["Properties"]["Policies"]
            if isinstance(policy, dict) and "Fn::If" in policy
            for statement in policy["Fn::If"][1]["Statement"]
            if "secretsmanager:GetSecretValue" in str(statement["Action"])
        ]
        assert statement["Resource"] == {"Ref": "MediaSigningKeySecretArn"}  # that secret only
    for function in set(functions()) - set(presenting):
        assert "secretsmanager" not in str(RESOURCES[function]["Properties"].get("Policies")), function
        assert not set(MEDIA_ENVIRONMENT) & set(template.function_properties(function)["Environment"]["Variables"])


def test_every_request_needs_a_signed_url_over_https_through_the_origin_access_control() -> None:
    config = RESOURCES["MediaDistribution"]["Properties"]["DistributionConfig"]
    behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]

    assert (config["HttpVersion"], config["PriceClass"]) == ("http2and3", "PriceClass_100")
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}
    for origin in config["Origins"]:
        assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["MediaOriginAccessControl", "Id"]}
        assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy identity
    for behaviour in behaviours:
        assert behaviour["TrustedKeyGroups"] == [{"Ref": "MediaKeyGroup"}]
        assert behaviour["ViewerProtocolPolicy"] == "https-only"
        assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
        assert behaviour["Compress"] is False  # JPEG and MP4 are compressed already
        assert behaviour["CachePolicyId"] == {"Ref": "MediaCachePolicy"}
    (key_id,) = RESOURCES["MediaKeyGroup"]["Properties"]["KeyGroupConfig"]["Items"]
    assert key_id == {"Ref": "MediaPublicKey"}
    encoded = RESOURCES["MediaPublicKey"]["Properties"]["PublicKeyConfig"]["EncodedKey"]
    assert encoded == {"Ref": "MediaSigningPublicKey"}
    access = RESOURCES["MediaOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert (access["OriginAccessControlOriginType"], access["SigningBehavior"]) == ("s3", "always")


def test_variants_go_to_the_media_bucket_and_originals_to_the_uploads_bucket() -> None:
    config = RESOURCES["MediaDistribution"]["Properties"]["DistributionConfig"]
    origins = {origin["Id"]: origin["DomainName"] for origin in config["Origins"]}
    uploads_name = RESOURCES["UploadsBucket"]["Properties"]["BucketName"]["Fn::Sub"]

    assert config["DefaultCacheBehavior"]["TargetOriginId"] == "media-bucket"
    assert origins["media-bucket"] == {"Fn::GetAtt": ["MediaBucket", "RegionalDomainName"]}
    # By name, not !GetAtt: the uploads bucket's CORS names the web distribution, whose CSP names this one.
    assert origins["uploads-bucket"] == {"Fn::Sub": uploads_name + ".s3.${AWS::Region}.${AWS::URLSuffix}"}
    assert {(b["PathPattern"], b["TargetOriginId"]) for b in config["CacheBehaviors"]} == {
        ("uploads/*", "uploads-bucket"),
        ("video-uploads/*", "uploads-bucket"),
    }


def test_immutable_media_stay_a_year_at_the_edge_whatever_the_objects_say() -> None:
    policy = RESOURCES["MediaCachePolicy"]["Properties"]["CachePolicyConfig"]
    parameters = policy["ParametersInCacheKeyAndForwardedToOrigin"]

    # A minimum TTL above 0 makes CloudFront cache despite the variants' `Cache-Control: private`.
    assert (policy["MinTTL"], policy["DefaultTTL"], policy["MaxTTL"]) == (YEAR, YEAR, YEAR)
    # The signing parameters are not in the cache key (one cached copy for every viewer's URL);
    # an original's version is.
    assert parameters["QueryStringsConfig"] == {"QueryStringBehavior": "whitelist", "QueryStrings": ["versionId"]}
    assert parameters["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert parameters["CookiesConfig"] == {"CookieBehavior": "none"}
    media_code = (ROOT / "layers/shared/photofeed/storage/media.py").read_text()
    assert media_code.count('"private, max-age=31536000, immutable"') == 2  # photos' variants and videos


@pytest.mark.parametrize(
    ("policy", "bucket", "actions", "prefixes"),
    [
        ("MediaBucketPolicy", "MediaBucket", "s3:GetObject", ["posts/*"]),
        (
            "UploadsBucketPolicy",
            "UploadsBucket",
            ["s3:GetObject", "s3:GetObjectVersion"],
            ["uploads/*", "video-uploads/*"],
        ),
    ],
)
def test_only_the_media_distribution_reads_the_buckets(
    policy: str, bucket: str, actions: Any, prefixes: list[str]
) -> None:
    properties = RESOURCES[policy]["Properties"]
    (allow,) = [statement for statement in properties["PolicyDocument"]["Statement"] if statement["Effect"] == "Allow"]
    resources = allow["Resource"] if isinstance(allow["Resource"], list) else [allow["Resource"]]

    assert properties["Bucket"] == {"Ref": bucket}
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == actions
    assert resources == [{"Fn::Sub": f"${{{bucket}.Arn}}/{prefix}"} for prefix in prefixes]
    source = allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source == "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${MediaDistribution}"
    assert all(RESOURCES[bucket]["Properties"]["PublicAccessBlockConfiguration"].values())  # still private


def test_the_web_app_may_load_media_from_the_distribution() -> None:
    csp = RESOURCES["WebHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"][
        "ContentSecurityPolicy"
    ]["ContentSecurityPolicy"]["Fn::Sub"]
    text, variables = csp

    for directive in ("img-src", "media-src"):
        (line,) = [line for line in text.split(";") if line.strip().startswith(directive)]
        assert "${MediaCdn}" in line
    assert variables["MediaCdn"] == {
        "Fn::If": ["ServeMediaFromCloudFront", {"Fn::Sub": " https://${MediaDistribution.DomainName}"}, ""]
    }
