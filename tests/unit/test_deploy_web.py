"""tools/deploy_web.py against moto: a stack's outputs, the bucket and the distribution."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tools import deploy_web

REGION = "eu-west-1"
STACK = "photofeed-test"
BUCKET = "photofeed-test-web"
OUTPUTS = {
    "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/v1",
    "UserPoolId": "eu-west-1_Pool",
    "UserPoolClientId": "client123",
}
BUILD = {
    "index.html": "<!doctype html><script type=module src=/assets/index-B0Js.js></script>",
    "favicon.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
    "assets/index-B0Js.js": "export {};",
    "assets/index-B0Js.js.map": "{}",
    "assets/index-C9aa.css": "body{}",
    "assets/logo-D1bb.png": "png",
    "assets/font-E2cc.woff2": "woff2",
    ".vite/manifest.json": "{}",
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A stack in moto whose outputs name a real (moto) bucket and distribution."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        cloudfront = boto3.client("cloudfront", region_name="us-east-1")
        distribution = cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": "test",
                "Comment": "web",
                "Enabled": True,
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "web",
                            "DomainName": f"{BUCKET}.s3.{REGION}.amazonaws.com",
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                },
                "DefaultCacheBehavior": {"TargetOriginId": "web", "ViewerProtocolPolicy": "redirect-to-https"},
            }
        )["Distribution"]
        template = {
            "Resources": {"WebBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": BUCKET}}},
            "Outputs": {
                **{name: {"Value": value} for name, value in OUTPUTS.items()},
                "WebBucketName": {"Value": {"Ref": "WebBucket"}},
                "WebDistributionId": {"Value": distribution["Id"]},
                "WebUrl": {"Value": f"https://{distribution['DomainName']}"},
            },
        }
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName=STACK, TemplateBody=json.dumps(template)
        )
        yield {
            "s3": boto3.client("s3", region_name=REGION),
            "cloudfront": cloudfront,
            "distribution_id": distribution["Id"],
        }


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    for name, text in BUILD.items():
        path = tmp_path / "dist" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "dist"


def keys(s3: Any) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_a_deploy_publishes_the_build_with_its_config_and_invalidates_the_entry_points(
    aws: dict[str, Any], dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws["s3"]
    # What an earlier deploy left: its pages (one gone from this build) and its hashed assets.
    for key in ("index.html", "config.json", "old-page.html", "assets/index-OLD.js"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"old", CacheControl="no-cache")

    assert deploy_web.main(["--stack-name", STACK, "--region", REGION, "--dist", str(dist)]) == 0

    expected_config = {
        "api_url": OUTPUTS["ApiUrl"],
        "region": REGION,
        "user_pool_id": OUTPUTS["UserPoolId"],
        "user_pool_client_id": OUTPUTS["UserPoolClientId"],
    }
    assert json.loads((dist / "config.json").read_text()) == expected_config
    assert json.loads(s3.get_object(Bucket=BUCKET, Key="config.json")["Body"].read()) == expected_config
    assert s3.get_object(Bucket=BUCKET, Key="index.html")["Body"].read() == BUILD["index.html"].encode()

    # Stale pages go; assets of earlier builds stay (open tabs may still load them); dotfiles never go up.
    published = {name for name in BUILD if not name.startswith(".")} | {"config.json"}
    assert keys(s3) == published | {"assets/index-OLD.js"}

    headers = {key: s3.head_object(Bucket=BUCKET, Key=key) for key in published}
    assert {key: head["ContentType"] for key, head in headers.items()} == {
        "index.html": "text/html; charset=utf-8",
        "config.json": "application/json",
        "favicon.svg": "image/svg+xml",
        "assets/index-B0Js.js": "text/javascript; charset=utf-8",
        "assets/index-B0Js.js.map": "application/json",
        "assets/index-C9aa.css": "text/css; charset=utf-8",
        "assets/logo-D1bb.png": "image/png",
        "assets/font-E2cc.woff2": "font/woff2",
    }
    for key, head in headers.items():
        immutable = key.startswith("assets/")
        assert head["CacheControl"] == ("public, max-age=31536000, immutable" if immutable else "no-cache"), key

    invalidations = aws["cloudfront"].list_invalidations(DistributionId=aws["distribution_id"])
    (summary,) = invalidations["InvalidationList"]["Items"]
    batch = aws["cloudfront"].get_invalidation(DistributionId=aws["distribution_id"], Id=summary["Id"])
    assert batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/", "/index.html", "/config.json"]

    output = capsys.readouterr().out
    assert "deleted 1 files the build no longer has: old-page.html" in output
    assert "the web app: https://" in output


def test_pages_go_up_after_what_they_load() -> None:
    order = deploy_web.upload_order(["index.html", "config.json", "favicon.svg", "assets/b.js", "assets/a.css"])

    assert order == [["assets/a.css", "assets/b.js"], ["favicon.svg"], ["config.json"], ["index.html"]]


def test_content_types_of_files_the_table_does_not_name() -> None:
    assert deploy_web.content_type("robots.TXT") == "text/plain; charset=utf-8"
    assert deploy_web.content_type("notes.pdf") == "application/pdf"
    assert deploy_web.content_type("LICENSE") == "application/octet-stream"


def test_a_stack_without_the_web_outputs_is_refused(aws: dict[str, Any], dist: Path) -> None:
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="older",
        TemplateBody=json.dumps(
            {
                "Resources": {"B": {"Type": "AWS::S3::Bucket"}},
                "Outputs": {name: {"Value": value} for name, value in OUTPUTS.items()},
            }
        ),
    )
    cloudformation = boto3.client("cloudformation", region_name=REGION)

    with pytest.raises(deploy_web.DeployError, match="no output WebBucketName, WebDistributionId"):
        deploy_web.stack_outputs(cloudformation, "older")


def test_nothing_is_asked_of_aws_without_a_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        assert deploy_web.main(["--stack-name", STACK, "--region", REGION, "--dist", str(tmp_path)]) == 1

    # Not "stack does not exist": the build is checked before any AWS call.
    assert "index.html is missing: build the app first (make web)" in capsys.readouterr().err


def test_the_config_environment_names_the_stack_and_region() -> None:
    assert deploy_web.samconfig_target("prod") == ("photofeed-prod", "us-east-1")
    assert deploy_web.samconfig_target("default") == ("photofeed", "us-east-1")
    assert deploy_web.samconfig_target("nowhere") == (None, None)
