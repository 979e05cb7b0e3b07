"""The program of every environment, evaluated under mocks: what it creates, exports and enforces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import (
    ENVIRONMENTS,
    imported_environment,
    one,
    resources_of,
    stack_config,
)

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
    failing = [
        (p["control"], v)
        for p in report["policies"]
        if p["status"] == "FAIL"
        for v in p["violations"]
    ]
    assert failing == []
    # The committed lock holds no digest yet (they are resolved online): KFP's images run by tag,
    # which the advisory control reports without failing.
    warned = {p["control"] for p in report["policies"] if p["status"] == "warn"}
    assert warned == {"k8s-images-by-digest"}
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
    env = imported_environment(evaluations["prod"], tmp_path)
    assert env.warehouse == "bigquery://acme-ml-prod/mlops_prod"
    assert env.artifacts == "gs://acme-ml-prod-mlops-models/models"
    assert env.metadata == (
        "cloudsql://acme-ml-prod:europe-west1:mlops-prod-metadata/mlops"
        "?iam_user=mlops-pipeline-runner@acme-ml-prod.iam"
    )
    # IAP in front of KFP: the kit sends ID tokens for the OAuth client's audience.
    assert env.orchestrator == (
        "kfp+https://kfp.prod.mlops.internal"
        "?audience=987654321098-kfpprodexample.apps.googleusercontent.com"
    )
    assert env.prediction_log_table == "acme-ml-prod.mlops_prod_monitoring.prediction_log"
    assert env.pipeline_root == "gs://acme-ml-prod-mlops-models/pipeline-root"
    assert env.service_accounts["serving"] == "mlops-serving@acme-ml-prod.iam.gserviceaccount.com"
    assert env.labels["cost-center"] == "cc-1234"
    # The serving Gateway's reserved address: the deploy target says where an alias is served.
    assert env.deploy == (
        "gke://acme-ml-prod/europe-west1/mlops-prod-gke/serving?service_account=model-server"
        "&url=http://10.99.1.10"
    )


def test_vertex_environment_creates_no_cluster_and_imports(vertex: Any) -> None:
    from infra.audit import audit_report
    from mlops_kit.environments import StackOutputs

    types = {r.type for r in vertex.resources}
    assert CLUSTER not in types and DIRECTORY not in types
    assert any(r.props.get("service") == "aiplatform.googleapis.com" for r in vertex.resources)
    assert audit_report(vertex)["summary"]["violations"] == 0
    assert set(vertex.outputs) == set(StackOutputs.model_fields)
    environment = StackOutputs.model_validate(vertex.outputs).to_environment("staging")
    assert environment.orchestrator == "vertex://acme-ml-staging/europe-west1"
    assert environment.registry_mirror == "vertex://acme-ml-staging/europe-west1"
    # The stack's own endpoint, by the id Vertex AI gave it.
    endpoint = vertex.outputs["vertex_endpoint"]
    assert endpoint.isdigit()
    assert environment.deploy == f"vertex-endpoint://acme-ml-staging/europe-west1/{endpoint}"


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
        "service account mlops-serving@acme-ml-prod.iam.gserviceaccount.com",
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
    import yaml

    from infra.components.kubeflow_manifests import RELEASES

    def resources(env: str) -> list[str]:
        found = []
        for directory in resources_of(evaluations[env], DIRECTORY):
            path = Path(directory.props["directory"]) / "kustomization.yaml"
            found += yaml.safe_load(path.read_text(encoding="utf-8"))["resources"]
        return found

    # A local overlay per environment, whose bases are KFP's manifests at the release's commit.
    assert all(r.endswith(f"?ref={RELEASES['2.5.0']}") for r in resources("prod"))
    assert any("/env/platform-agnostic?" in r for r in resources("dev"))
    assert not any("platform-agnostic" in r or "inverse-proxy" in r for r in resources("prod"))
    mysql = one(evaluations["prod"], SQL, "kfp").props
    assert mysql["databaseVersion"].startswith("MYSQL")
    assert mysql["rootPassword"] == "[secret]"  # generated (CIS GCP 6.1.1)
    assert not [r for r in resources_of(evaluations["dev"], SQL) if "kfp" in r.name]
    namespace = one(evaluations["prod"], "kubernetes:core/v1:Namespace", "kubeflow").props
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    # Nothing exposes KFP but the IAP Gateway (an internal Application Load Balancer).
    assert not [
        r
        for r in resources_of(evaluations["prod"], "kubernetes:core/v1:Service")
        if r.props.get("spec", {}).get("type") in ("LoadBalancer", "NodePort")
    ]
    zone = one(evaluations["prod"], "gcp:dns/managedZone:ManagedZone").props
    assert zone["visibility"] == "private"


def _applied(evaluation: Any, kind: str, name: str) -> Any:
    [found] = [
        r.props
        for r in evaluation.resources
        if r.type.endswith(f":{kind}") and r.props.get("metadata", {}).get("name") == name
    ]
    return found


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_artifacts_go_to_the_gcs_pipeline_root_through_kfp_launcher(
    evaluations: dict[str, Any], env: str
) -> None:
    evaluation = evaluations[env]
    root = evaluation.outputs["pipeline_root"]
    # kfp-launcher is what the v2 launcher reads. The manifests fill it from
    # pipeline-install-config inside their base, before the overlay: the overlay sets both.
    launcher = _applied(evaluation, "ConfigMap", "kfp-launcher")
    assert launcher["data"]["defaultPipelineRoot"] == root
    assert launcher["metadata"]["namespace"] == "kubeflow"
    install = _applied(evaluation, "ConfigMap", "pipeline-install-config")
    assert install["data"]["defaultPipelineRoot"] == root
    assert root.startswith("gs://")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_kubernetes_object_has_one_owner(evaluations: dict[str, Any], env: str) -> None:
    evaluation = evaluations[env]
    patches = [r for r in evaluation.resources if r.type.endswith("Patch")]
    assert patches == []  # nothing patches what the manifests apply
    owners: dict[tuple[str, str, str], list[str]] = {}
    for r in evaluation.resources:
        if r.type.startswith("kubernetes:") and r.type != DIRECTORY:
            metadata = r.props.get("metadata", {})
            key = (r.type.rsplit(":", 1)[-1], metadata.get("namespace", ""), metadata.get("name"))
            owners.setdefault(key, []).append(r.name)
    assert {key: names for key, names in owners.items() if len(names) > 1} == {}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_minio_stays_only_with_generated_credentials(evaluations: dict[str, Any], env: str) -> None:
    evaluation = evaluations[env]
    secret = _applied(evaluation, "Secret", "mlpipeline-minio-artifact")
    assert secret["stringData"] == "[secret]"  # generated, never in the program's text
    assert "minio123" not in json.dumps([r.props for r in evaluation.resources])


def test_pipeline_pods_run_in_the_sandbox_pool(prod: Any) -> None:
    import yaml

    config = _applied(prod, "ConfigMap", "workflow-controller-configmap")
    defaults = yaml.safe_load(config["data"]["workflowDefaults"])["spec"]
    assert defaults["nodeSelector"] == {"cloud.google.com/gke-nodepool": "pipelines"}
    assert {"key": "sandbox.gke.io/runtime", "value": "gvisor"}.items() <= defaults["tolerations"][
        0
    ].items()
    assert json.loads(defaults["podSpecPatch"]) == {"runtimeClassName": "gvisor"}
    pool = one(prod, "gcp:container/nodePool:NodePool", "pipelines").props
    assert pool["nodeConfig"]["sandboxConfig"]["type"] == "GVISOR"


def test_the_control_plane_reaches_the_cache_webhook(prod: Any) -> None:
    rule = one(prod, "gcp:compute/firewall:Firewall", "cache-webhook").props
    assert rule["sourceRanges"] == ["172.16.0.32/28"]
    assert rule["allows"] == [{"protocol": "tcp", "ports": ["8443"]}]


def test_the_audit_lists_the_objects_the_kfp_install_applies(prod: Any) -> None:
    from infra.audit import audit_report

    objects = audit_report(prod)["kubernetes"]
    api = next(o for o in objects if o["kind"] == "Deployment" and o["name"] == "ml-pipeline")
    assert api["namespace"] == "kubeflow"
    assert api["applied_by"] == "mlops-prod-kfp-install"
    assert api["images"] == ["ghcr.io/kubeflow/kfp-api-server:2.5.0"]
    assert api["digests"] is False
    assert len([o for o in objects if o["applied_by"] != "program"]) > 60


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
    # The attestor's signing key remains, in a key ring of its own: no key encrypts data.
    [key] = resources_of(evaluation, "gcp:kms/cryptoKey:CryptoKey")
    assert key.props["purpose"] == "ASYMMETRIC_SIGN"
    [ring] = resources_of(evaluation, "gcp:kms/keyRing:KeyRing")
    assert key.props["keyRing"].endswith(f"/keyRings/{ring.props['name']}")
    failed = {p["control"] for p in audit_report(evaluation)["policies"] if p["status"] == "FAIL"}
    assert failed == {
        "artifact-registry-cmek",
        "bigquery-table-cmek",
        "bigquery-dataset-cmek",
        "gke-secrets-encryption",
        "gke-cmek-boot-disks",
        "gcs-cmek",
        "sql-cmek",
    }


def test_ci_deploys_through_federation_not_keys(evaluations: dict[str, Any]) -> None:
    from infra.audit import iam_grants

    provider = one(
        evaluations["prod"], "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
    )
    assert provider.props["attributeCondition"] == (
        "assertion.repository in ['acme/churn-model'] && assertion.environment == 'prod'"
    )
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


def test_network_policies_let_the_clients_and_the_control_plane_in(prod: Any) -> None:
    def peers(name: str) -> tuple[dict[str, str], list[str], list[Any]]:
        spec = one(prod, "kubernetes:networking.k8s.io/v1:NetworkPolicy", name).props["spec"]
        [rule] = spec["ingress"]
        cidrs = [peer["ipBlock"]["cidr"] for peer in rule["from"]]
        return spec["podSelector"]["matchLabels"], cidrs, [p["port"] for p in rule["ports"]]

    # The load balancer's proxies (proxy-only subnet) and Google's health checkers reach the UI
    # and the API; nothing else from outside the namespace does.
    load_balancer = ["10.129.0.0/23", "35.191.0.0/16", "130.211.0.0/22"]
    assert peers("ml-pipeline-ui-load-balancer") == (
        {"app": "ml-pipeline-ui"},
        load_balancer,
        [3000],
    )
    assert peers("ml-pipeline-load-balancer") == ({"app": "ml-pipeline"}, load_balancer, [8888])
    assert peers("cache-webhook") == ({"app": "cache-server"}, ["172.16.0.32/28"], [8443])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_binary_authorization_admits_every_image_the_install_runs(
    evaluations: dict[str, Any], env: str
) -> None:
    from infra.kubeflow_inventory import images

    evaluation = evaluations[env]
    policy = one(evaluation, "gcp:binaryauthorization/policy:Policy").props
    patterns = [p["namePattern"] for p in policy["admissionWhitelistPatterns"]]

    def admitted(image: str) -> bool:
        name = image.split("@", 1)[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
        return any(name.startswith(p[:-1]) and "/" not in name[len(p) - 1 :] for p in patterns)

    running = {image for r in evaluation.resources for image in images(r.props)}
    assert running
    assert sorted(image for image in running if not admitted(image)) == []


def test_the_kfp_gateway_serves_https_with_the_private_ca_certificate(prod: Any) -> None:
    from infra.components.kfp_access import ROTATION_WINDOW_PERCENTAGE

    host = "kfp.prod.mlops.internal"
    gateway = one(prod, "kubernetes:gateway.networking.k8s.io/v1:Gateway", "kfp-access").props[
        "spec"
    ]
    # The internal Application Load Balancer: one HTTPS listener that terminates TLS with the
    # regional Certificate Manager certificate, named as the listener's GKE option.
    assert gateway["gatewayClassName"] == "gke-l7-rilb"
    [listener] = gateway["listeners"]
    assert (listener["protocol"], listener["port"], listener["hostname"]) == ("HTTPS", 443, host)
    certificate = one(prod, "gcp:certificatemanager/certificate:Certificate").props
    assert listener["tls"] == {
        "mode": "Terminate",
        "options": {"networking.gke.io/cert-manager-certs": certificate["name"]},
    }
    address = one(prod, "gcp:compute/address:Address", "kfp-ui").props
    assert gateway["addresses"] == [{"type": "NamedAddress", "value": address["name"]}]
    # The certificate names the host and is issued by the private CA, all in the Gateway's region
    # (a regional load balancer takes regional certificates only).
    issuance = one(
        prod, "gcp:certificatemanager/certificateIssuanceConfig:CertificateIssuanceConfig"
    )
    pool = one(prod, "gcp:certificateauthority/caPool:CaPool")
    authority = one(prod, "gcp:certificateauthority/authority:Authority").props
    assert certificate["managed"] == {"domains": [host], "issuanceConfig": f"{issuance.name}-id"}
    assert (
        certificate["location"]
        == issuance.props["location"]
        == pool.props["location"]
        == authority["location"]
        == address["region"]
    )
    ca_pool = issuance.props["certificateAuthorityConfig"]["certificateAuthorityServiceConfig"]
    assert ca_pool == {"caPool": f"{pool.name}-id"}
    assert (authority["pool"], authority["type"]) == (pool.props["name"], "SELF_SIGNED")
    assert authority["config"]["x509Config"]["caOptions"]["isCa"] is True
    lifetime_days = int(issuance.props["lifetime"].rstrip("s")) / 86400
    assert 21 <= lifetime_days <= 30
    renewal_day = lifetime_days * ROTATION_WINDOW_PERCENTAGE / 100
    assert renewal_day >= 7 and lifetime_days - renewal_day >= 7
    # Certificate Manager's agent may request certificates from the pool.
    requester = one(prod, "gcp:certificateauthority/caPoolIamMember:CaPoolIamMember").props
    assert requester["caPool"] == f"{pool.name}-id"
    assert requester["role"] == "roles/privateca.certificateRequester"
    assert requester["member"].endswith("@gcp-sa-certificatemanager.iam.gserviceaccount.com")
    # Clients find the Gateway by the certificate's name, and the route answers that name only.
    record = one(prod, "gcp:dns/recordSet:RecordSet", "kfp-ui").props
    assert record["name"] == f"{host}."
    route = one(prod, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").props["spec"]
    assert route["hostnames"] == [host] and route["parentRefs"] == [{"name": "kfp"}]


def test_iap_admits_the_accessors_on_the_regional_backends_of_the_kfp_host(prod: Any) -> None:
    # The load balancer's backend services are regional (iap_web/compute-REGION): a grant on the
    # "compute" web type (the global backend services) would not reach them; one on iap_web does.
    assert not resources_of(prod, "gcp:iap/webTypeComputeIamMember:WebTypeComputeIamMember")
    grants = resources_of(prod, "gcp:iap/webIamMember:WebIamMember")
    assert {g.props["member"].split(":")[0] for g in grants} == {"serviceAccount", "group"}
    for grant in grants:
        assert grant.props["role"] == "roles/iap.httpsResourceAccessor"
        assert grant.props["condition"]["expression"] == 'request.host == "kfp.prod.mlops.internal"'
    from infra.audit import iam_grants

    listed = [
        g for g in iam_grants(prod.resources) if g["role"] == "roles/iap.httpsResourceAccessor"
    ]
    assert len(listed) == len(grants) == 3
    assert {g["resource"] for g in listed} == {"IAP web resources of acme-ml-prod"}
