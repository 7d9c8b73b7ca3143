"""The local stack's reading of CloudFormation: parameters, conditions and intrinsic functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.template import NO_VALUE, Template, TemplateError, load_yaml

ROOT = Path(__file__).resolve().parents[2]


def make(tmp_path: Path, text: str, overrides: dict[str, str] | None = None) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return Template.load(path, "stack", "eu-west-1", overrides)


TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: dev}
  Subnets: {Type: CommaDelimitedList, Default: "a,b"}
  Tls: {Type: String, Default: "true"}
Conditions:
  UseTls: !Equals [!Ref Tls, "true"]
  NoTls: !Not [!Condition UseTls]
Resources:
  Queue: {Type: AWS::SQS::Queue}
  OnlyWithTls:
    Type: AWS::SNS::Topic
    Condition: UseTls
"""


def test_parameters_take_defaults_then_overrides(tmp_path: Path) -> None:
    template = make(tmp_path, TEMPLATE, {"Stage": "prod"})

    assert template.parameters == {"Stage": "prod", "Subnets": ["a", "b"], "Tls": "true"}


def test_a_parameter_without_a_value_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="parameter Needed has no default"):
        make(tmp_path, "Parameters:\n  Needed: {Type: String}\nResources: {}\n")


def test_a_value_the_parameter_does_not_allow_is_a_clear_error(tmp_path: Path) -> None:
    text = """
Parameters:
  Limits: {Type: String, Default: "a=1/2", AllowedPattern: "^[a-z]+=[0-9]+/[0-9]+$", ConstraintDescription: rules}
  Level: {Type: String, Default: INFO, AllowedValues: [INFO, DEBUG]}
  Days: {Type: Number, Default: 7, AllowedValues: [1, 7]}
Resources: {}
"""
    assert make(tmp_path, text).parameters == {"Limits": "a=1/2", "Level": "INFO", "Days": 7}
    with pytest.raises(TemplateError, match=r"parameter Limits: 'a=1' does not match .* \(rules\)"):
        make(tmp_path, text, {"Limits": "a=1"})
    with pytest.raises(TemplateError, match="parameter Level: 'LOUD' is not one of"):
        make(tmp_path, text, {"Level": "LOUD"})
    with pytest.raises(TemplateError, match="parameter Days: '3' is not one of"):
        make(tmp_path, text, {"Days": "3"})


def test_conditions_decide_which_resources_exist(tmp_path: Path) -> None:
    with_tls = make(tmp_path, TEMPLATE)
    without = make(tmp_path, TEMPLATE, {"Tls": "false"})

    assert "OnlyWithTls" in with_tls.resources
    assert "OnlyWithTls" not in without.resources
    assert without.condition("NoTls") is True


def test_intrinsic_functions_resolve(tmp_path: Path) -> None:
    template = make(tmp_path, TEMPLATE)
    template.refs["Queue"] = "http://queue"
    template.attributes["Queue"] = {"Arn": "arn:queue"}

    assert template.resolve({"Ref": "AWS::Region"}) == "eu-west-1"
    assert template.resolve({"Fn::Sub": "${AWS::StackName}-${Stage}-${Queue.Arn}"}) == "stack-dev-arn:queue"
    assert template.resolve({"Fn::Sub": ["${Scheme}://${Queue}", {"Scheme": "https"}]}) == "https://http://queue"
    assert template.resolve({"Fn::Sub": "literal ${!NotAVariable}"}) == "literal ${NotAVariable}"
    assert template.resolve({"Fn::Join": [",", {"Ref": "Subnets"}]}) == "a,b"
    assert template.resolve({"Fn::If": ["UseTls", "rediss", "redis"]}) == "rediss"
    assert template.resolve({"Fn::Select": [1, {"Fn::Split": ["-", "x-y-z"]}]}) == "y"
    assert template.resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "arn:queue"
    assert template.resolve([{"Ref": "AWS::NoValue"}, 1]) == [1]
    assert template.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE


def test_unknown_references_fail_loudly(tmp_path: Path) -> None:
    template = make(tmp_path, TEMPLATE)

    with pytest.raises(TemplateError, match="no such parameter or resource"):
        template.resolve({"Ref": "Missing"})
    with pytest.raises(TemplateError, match="not available locally"):
        template.resolve({"Fn::GetAtt": ["Queue", "NoSuchAttribute"]})
    with pytest.raises(TemplateError, match="not supported"):
        template.resolve({"Fn::Transform": {}})


def test_globals_merge_into_functions(tmp_path: Path) -> None:
    template = make(
        tmp_path,
        """
Globals:
  Function:
    Timeout: 10
    Environment: {Variables: {A: "1", B: "2"}}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 3
      Environment: {Variables: {B: "override", C: "3"}}
""",
    )

    properties = template.function_properties("Fn")

    assert properties["Timeout"] == 3
    assert properties["Environment"]["Variables"] == {"A": "1", "B": "override", "C": "3"}


def test_the_project_template_loads_with_the_local_parameters() -> None:
    template = Template.load(ROOT / "template.yaml", "photofeed-local")

    assert template.parameters["CacheTls"] == "false"  # from samconfig.toml [local]
    assert {"AuthFunction", "ReadApiFunction", "WriteApiFunction"} <= set(template.of_type("AWS::Serverless::Function"))
    assert load_yaml(ROOT / "template.yaml")["Transform"] == "AWS::Serverless-2016-10-31"


def test_deleted_variants_do_not_linger_in_the_versioned_media_bucket() -> None:
    """A deleted post's photos are gone within days: S3 keeps a deleted object's bytes as a
    noncurrent version in a versioned bucket until a lifecycle rule expires them."""
    bucket = load_yaml(Path("template.yaml"))["Resources"]["MediaBucket"]["Properties"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    [rule] = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] <= 30
    assert rule["ExpiredObjectDeleteMarker"] is True
