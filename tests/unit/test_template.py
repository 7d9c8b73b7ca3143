"""The local stack's reading of CloudFormation: parameters, conditions and intrinsic functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devstack.template import NO_VALUE, Template, TemplateError, load_yaml, samconfig_parameters

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


def project_stack(**overrides: str) -> Template:
    """The project's template with these parameter values (over samconfig.toml's [local] ones), each
    resource standing for itself and the feed cache's two kinds of endpoint told apart."""
    template = Template.load(ROOT / "template.yaml", "photofeed-test", overrides=overrides)
    for logical_id in template.document["Resources"]:
        template.refs[logical_id] = logical_id
    template.attributes["FeedCache"] = {
        "PrimaryEndPoint.Address": "primary.cache",
        "PrimaryEndPoint.Port": "6379",
        "ConfigurationEndPoint.Address": "configuration.cache",
        "ConfigurationEndPoint.Port": "6380",
    }
    return template


def feed_cache(template: Template) -> dict[str, Any]:
    properties: dict[str, Any] = template.resolve(template.resources["FeedCache"]["Properties"])
    return properties


def parameter_group(template: Template, cache: dict[str, Any]) -> dict[str, str]:
    """The settings of the parameter group the cache uses, which is the only one the stack has."""
    assert set(template.of_type("AWS::ElastiCache::ParameterGroup")) == {cache["CacheParameterGroupName"]}
    group = template.resources[cache["CacheParameterGroupName"]]["Properties"]
    assert group["CacheParameterGroupFamily"] == "valkey8"
    settings: dict[str, str] = template.resolve(group["Properties"])
    return settings


def test_in_cluster_mode_the_feed_cache_is_shards_of_a_primary_and_its_replicas() -> None:
    template = project_stack(CacheClusterMode="enabled", NumNodeGroups="3", ReplicasPerNodeGroup="2")

    cache = feed_cache(template)

    assert cache["ClusterMode"] == "enabled"
    assert (int(cache["NumNodeGroups"]), int(cache["ReplicasPerNodeGroup"])) == (3, 2)
    assert "NumCacheClusters" not in cache  # the shards say how many nodes
    assert cache["AutomaticFailoverEnabled"] is True  # ElastiCache requires it in cluster mode
    assert cache["MultiAZEnabled"] is True
    assert cache["Engine"] == "valkey"
    settings = parameter_group(template, cache)
    assert settings.pop("cluster-enabled") == "yes"
    without = project_stack(CacheClusterMode="disabled")
    # the same settings as without cluster mode: feeds as listpacks, evictions by LRU
    assert settings == parameter_group(without, feed_cache(without))


def test_without_cluster_mode_the_feed_cache_is_a_primary_and_a_replica() -> None:
    # the shard parameters are then ignored, whatever they say
    template = project_stack(CacheClusterMode="disabled", NumNodeGroups="3", ReplicasPerNodeGroup="0")

    cache = feed_cache(template)

    assert cache["NumCacheClusters"] == 2
    assert not {"ClusterMode", "NumNodeGroups", "ReplicasPerNodeGroup"} & set(cache)
    assert cache["AutomaticFailoverEnabled"] is True
    assert cache["MultiAZEnabled"] is True
    assert parameter_group(template, cache) == {"zset-max-listpack-entries": "1024", "maxmemory-policy": "allkeys-lru"}


def test_shards_without_replicas_fail_over_but_are_not_multi_az() -> None:
    """Multi-AZ needs a replica in another zone; automatic failover stays on, as cluster mode requires."""
    cache = feed_cache(project_stack(CacheClusterMode="enabled", NumNodeGroups="2", ReplicasPerNodeGroup="0"))

    assert (cache["AutomaticFailoverEnabled"], cache["MultiAZEnabled"]) == (True, False)


def test_a_deploy_without_cache_parameters_gets_one_shard_with_a_replica_in_cluster_mode() -> None:
    template = Template.load(ROOT / "template.yaml", "photofeed-test")
    assert "CacheClusterMode" not in samconfig_parameters(ROOT / "samconfig.toml")  # so these are the defaults
    for logical_id in template.document["Resources"]:
        template.refs[logical_id] = logical_id

    cache = feed_cache(template)

    assert (cache["ClusterMode"], int(cache["NumNodeGroups"]), int(cache["ReplicasPerNodeGroup"])) == ("enabled", 1, 1)
    assert cache["MultiAZEnabled"] is True


@pytest.mark.parametrize(
    ("mode", "tls", "url", "cluster", "endpoint"),
    [
        ("enabled", "true", "rediss://configuration.cache:6380/0", "true", "configuration.cache:6380"),
        ("enabled", "false", "redis://configuration.cache:6380/0", "true", "configuration.cache:6380"),
        ("disabled", "true", "rediss://primary.cache:6379/0", "false", "primary.cache:6379"),
        ("disabled", "false", "redis://primary.cache:6379/0", "false", "primary.cache:6379"),
    ],
)
def test_functions_reach_the_cache_as_its_mode_needs(
    mode: str, tls: str, url: str, cluster: str, endpoint: str
) -> None:
    """In cluster mode a client starts from the configuration endpoint and speaks the cluster protocol;
    without, it talks to the primary endpoint."""
    template = project_stack(CacheClusterMode=mode, CacheTls=tls)

    for function in template.of_type("AWS::Serverless::Function"):
        variables = template.function_properties(function)["Environment"]["Variables"]
        assert template.resolve(variables["REDIS_URL"]) == url, function
        assert template.resolve(variables["REDIS_CLUSTER"]) == cluster, function
    assert template.resolve(template.document["Outputs"]["FeedCacheEndpoint"]["Value"]) == endpoint
