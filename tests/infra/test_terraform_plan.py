"""The Terraform plan export: the plan format's structure, every inventory resource, references."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import ENVIRONMENTS

pytestmark = pytest.mark.pulumi


@pytest.fixture(scope="session")
def plans(evaluations: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from infra.terraform_plan import export_plan

    return {env: export_plan(evaluation) for env, evaluation in evaluations.items()}


def by_address(plan: dict[str, Any], section: str = "planned") -> dict[str, dict[str, Any]]:
    resources = {
        "planned": plan["planned_values"]["root_module"]["resources"],
        "changes": plan["resource_changes"],
        "configuration": plan["configuration"]["root_module"]["resources"],
    }[section]
    return {r["address"]: r for r in resources}


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, leaf) of every scalar; empty objects and lists are leaves too."""
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def terraform_leaves(tf_type: str, inputs: Any, path: str = "", key: str = "") -> Iterator[Any]:
    """The inventory's leaves at the paths Terraform gives them: objects become one-block lists."""
    from infra.terraform_plan import MAP_ATTRIBUTES, attribute_renames

    renames = attribute_renames(tf_type)
    if isinstance(inputs, Mapping) and inputs and key not in MAP_ATTRIBUTES:
        prefix = f"{path}[0]" if path and not path.endswith("]") else path
        for k, item in inputs.items():
            name = renames.get(k, k)
            yield from terraform_leaves(tf_type, item, f"{prefix}.{name}" if prefix else name, k)
    elif isinstance(inputs, list) and inputs:
        for index, item in enumerate(inputs):
            yield from terraform_leaves(tf_type, item, f"{path}[{index}]", key)
    elif isinstance(inputs, Mapping) and inputs:
        yield from ((f"{path}.{k}", v) for k, v in inputs.items())
    else:
        yield path, inputs


def with_secrets(values: Any, marks: Any, secret: str) -> Any:
    """``values`` with the redaction marker back where ``marks`` says a secret was."""
    if marks is True:
        return secret
    if isinstance(values, Mapping):
        marks = marks if isinstance(marks, Mapping) else {}
        return {k: with_secrets(v, marks.get(k), secret) for k, v in values.items()}
    if isinstance(values, list):
        marks = marks if isinstance(marks, list) else []
        return [
            with_secrets(v, marks[i] if i < len(marks) else None, secret)
            for i, v in enumerate(values)
        ]
    return values


def mark_at(marks: Any, path: str) -> Any:
    import re

    value = marks
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            value = value[index] if isinstance(value, list) and index < len(value) else None
        else:
            value = value.get(part) if isinstance(value, Mapping) else None
    return value


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_export_has_the_structure_scanners_read(plans: dict[str, Any], env: str) -> None:
    import jsonschema

    from infra.terraform_plan import SCHEMA_FILE

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(plans[env])
    for section in ("planned", "changes", "configuration"):
        for address, resource in by_address(plans[env], section).items():
            assert address == f"{resource['type']}.{resource['name']}"
    assert set(by_address(plans[env])) == set(by_address(plans[env], "changes"))
    assert set(by_address(plans[env])) == set(by_address(plans[env], "configuration"))


def test_the_schema_rejects_what_scanners_cannot_read(plans: dict[str, Any]) -> None:
    import copy

    import jsonschema

    from infra.terraform_plan import SCHEMA_FILE

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    broken = copy.deepcopy(plans["dev"])
    broken["planned_values"]["root_module"]["resources"][0]["type"] = "gcp:compute/network:Network"
    assert not validator.is_valid(broken)
    broken = copy.deepcopy(plans["dev"])
    del broken["format_version"]
    assert not validator.is_valid(broken)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_inventory_resource_round_trips(
    evaluations: dict[str, Any], plans: dict[str, Any], env: str
) -> None:
    """Each resource is at its address with each input at Terraform's path, or marked there."""
    from infra.audit import inventory
    from infra.evaluate import MOCK_PROJECT_NUMBER, to_snake
    from infra.terraform_plan import SECRET, terraform_name, terraform_type

    planned, changes = by_address(plans[env]), by_address(plans[env], "changes")
    providers = plans[env]["configuration"]["provider_config"]
    items = inventory(evaluations[env])
    assert len(planned) == len([i for i in items if not i["type"].startswith("pulumi:providers:")])
    for item in items:
        if item["type"].startswith("pulumi:providers:"):
            key = (
                "kubernetes"
                if item["type"] == "pulumi:providers:kubernetes"
                else f"google.{terraform_name(item['name'])}"
            )
            expressions = providers[key]["expressions"]
            known = {k: v for k, v in item["inputs"].items() if v != SECRET}
            assert {k: e["constant_value"] for k, e in expressions.items()} == known
            continue
        tf_type = terraform_type(item["type"])
        address = f"{tf_type}.{terraform_name(item['name'], item['type'])}"
        values = planned[address]["values"]
        change = changes[address]["change"]
        if tf_type == "kubernetes_manifest":
            manifest = with_secrets(values, change["after_sensitive"], SECRET)["manifest"]
            assert to_snake(manifest) == item["inputs"], address
            continue
        if tf_type == "terraform_data":
            assert values["input"] == item["inputs"], address
            continue
        exported = dict(leaves(values))
        expected = dict(terraform_leaves(tf_type, item["inputs"]))
        for path, value in expected.items():
            if value == SECRET:
                assert mark_at(change["after_sensitive"], path) is True, (address, path)
                assert exported.get(path) is None, (address, path)
            elif isinstance(value, str) and MOCK_PROJECT_NUMBER in value:
                assert mark_at(change["after_unknown"], path) is True, (address, path)
            else:
                assert exported.get(path, "missing") == value, (address, path)
        assert set(exported) <= set(expected), (address, set(exported) - set(expected))


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("gcp:compute/routerNat:RouterNat", "google_compute_router_nat"),
        ("gcp:projects/iAMMember:IAMMember", "google_project_iam_member"),
        ("gcp:projects/iAMAuditConfig:IAMAuditConfig", "google_project_iam_audit_config"),
        ("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "google_kms_crypto_key_iam_member"),
        ("gcp:serviceaccount/account:Account", "google_service_account"),
        ("gcp:serviceaccount/iAMMember:IAMMember", "google_service_account_iam_member"),
        ("gcp:servicenetworking/connection:Connection", "google_service_networking_connection"),
        ("gcp:sql/databaseInstance:DatabaseInstance", "google_sql_database_instance"),
        (
            "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider",
            "google_iam_workload_identity_pool_provider",
        ),
        ("kubernetes:apps/v1:Deployment", "kubernetes_manifest"),
        ("kubernetes:core/v1:ConfigMapPatch", "kubernetes_manifest"),
        ("kubernetes:kustomize/v2:Directory", "terraform_data"),
    ],
)
def test_pulumi_type_tokens_map_to_terraform_types(token: str, expected: str) -> None:
    from infra.terraform_plan import terraform_type

    assert terraform_type(token) == expected


def test_a_type_of_another_package_is_an_error() -> None:
    from infra.terraform_plan import ExportError, terraform_type

    with pytest.raises(ExportError, match="aws:s3/bucket:Bucket"):
        terraform_type("aws:s3/bucket:Bucket")
    assert terraform_type("random:index/randomPassword:RandomPassword") == "random_password"


# Lists whose Terraform name is the pulumi-gcp name (Terraform's own name is plural, or the
# attribute is a list of scalars with a plural name). Every other list is renamed by the export.
SAME_NAME_LISTS = {
    "monitoring_notification_channels", "projects", "threshold_rules", "ports", "source_ranges",
    "cidr_blocks", "oauth_scopes", "networks", "rrdatas", "aggregations", "conditions",
    "notification_channels", "reserved_peering_ranges", "database_flags", "database_roles",
    "cleanup_policies", "upstream_policies",
    "admission_whitelist_patterns", "public_keys", "permissions", "domains",
}  # fmt: skip


def test_every_list_has_a_decided_terraform_name(evaluations: dict[str, Any]) -> None:
    """A new list attribute makes this fail until its Terraform name is known (plural or not)."""
    from infra.audit import inventory
    from infra.terraform_plan import MAP_ATTRIBUTES, TERRAFORM_NAMES

    renamed = {name for names in TERRAFORM_NAMES.values() for name in names}

    def lists(value: Any) -> Iterator[str]:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key in MAP_ATTRIBUTES:
                    continue
                if isinstance(item, list):
                    yield key
                yield from lists(item)
        elif isinstance(value, list):
            for item in value:
                yield from lists(item)

    found = {
        key
        for evaluation in evaluations.values()
        for item in inventory(evaluation)
        if item["type"].startswith("gcp:")
        for key in lists(item["inputs"])
    }
    assert found - renamed - SAME_NAME_LISTS == set()


def test_references_name_the_resources_a_value_comes_from(plans: dict[str, Any]) -> None:
    config = by_address(plans["prod"], "configuration")
    firewall = config["google_compute_firewall.mlops-prod-allow-iap-ssh"]["expressions"]
    assert firewall["network"]["references"] == [
        "google_compute_network.mlops-prod-vpc.id",
        "google_compute_network.mlops-prod-vpc",
    ]
    bucket = config["google_storage_bucket.mlops-prod-models-bucket"]["expressions"]
    assert bucket["encryption"][0]["default_kms_key_name"]["references"] == [
        "google_kms_crypto_key.mlops-prod-storage.id",
        "google_kms_crypto_key.mlops-prod-storage",
    ]
    sink = config["google_logging_project_sink.mlops-prod-audit-sink"]["expressions"]
    assert (
        sink["destination"]["references"][0] == "google_storage_bucket.mlops-prod-audit-bucket.name"
    )
    grant = config["google_storage_bucket_iam_member.mlops-prod-models-deployer"]["expressions"]
    assert set(grant["member"]["references"]) == {
        "google_service_account.mlops-deployer.member",
        "google_service_account.mlops-deployer",
    }
    assert grant["role"] == {"constant_value": "roles/storage.objectViewer"}


def test_values_the_cloud_computes_are_unknown(plans: dict[str, Any]) -> None:
    planned, changes = by_address(plans["prod"]), by_address(plans["prod"], "changes")
    account = "google_service_account.mlops-deployer"
    assert {"email", "member", "unique_id", "id"} <= set(
        changes[account]["change"]["after_unknown"]
    )
    assert "email" not in planned[account]["values"]
    instance = changes["google_sql_database_instance.mlops-prod-metadata-instance"]["change"]
    assert instance["after_unknown"]["connection_name"] is True
    assert instance["after_unknown"]["ip_address"] is True  # Terraform's name, not Pulumi's
    budget = changes["google_billing_budget.mlops-prod-budget"]["change"]
    assert budget["after_unknown"]["budget_filter"] == [{"projects": [True]}]


def test_secrets_are_marked_and_never_written(plans: dict[str, Any]) -> None:
    text = json.dumps(plans["prod"])
    assert "[secret]" not in text
    secret = "kubeconfig"
    assert (
        secret not in plans["prod"]["configuration"]["provider_config"]["kubernetes"]["expressions"]
    )
    changes = by_address(plans["prod"], "changes")
    patch = changes["kubernetes_manifest.mlops-prod-kfp-mysql-secret_secret"]["change"]
    assert patch["after_sensitive"] == {"manifest": {"stringData": True}}
    assert patch["after"]["manifest"]["stringData"] is None


def test_export_through_the_cli_writes_the_plan(run_cli: Any, tmp_path: Path) -> None:
    from tests.infra.conftest import ROOT

    target = tmp_path / "plan.json"
    args = (
        "infra",
        "export",
        "--env",
        "dev",
        "--format",
        "terraform-plan",
        "--project-dir",
        str(ROOT),
    )
    result = run_cli(*args, "-o", str(target))
    assert result.exit_code == 0, result.stderr
    plan = json.loads(target.read_text(encoding="utf-8"))
    assert plan["format_version"] == "1.2"
    assert f"Terraform plan of {len(plan['resource_changes'])} resources" in result.stdout
    missing = run_cli(*args, "-o", str(tmp_path / "absent" / "plan.json"))
    assert missing.exit_code != 0 and missing.stderr.count("\n") == 1
    assert "no directory" in missing.stderr and not (tmp_path / "absent").exists()
    unknown = run_cli("infra", "export", "--env", "qa", "--project-dir", str(ROOT))
    assert unknown.exit_code != 0 and "unknown environment 'qa'" in unknown.stderr


def test_a_psc_endpoint_keeps_terraform_s_names() -> None:
    from infra.audit import inventory
    from infra.evaluate import evaluate
    from infra.terraform_plan import terraform_values
    from tests.infra.conftest import vertex_config

    evaluation = evaluate("prod", config=vertex_config("prod"))
    [inputs] = [
        item["inputs"]
        for item in inventory(evaluation)
        if item["type"] == "gcp:vertex/aiEndpoint:AiEndpoint"
    ]
    values = terraform_values("google_vertex_ai_endpoint", inputs)
    assert values["private_service_connect_config"] == [
        {"enable_private_service_connect": True, "project_allowlist": ["acme-ml-prod"]}
    ]
