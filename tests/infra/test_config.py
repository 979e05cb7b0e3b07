"""The stack configuration: read once into a typed object; bad config is one error naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import StackConfigError, parse_config
from tests.infra.conftest import ENVIRONMENTS, stack_config


def parsed(env: str = "prod", **changes: Any) -> Any:
    from infra.config import decode_config_value

    config = stack_config(env, **changes)
    return parse_config({k: decode_config_value(v) for k, v in config.items()}, env)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_stack_file_parses(env: str) -> None:
    config = parsed(env)
    assert config.environment == env
    assert config.labels == {"env": env, "team": "ml-platform", "cost-center": "cc-1234"}


def test_what_differs_between_environments_is_config() -> None:
    dev, prod = parsed("dev"), parsed("prod")
    assert (dev.metadata_db.availability, prod.metadata_db.availability) == ("ZONAL", "REGIONAL")
    assert dev.model_store.force_destroy and not prod.model_store.force_destroy
    assert dev.cluster is not None and prod.cluster is not None
    assert not dev.cluster.deletion_protection and prod.cluster.deletion_protection
    assert dev.kubeflow is not None and dev.kubeflow.database == "in-cluster"


def test_numbers_arrive_as_text_floats_or_ints() -> None:
    store = {"nearlineAfterDays": "10", "coldlineAfterDays": 20.0, "archiveAfterDays": 30}
    config = parsed("staging", **{"mlops-kit:modelStore": store})
    assert (config.model_store.nearline_after_days, config.model_store.coldline_after_days) == (
        10,
        20,
    )


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"gcp:project": None}, "'gcp:project' is missing"),
        ({"gcp:project": "Not_A_Project"}, "'gcp:project'"),
        ({"mlops-kit:orchestrator": "airflow"}, "'mlops-kit:orchestrator' is 'airflow'"),
        ({"mlops-kit:tema": "x"}, "unknown config key 'mlops-kit:tema'"),
        ({"mlops-kit:costCenter": "CC 12"}, "'mlops-kit:costCenter'"),
        ({"mlops-kit:metadataDb": {"availability": "HA"}}, "'mlops-kit:metadataDb.availability'"),
        (
            {"mlops-kit:metadataDb": {"retainedBackups": 3}},
            "'mlops-kit:metadataDb.retainedBackups'",
        ),
        ({"mlops-kit:metadataDb": {"databaseVersion": "MYSQL_8_0"}}, "needs PostgreSQL"),
        (
            {"mlops-kit:metadataDb": {"tier": "db-f1-micro", "tiers": 1}},
            "'mlops-kit:metadataDb.tiers'",
        ),
        ({"mlops-kit:network": {"subnetCidr": "10.0.0.0/33"}}, "'mlops-kit:network.subnetCidr'"),
        (
            {"mlops-kit:network": {"authorizedNetworks": [{"cidr": "0.0.0.0/0", "name": "all"}]}},
            "opens the control plane to the internet",
        ),
        ({"mlops-kit:modelStore": {"forceDestroy": True}}, "only allowed in dev"),
        ({"mlops-kit:modelStore": {"softDeleteDays": 0}}, "'mlops-kit:modelStore.softDeleteDays'"),
        (
            {"mlops-kit:modelStore": {"nearlineAfterDays": 90, "coldlineAfterDays": 30}},
            "must increase",
        ),
        ({"mlops-kit:warehouse": {"readers": ["allUsers"]}}, "'mlops-kit:warehouse.readers'"),
        ({"mlops-kit:warehouse": {"versionTables": ["Bad-Name"]}}, "versionTables"),
        ({"mlops-kit:kubeflow": {"version": "latest"}}, "'mlops-kit:kubeflow.version'"),
        ({"mlops-kit:cluster": {"releaseChannel": "BETA"}}, "'mlops-kit:cluster.releaseChannel'"),
        ({"mlops-kit:budget": None}, "'mlops-kit:budget.billingAccount' is missing"),
        (
            {"mlops-kit:budget": {"billingAccount": "x", "amount": "lots"}},
            "'mlops-kit:budget.amount'",
        ),
        ({"mlops-kit:keyRotationDays": 365}, "'mlops-kit:keyRotationDays'"),
        ({"mlops-kit:notificationEmails": "a@b.c"}, "'mlops-kit:notificationEmails'"),
        (
            {"mlops-kit:budget": {"billingAccount": "x", "amount": 5, "thresholds": "0.9"}},
            "thresholds",
        ),
        ({"mlops-kit:budget": {"billingAccount": "x", "amount": 5, "thresholds": [90]}}, "has 90"),
        ({"mlops-kit:orchestrator": "vertex"}, "'mlops-kit:cluster' applies only to orchestrator"),
        ({"mlops-kit:ciRepositories": ["https://github.com/acme/x"]}, "'mlops-kit:ciRepositories'"),
    ],
)
def test_bad_config_names_the_key(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(StackConfigError) as caught:
        parsed("prod", **changes)
    message = str(caught.value)
    assert key in message
    assert "\n" not in message


def test_stack_name_must_be_a_label_value() -> None:
    from infra.config import decode_config_value

    config = stack_config("prod")
    with pytest.raises(StackConfigError, match="stack name 'Prod'"):
        parse_config({k: decode_config_value(v) for k, v in config.items()}, "Prod")


def test_keys_are_camel_case_in_the_file_and_snake_case_in_code() -> None:
    config = parsed("prod", **{"mlops-kit:metadataDb": {"retained_backups": 9, "diskSizeGb": 30}})
    assert (config.metadata_db.retained_backups, config.metadata_db.disk_size_gb) == (9, 30)
    assert config.model_store.location == "EU"
    assert parsed("dev").model_store.location == "EUROPE-WEST1"  # omitted: the region
    assert parsed("staging").kubeflow.dns_domain == "staging.mlops.internal"


def test_address_plan_is_typed_as_networks() -> None:
    import ipaddress

    network = parsed("prod").network
    assert network.subnet_cidr == ipaddress.IPv4Network("10.50.0.0/20")
    assert network.authorized_networks[0].cidr == ipaddress.IPv4Network("10.200.0.0/24")


@pytest.mark.parametrize(
    "cidr", ["0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "8.8.8.0/24", "35.235.240.0/20"]
)
def test_any_public_range_is_refused_as_an_authorized_network(cidr: str) -> None:
    network = {"authorizedNetworks": [{"cidr": cidr, "name": "wide"}]}
    with pytest.raises(StackConfigError, match="opens the control plane to the internet"):
        parsed("prod", **{"mlops-kit:network": network})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"mlops-kit:modelStore": {"softDeleteDays": True}}, "not true/false"),
        ({"mlops-kit:keyRotationDays": 30.5}, "'mlops-kit:keyRotationDays' is 30.5"),
        ({"mlops-kit:network": {"podsCidr": "8.0.0.0/14"}}, "not an internal range"),
        ({"mlops-kit:network": {"authorizedNetworks": [{"cidr": "10.0.0.0/8"}]}}, "is missing"),
        ({"mlops-kit:labels": {"Owner": "x"}}, "'mlops-kit:labels.Owner' is 'Owner'"),
        ({"mlops-kit:labels": {"owner": "Jane Doe"}}, "'mlops-kit:labels.owner' is 'Jane Doe'"),
        ({"mlops-kit:warehouse": {"readers": "group:a@b.c"}}, "expected a list"),
        ({"mlops-kit:environment": "prod"}, "unknown config key 'mlops-kit:environment'"),
        ({"mlops-kit:budget": {"billingAccount": " ", "amount": 5}}, "budget.billingAccount"),
        (
            {"mlops-kit:budget": {"billingAccount": "x", "amount": 5, "thresholds": []}},
            "thresholds",
        ),
    ],
)
def test_new_validation_names_the_key_and_the_fix(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(StackConfigError) as caught:
        parsed("prod", **changes)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("prefix", "ok"),
    [("ml", True), ("mlops", True), ("a" * 14, True), ("a" * 15, False), ("m", False)],
)
def test_name_prefix_leaves_room_for_service_account_ids(prefix: str, ok: bool) -> None:
    if ok:
        config = parsed("prod", **{"mlops-kit:namePrefix": prefix})
        assert len(f"{config.name_prefix}-pipeline-runner") <= 30
    else:
        with pytest.raises(StackConfigError, match="'mlops-kit:namePrefix'.*at most 30"):
            parsed("prod", **{"mlops-kit:namePrefix": prefix})


def test_outside_dev_the_cluster_needs_google_groups_for_rbac() -> None:
    cluster = {"releaseChannel": "STABLE"}
    with pytest.raises(StackConfigError, match="'mlops-kit:cluster.securityGroup' is missing"):
        parsed("prod", **{"mlops-kit:cluster": cluster})
    assert parsed("dev").cluster.security_group is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"mlops-kit:ciRef": "main"}, "'mlops-kit:ciRef' is 'main': expected a Git ref"),
        ({"mlops-kit:ciGithubEnvironment": "prod env"}, "'mlops-kit:ciGithubEnvironment'"),
    ],
)
def test_ci_restriction_is_checked(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(StackConfigError, match=expected):
        parsed("prod", **changes)
    assert parsed("prod").ci_github_environment == "prod"
    assert parsed("dev").ci_ref == "refs/heads/main"


def test_one_environment_per_project() -> None:
    from infra.config import check_one_environment_per_project, stack_projects
    from tests.infra.conftest import ROOT

    projects = stack_projects(ROOT / "environments")
    assert projects == {"dev": "acme-ml-dev", "prod": "acme-ml-prod", "staging": "acme-ml-staging"}
    check_one_environment_per_project("prod", "acme-ml-prod", projects)
    with pytest.raises(
        StackConfigError, match=r"'gcp:project' is 'acme-ml-dev' in 'qa' and in 'dev'"
    ):
        check_one_environment_per_project("qa", "acme-ml-dev", projects)


def test_evaluation_refuses_a_project_shared_with_another_environment() -> None:
    from infra.evaluate import evaluate

    with pytest.raises(StackConfigError, match="give each environment its own project"):
        evaluate("staging", config=stack_config("staging", **{"gcp:project": "acme-ml-prod"}))


def _vertex(env: str, endpoint: Any = None) -> Any:
    from infra.config import decode_config_value
    from tests.infra.conftest import vertex_config

    changes = {} if endpoint is None else {"mlops-kit:vertexEndpoint": endpoint}
    config = vertex_config(env, **changes)
    return parse_config({k: decode_config_value(v) for k, v in config.items()}, env)


def test_the_endpoint_is_private_outside_dev_and_dedicated_in_dev() -> None:
    assert [_vertex(env).vertex_endpoint.access for env in ENVIRONMENTS] == [
        "dedicated",
        "private-service-connect",
        "private-service-connect",
    ]
    assert _vertex("dev", {"access": "public"}).vertex_endpoint.access == "public"
    endpoint = _vertex(
        "prod", {"projectAllowlist": ["acme-apps-prod"], "predictHost": "10.50.0.9"}
    ).vertex_endpoint
    assert (endpoint.project_allowlist, endpoint.predict_host) == (("acme-apps-prod",), "10.50.0.9")


@pytest.mark.parametrize(
    ("env", "endpoint", "expected"),
    [
        (
            "prod",
            {"access": "public"},
            "config key 'mlops-kit:vertexEndpoint.access' is 'public' in 'prod': prediction "
            "traffic would reach the endpoint over the internet; only dev may use it, set it to "
            "'private-service-connect'",
        ),
        ("staging", {"access": "dedicated"}, "'mlops-kit:vertexEndpoint.access' is 'dedicated'"),
        ("dev", {"access": "grpc"}, "'mlops-kit:vertexEndpoint.access' is 'grpc'"),
        ("prod", {"allowlist": ["a"]}, "unknown config key 'mlops-kit:vertexEndpoint.allowlist'"),
        (
            "prod",
            {"projectAllowlist": ["../../etc"]},
            "config key 'mlops-kit:vertexEndpoint.projectAllowlist' has '../../etc': not a "
            "project id (e.g. acme-ml-dev)",
        ),
        ("prod", {"projectAllowlist": ["<script>x</script>"]}, "has '<script>x</script>'"),
        ("prod", {"projectAllowlist": ["acme'; DROP TABLE x;--"]}, "not a project id"),
        ("prod", {"projectAllowlist": "acme-apps"}, "expected a list such as [a, b]"),
        ("prod", {"predictHost": "10.0.0.1/../admin"}, "'mlops-kit:vertexEndpoint.predictHost'"),
        ("prod", {"predictHost": "<b>host</b>"}, "forwarding rule"),
        (
            "dev",
            {"access": "dedicated", "projectAllowlist": ["acme-apps-dev"]},
            "'mlops-kit:vertexEndpoint.projectAllowlist' applies only to access "
            "'private-service-connect' (this endpoint is 'dedicated'): remove it",
        ),
        ("dev", {"predictHost": "10.0.0.1"}, "'mlops-kit:vertexEndpoint.predictHost' applies only"),
    ],
)
def test_bad_endpoint_config_is_one_line(env: str, endpoint: Any, expected: str) -> None:
    with pytest.raises(StackConfigError) as caught:
        _vertex(env, endpoint)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_a_kubeflow_stack_takes_no_endpoint_section() -> None:
    with pytest.raises(
        StackConfigError,
        match=r"'mlops-kit:vertexEndpoint' applies only to orchestrator 'vertex' \(this stack "
        r"uses 'kubeflow', which serves on its cluster\): remove it",
    ):
        parsed("prod", **{"mlops-kit:vertexEndpoint": {"access": "dedicated"}})
