"""A replica of each store (README, "Replicas and recovery"), read from template.yaml: off by
default, and when its parameters are given, every original, every rendition and every table has a
copy in the other region. A table or a bucket added without one fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devstack.template import Template, load_yaml

ROOT = Path(__file__).resolve().parents[2]
REPLICAS = {
    "UploadsReplicaBucketArn": "arn:aws:s3:::photofeed-uploads-replica-eu-west-1",
    "MediaReplicaBucketArn": "arn:aws:s3:::photofeed-media-replica-eu-west-1",
    "BackupCopyVaultArn": "arn:aws:backup:eu-west-1:123456789012:backup-vault:photofeed-copies",
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_yaml(ROOT / "template.yaml")


def test_a_plain_deploy_makes_no_replica() -> None:
    template = Template.load(ROOT / "template.yaml", "photofeed", "us-east-1")
    kinds = {resource["Type"] for resource in template.resources.values()}
    assert not {"AWS::Backup::BackupPlan", "AWS::Backup::BackupVault"} & kinds
    assert "ReplicationRole" not in template.resources
    assert not template.condition("ReplicateUploads")  # the buckets' ReplicationConfiguration is NoValue
    assert not template.condition("ReplicateMedia")


def test_with_the_parameters_every_bucket_and_every_table_is_copied_to_the_other_region(
    document: dict[str, Any],
) -> None:
    template = Template.load(ROOT / "template.yaml", "photofeed", "us-east-1", REPLICAS)
    assert {"ReplicationRole", "BackupVault", "BackupPlan", "BackupSelection", "BackupRole"} <= set(template.resources)
    for bucket, parameter in (("UploadsBucket", "UploadsReplicaBucketArn"), ("MediaBucket", "MediaReplicaBucketArn")):
        replication = document["Resources"][bucket]["Properties"]["ReplicationConfiguration"]["Fn::If"][1]
        (rule,) = replication["Rules"]
        assert rule["Status"] == "Enabled"
        assert rule["Filter"] == {"Prefix": ""}  # every object
        assert rule["DeleteMarkerReplication"] == {"Status": "Enabled"}
        assert rule["Destination"]["Bucket"] == {"Ref": parameter}
        assert document["Resources"][bucket]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}

    tables = {name for name, value in document["Resources"].items() if value["Type"] == "AWS::DynamoDB::Table"}
    selected = {
        reference["Fn::GetAtt"][0]
        for reference in document["Resources"]["BackupSelection"]["Properties"]["BackupSelection"]["Resources"]
    }
    assert selected == tables
    (rule,) = document["Resources"]["BackupPlan"]["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert rule["CopyActions"][0]["DestinationBackupVaultArn"] == {"Ref": "BackupCopyVaultArn"}
    for name in tables:
        recovery = document["Resources"][name]["Properties"]["PointInTimeRecoverySpecification"]
        assert recovery == {"PointInTimeRecoveryEnabled": True}, name
