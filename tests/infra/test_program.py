"""The program of every environment, evaluated under mocks: what it creates, exports and enforces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import ENVIRONMENTS, one, resources_of, stack_config

pytestmark = pytest.mark.pulumi

BUCKET = "gcp:storage/bucket:Bucket"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
TABLE = "gcp:bigquery/table:Table"
DATASET = "gcp:bigquery/dataset:Dataset"
CLUSTER = "gcp:container/cluster:Cluster"
DIRECTORY = "kubernetes:kustomize/v2:Directory"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_passes_every_control(evaluations: dict[str, Any], env: str) -> None:
    from infra.audit import audit_report

    report = audit_report(evaluations[env])
    violations = [(p["control"], v) for p in report["policies"] for v in p["violations"]]
    assert violations == []
    assert report["summary"]["passed"] >= 70
    assert report["summary"]["resources"] > 90


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_outputs_are_exactly_what_env_import_reads(evaluations: dict[str, Any], env: str) -> None:
    from mlops_kit.environments import StackOutputs

    outputs = evaluations[env].outputs
    assert set(outputs) == set(StackOutputs.model_fields)
    assert outputs["environment"] == env
    assert outputs["labels"] == {"env": env, "team": "ml-platform", "cost-center": "cc-1234"}


def test_outputs_round_trip_through_env_import(evaluations: dict[str, Any], tmp_path: Path) -> None:
    from mlops_kit.environments import Workspace, import_environment, resolve_environment

    outputs = evaluations["prod"].outputs
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs), encoding="utf-8")
    (tmp_path / "mlops-kit.yaml").write_text("", encoding="utf-8")
    workspace = Workspace.discover(tmp_path, environ={})
    import_environment("prod", path, workspace)
    env = resolve_environment("prod", workspace=workspace, environ={})
    assert env.warehouse == "bigquery://acme-ml-prod/mlops_prod"
    assert env.artifacts == "gs://acme-ml-prod-mlops-models/models"
    assert env.metadata == (
        "cloudsql://acme-ml-prod:europe-west1:mlops-prod-metadata/mlops"
        "?iam_user=mlops-pipeline-runner@acme-ml-prod.iam"
    )
    assert env.orchestrator == "kfp+http://kfp.prod.mlops.internal"
    assert env.prediction_log_table == "acme-ml-prod.mlops_prod_monitoring.prediction_log"
    assert env.pipeline_root == "gs://acme-ml-prod-mlops-models/pipeline-root"
    assert env.service_accounts["serving"] == "mlops-serving@acme-ml-prod.iam.gserviceaccount.com"
    assert env.labels["cost-center"] == "cc-1234"


def test_vertex_environment_creates_no_cluster_and_imports(tmp_path: Path) -> None:
    from infra.audit import audit_report
    from infra.evaluate import evaluate
    from mlops_kit.environments import StackOutputs

    config = stack_config(
        "staging",
        **{"mlops-kit:orchestrator": "vertex", "mlops-kit:vertexModelRegistry": True},
    )
    config.pop("mlops-kit:cluster")
    config.pop("mlops-kit:kubeflow")
    evaluation = evaluate("staging", config=config)
    types = {r.type for r in evaluation.resources}
    assert CLUSTER not in types and DIRECTORY not in types
    assert any(r.props.get("service") == "aiplatform.googleapis.com" for r in evaluation.resources)
    assert audit_report(evaluation)["summary"]["violations"] == 0
    environment = StackOutputs.model_validate(evaluation.outputs).to_environment("staging")
    assert environment.orchestrator == "vertex://acme-ml-staging/europe-west1"
    assert environment.registry_mirror == "vertex://acme-ml-staging/europe-west1"


def test_version_tables_are_ingestion_time_partitioned_and_never_expire(prod: Any) -> None:
    table = one(prod, TABLE, "churn")
    assert table.props["timePartitioning"] == {"type": "DAY"}
    assert table.props["requirePartitionFilter"] is True
    assert table.props["deletionProtection"] is True
    assert "expirationTime" not in table.props
    for dataset in resources_of(prod, DATASET):
        assert "defaultPartitionExpirationMs" not in dataset.props
        assert "defaultTableExpirationMs" not in dataset.props
        assert dataset.props["defaultEncryptionConfiguration"]["kmsKeyName"]


def test_dataset_access_is_named_groups_and_service_accounts_only(prod: Any) -> None:
    data = one(prod, DATASET, "-data")
    members = {
        (a["role"], a.get("groupByEmail") or a.get("userByEmail") or a.get("specialGroup"))
        for a in data.props["accesses"]
    }
    assert members == {
        ("OWNER", "projectOwners"),
        ("READER", "ml-engineers@acme.example"),
        ("READER", "ml-analysts@acme.example"),
        ("WRITER", "mlops-pipeline-runner@acme-ml-prod.iam.gserviceaccount.com"),
    }


def test_prediction_log_matches_the_monitoring_schema(prod: Any) -> None:
    from mlops_kit.monitoring.schema import GROUND_TRUTH, PREDICTION_LOG

    for contract in (PREDICTION_LOG, GROUND_TRUTH):
        table = one(prod, TABLE, contract.name.replace("_", "-"))
        columns = [(c["name"], c["type"]) for c in json.loads(table.props["schema"])]
        assert columns == list(contract.columns)
        assert table.props["timePartitioning"] == {"type": "DAY", "field": contract.partition_by}
        assert tuple(table.props.get("clusterings", ())) == contract.cluster_by


def test_lifecycle_ages_and_protections_come_from_config(evaluations: dict[str, Any]) -> None:
    def ages(env: str) -> list[tuple[str, float]]:
        bucket = one(evaluations[env], BUCKET, "-models")
        return [
            (rule["action"]["storageClass"], rule["condition"]["age"])
            for rule in bucket.props["lifecycleRules"]
            if rule["action"]["type"] == "SetStorageClass"
        ]

    assert ages("dev") == [("NEARLINE", 7), ("COLDLINE", 30), ("ARCHIVE", 90)]
    assert ages("prod") == [("NEARLINE", 60), ("COLDLINE", 180), ("ARCHIVE", 730)]
    assert one(evaluations["dev"], BUCKET, "-models").props["forceDestroy"] is True
    assert one(evaluations["prod"], BUCKET, "-models").props["forceDestroy"] is False
    prod_bucket = one(evaluations["prod"], BUCKET, "-models").props
    assert prod_bucket["softDeletePolicy"]["retentionDurationSeconds"] == 30 * 86400
    assert prod_bucket["versioning"] == {"enabled": True}
    assert {r["condition"].get("numNewerVersions") for r in prod_bucket["lifecycleRules"]} >= {5}


def test_metadata_db_is_private_iam_authenticated_and_regional_in_prod(
    evaluations: dict[str, Any],
) -> None:
    prod_db = one(evaluations["prod"], SQL, "metadata").props
    settings = prod_db["settings"]
    assert settings["availabilityType"] == "REGIONAL"
    assert one(evaluations["dev"], SQL, "metadata").props["settings"]["availabilityType"] == "ZONAL"
    assert settings["ipConfiguration"]["ipv4Enabled"] is False
    assert settings["ipConfiguration"]["sslMode"] == "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    assert settings["connectorEnforcement"] == "REQUIRED"
    assert settings["insightsConfig"]["queryInsightsEnabled"] is True
    flags = {f["name"]: f["value"] for f in settings["databaseFlags"]}
    assert flags["cloudsql.iam_authentication"] == "on"
    assert "rootPassword" not in prod_db
    users = [
        r.props
        for r in resources_of(evaluations["prod"], "gcp:sql/user:User")
        if r.props["instance"] == "mlops-prod-metadata"
    ]
    assert {u["type"] for u in users} == {"CLOUD_IAM_SERVICE_ACCOUNT"}
    owners = [u["name"] for u in users if u.get("databaseRoles")]
    assert owners == ["mlops-pipeline-runner@acme-ml-prod.iam"]
    assert not any("password" in u for u in users)
    assert one(evaluations["prod"], "gcp:sql/database:Database").props["name"] == "mlops"


def test_iam_roles_are_granted_on_resources_and_workload_identity_on_accounts(prod: Any) -> None:
    from infra.audit import iam_grants

    grants = iam_grants(prod.resources)
    project_roles = {g["role"] for g in grants if g["resource"].startswith("project ")}
    assert not project_roles & {"roles/owner", "roles/editor", "roles/viewer"}
    assert not any(r.endswith("Admin") or r.endswith("admin") for r in project_roles)
    sql_grants = [g for g in grants if g["role"].startswith("roles/cloudsql.")]
    assert sql_grants and all(g["condition"].startswith("only-") for g in sql_grants)
    workload_identity = [
        g
        for g in grants
        if g["role"] == "roles/iam.workloadIdentityUser" and ".svc.id.goog[" in g["member"]
    ]
    assert {g["resource"] for g in workload_identity} == {
        "service account mlops-pipeline-runner@acme-ml-prod.iam.gserviceaccount.com",
        "service account mlops-kfp@acme-ml-prod.iam.gserviceaccount.com",
    }
    assert {
        "member": "serviceAccount:mlops-serving@acme-ml-prod.iam.gserviceaccount.com",
        "role": "roles/storage.objectViewer",
        "resource": "bucket acme-ml-prod-mlops-models",
        "condition": "",
    } in grants
    assert not resources_of(prod, "gcp:serviceaccount/key:Key")


def test_cluster_is_private_and_pipeline_pool_scales_to_zero(evaluations: dict[str, Any]) -> None:
    cluster = one(evaluations["prod"], CLUSTER).props
    assert cluster["privateClusterConfig"]["enablePrivateNodes"] is True
    assert cluster["removeDefaultNodePool"] is True
    assert cluster["deletionProtection"] is True
    assert one(evaluations["dev"], CLUSTER).props["deletionProtection"] is False
    pool = one(evaluations["prod"], "gcp:container/nodePool:NodePool", "pipelines").props
    assert pool["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 10}


def test_kubeflow_is_pinned_private_and_uses_mysql_per_environment(
    evaluations: dict[str, Any],
) -> None:
    def directories(env: str) -> list[str]:
        return sorted(r.props["directory"] for r in resources_of(evaluations[env], DIRECTORY))

    assert all("/tree/2.5.0/manifests/kustomize/" in d for d in directories("prod"))
    assert any(d.endswith("env/platform-agnostic") for d in directories("dev"))
    assert not any("platform-agnostic" in d or "inverse-proxy" in d for d in directories("prod"))
    mysql = one(evaluations["prod"], SQL, "kfp").props
    assert mysql["databaseVersion"].startswith("MYSQL")
    assert not [r for r in resources_of(evaluations["dev"], SQL) if "kfp" in r.name]
    namespace = one(evaluations["prod"], "kubernetes:core/v1:NamespacePatch").props
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    service = one(evaluations["prod"], "kubernetes:core/v1:Service", "ui-internal").props
    assert service["metadata"]["annotations"]["networking.gke.io/load-balancer-type"] == "Internal"
    zone = one(evaluations["prod"], "gcp:dns/managedZone:ManagedZone").props
    assert zone["visibility"] == "private"


def test_budget_per_environment(evaluations: dict[str, Any]) -> None:
    amounts = {
        env: one(evaluations[env], "gcp:billing/budget:Budget").props["amount"]["specifiedAmount"][
            "units"
        ]
        for env in ENVIRONMENTS
    }
    assert amounts == {"dev": "500", "staging": "1500", "prod": "5000"}


def test_secrets_are_redacted_from_the_recorded_inputs(prod: Any) -> None:
    provider = one(prod, "pulumi:providers:kubernetes")
    assert provider.props["kubeconfig"] == "[secret]"


def test_keys_live_where_the_data_they_encrypt_lives(prod: Any) -> None:
    rings = {r.props["location"] for r in resources_of(prod, "gcp:kms/keyRing:KeyRing")}
    assert rings == {"europe", "europe-west1"}  # EU dataset and bucket; regional SQL and GKE
    keys = {r.name: r.props["keyRing"] for r in resources_of(prod, "gcp:kms/cryptoKey:CryptoKey")}
    assert keys["mlops-prod-bigquery"].endswith(
        "/locations/europe/keyRings/mlops-prod-keyring-europe"
    )
    assert "/locations/europe-west1/" in keys["mlops-prod-sql"]
    dataset_key = one(prod, DATASET, "-data").props["defaultEncryptionConfiguration"]["kmsKeyName"]
    assert dataset_key == f"{keys['mlops-prod-bigquery']}/cryptoKeys/mlops-prod-bigquery"


def test_evaluation_never_opens_a_network_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from infra.evaluate import evaluate

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access during evaluation: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    evaluation = evaluate("dev")  # Kubeflow's manifests are recorded by URL, never fetched
    assert [r for r in evaluation.resources if r.type == DIRECTORY]


def test_every_resource_type_that_takes_labels_is_checked_for_them(prod: Any) -> None:
    import importlib
    import inspect

    from infra.policies.controls import LABEL_PATHS

    labelable = set()
    for resource in prod.resources:
        package, _, rest = resource.type.partition(":")
        if package != "gcp":
            continue
        module, _, name = rest.partition(":")
        cls = getattr(importlib.import_module(f"pulumi_gcp.{module.split('/')[0]}"), name)
        params = set(inspect.signature(cls._internal_init).parameters)
        if params & {"labels", "user_labels", "resource_labels"} or (
            "settings" in params and resource.type == "gcp:sql/databaseInstance:DatabaseInstance"
        ):
            labelable.add(resource.type)
    assert labelable
    assert labelable <= set(LABEL_PATHS), labelable - set(LABEL_PATHS)


def test_without_cmek_exactly_the_cmek_controls_fail() -> None:
    from infra.audit import audit_report
    from infra.evaluate import evaluate

    evaluation = evaluate("staging", config=stack_config("staging", **{"mlops-kit:cmek": False}))
    assert not resources_of(evaluation, "gcp:kms/cryptoKey:CryptoKey")
    failed = {p["control"] for p in audit_report(evaluation)["policies"] if p["status"] == "FAIL"}
    assert failed == {
        "bigquery-table-cmek",
        "bigquery-dataset-cmek",
        "gke-secrets-encryption",
        "gke-cmek-boot-disks",
    }


def test_ci_deploys_through_federation_not_keys(evaluations: dict[str, Any]) -> None:
    from infra.audit import iam_grants

    provider = one(
        evaluations["prod"], "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
    )
    assert provider.props["attributeCondition"] == "assertion.repository in ['acme/churn-model']"
    ci = [
        g
        for g in iam_grants(evaluations["prod"].resources)
        if g["member"].startswith("principalSet:")
    ]
    assert ci == [
        {
            "member": "principalSet://iam.googleapis.com/projects/123456789012/locations/global/"
            "workloadIdentityPools/mlops-ci/attribute.repository/acme/churn-model",
            "role": "roles/iam.workloadIdentityUser",
            "resource": "service account mlops-deployer@acme-ml-prod.iam.gserviceaccount.com",
            "condition": "",
        }
    ]
    assert not resources_of(evaluations["dev"], "gcp:iam/workloadIdentityPool:WorkloadIdentityPool")
