"""The environment's program: one component per concern, composed from the typed configuration.

The body is a function so that tests and the offline audit can install Pulumi mocks and config
first, then evaluate it; ``__main__`` exports what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_gcp import monitoring, organizations, projects

from infra.components.artifact_registry import ArtifactRegistry, ArtifactRegistryArgs
from infra.components.attestation import Attestation, AttestationArgs
from infra.components.audit_logging import AuditLogging, AuditLoggingArgs
from infra.components.budget import Budget, BudgetArgs
from infra.components.cluster import PIPELINE_POOL, Cluster, ClusterArgs
from infra.components.encryption import Encryption, EncryptionArgs, kms_location
from infra.components.identity import (
    KUBERNETES_SERVICE_ACCOUNTS,
    Identity,
    IdentityArgs,
    account_email,
)
from infra.components.kubeflow import KFP_SYSTEM_KSA, Kubeflow, KubeflowArgs
from infra.components.kubeflow_manifests import OverlaySettings, locked_digests
from infra.components.metadata_db import MetadataDb, MetadataDbArgs, PrivateInstanceArgs
from infra.components.model_store import ModelStore, ModelStoreArgs
from infra.components.network import Network, NetworkArgs
from infra.components.serving import Serving, ServingArgs
from infra.components.vertex_endpoint import VertexEndpoint, VertexEndpointArgs
from infra.components.warehouse import Warehouse, WarehouseArgs
from infra.config import StackConfig

MODEL_STORE_PREFIX = "models"
KUBEFLOW_NAMESPACE = "kubeflow"
SERVING_NAMESPACE = "serving"
SERVING_KSA = "model-server"
PIPELINE_ROOT_PREFIX = "pipeline-root"
APIS = (
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "billingbudgets.googleapis.com",
    "cloudasset.googleapis.com",  # CIS GCP 2.13: Cloud Asset Inventory
    "cloudkms.googleapis.com",
    "cloudresourcemanager.googleapis.com",  # project IAM bindings
    "compute.googleapis.com",
    "containerscanning.googleapis.com",  # vulnerability scanning of pushed images
    "dns.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
)
ORCHESTRATOR_APIS = {
    "kubeflow": (
        "binaryauthorization.googleapis.com",
        "container.googleapis.com",
        "containeranalysis.googleapis.com",  # CIS GKE 5.1.1: image vulnerability scanning
        # Identity-Aware Proxy in front of KFP, its certificate from a private CA, and the OAuth
        # client's secret.
        "certificatemanager.googleapis.com",
        "iap.googleapis.com",
        "privateca.googleapis.com",
        "secretmanager.googleapis.com",
    ),
    "vertex": ("aiplatform.googleapis.com",),
}


def program(config: StackConfig) -> dict[str, Any]:
    """Declare every resource of one environment and return its stack outputs.

    The returned keys are exactly those of ``mlops_kit.environments.StackOutputs`` (what
    ``mlops-kit env import`` reads).
    """
    labels = config.labels
    base = f"{config.name_prefix}-{config.environment}"
    apis = [
        projects.Service(
            f"api-{api.split('.')[0]}",
            project=config.project,
            service=api,
            # Other workloads of the project may use the API too: never disable it on destroy.
            disable_on_destroy=False,
        )
        for api in (*APIS, *ORCHESTRATOR_APIS[config.orchestrator])
    ]
    # Every component waits for the APIs: on a new project they are enabled first.
    after_apis = pulumi.ResourceOptions(depends_on=apis)
    project_number = organizations.get_project_output(project_id=config.project).number
    channels = [
        monitoring.NotificationChannel(
            f"{base}-notify-{index}",
            display_name=f"mlops-kit {config.environment}: {email}",
            type="email",
            labels={"email_address": email},
            user_labels=labels,
            opts=after_apis,
        ).id
        for index, email in enumerate(config.notification_emails)
    ]

    # Customer-managed keys unless the stack opts out (then CIS 7.2/7.3 and GKE 5.3.1/5.9.2 fail).
    keys: dict[str, pulumi.Output[str]] = {}
    key_rings: dict[str, pulumi.Output[str]] = {}
    if config.cmek:
        encryption = Encryption(
            base,
            EncryptionArgs(
                project=config.project,
                locations={
                    "bigquery": config.warehouse.location,
                    "storage": config.model_store.location,
                    "sql": config.region,
                    "artifacts": config.region,
                    **(
                        {"gke": config.region, "disks": config.region}
                        if config.orchestrator == "kubeflow"
                        else {"vertex": config.region}
                    ),
                },
                rotation_days=config.key_rotation_days,
                labels=labels,
            ),
            opts=after_apis,
        )
        keys, key_rings = encryption.keys, encryption.key_rings
    network = Network(
        base,
        NetworkArgs(
            region=config.region,
            subnet_cidr=str(config.network.subnet_cidr),
            pods_cidr=str(config.network.pods_cidr),
            services_cidr=str(config.network.services_cidr),
            private_service_prefix_length=config.network.private_service_prefix_length,
            # KFP's internal Application Load Balancer needs the region's proxy-only subnet.
            proxy_only_cidr=(
                str(config.network.proxy_only_cidr) if config.orchestrator == "kubeflow" else None
            ),
            labels=labels,
        ),
        opts=after_apis,
    )
    identity = Identity(
        config.name_prefix,
        IdentityArgs(
            project=config.project,
            prefix=config.name_prefix,
            orchestrator=config.orchestrator,
            project_number=project_number,
            ci_repositories=config.ci_repositories,
            ci_ref=config.ci_ref,
            ci_github_environment=config.ci_github_environment,
        ),
        opts=after_apis,
    )
    emails = identity.emails
    warehouse = Warehouse(
        base,
        WarehouseArgs(
            project=config.project,
            dataset_id=base.replace("-", "_"),
            location=config.warehouse.location,
            writers=[emails["pipeline_runner"]],
            log_writers=[emails["serving"]],
            readers=config.warehouse.readers,
            version_tables=config.warehouse.version_tables,
            kms_key=keys.get("bigquery"),
            time_travel_hours=config.warehouse.time_travel_hours,
            labels=labels,
        ),
        opts=after_apis,
    )
    bucket_grants: dict[str, tuple[pulumi.Input[str], str]] = {
        "pipeline-runner": (identity.member("pipeline_runner"), "roles/storage.objectUser"),
        "deployer": (identity.member("deployer"), "roles/storage.objectViewer"),
        "serving": (identity.member("serving"), "roles/storage.objectViewer"),
    }
    if config.orchestrator == "kubeflow":
        # KFP's UI previews artifacts; pipeline steps write them as the pipeline runner.
        bucket_grants["kfp"] = (identity.member("kfp"), "roles/storage.objectViewer")
    store = config.model_store
    model_store = ModelStore(
        f"{base}-models",
        ModelStoreArgs(
            bucket_name=f"{config.project}-{config.name_prefix}-models",
            location=store.location,
            grants=bucket_grants,
            nearline_after_days=store.nearline_after_days,
            coldline_after_days=store.coldline_after_days,
            archive_after_days=store.archive_after_days,
            noncurrent_versions_kept=store.noncurrent_versions_kept,
            noncurrent_days_kept=store.noncurrent_days_kept,
            soft_delete_days=store.soft_delete_days,
            object_retention=store.object_retention,
            force_destroy=store.force_destroy,
            kms_key=keys.get("storage"),
            labels=labels,
        ),
        opts=after_apis,
    )
    db = config.metadata_db
    metadata = MetadataDb(
        f"{base}-metadata",
        MetadataDbArgs(
            project=config.project,
            instance=_private_instance(
                config, "metadata", db.database_version, db.tier, network, keys, db.disk_size_gb
            ),
            iam_users={w: emails[w] for w in ("pipeline_runner", "deployer", "serving")},
        ),
        opts=after_apis,
    )
    pipeline_root = model_store.url.apply(lambda url: f"{url}/{PIPELINE_ROOT_PREFIX}")

    kfp_host: pulumi.Output[str] | None = None
    attestation: Attestation | None = None
    serving_cluster: pulumi.Output[str] | None = None
    serving_url: pulumi.Output[str] | None = None
    kfp_audience: str | None = None
    if config.cluster is not None and config.kubeflow is not None:
        gke = config.cluster
        # Binary Authorization guards the cluster: CI attests what it built, the policy requires it.
        attestation = Attestation(
            base,
            AttestationArgs(
                project=config.project,
                region=config.region,
                signers={"deployer": identity.member("deployer")},
                key_ring=key_rings.get(kms_location(config.region)),
                labels=labels,
            ),
            opts=after_apis,
        )
        cluster = Cluster(
            base,
            ClusterArgs(
                project=config.project,
                region=config.region,
                network=network.network_self_link,
                subnet=network.subnet_self_link,
                pods_range=network.pods_range_name,
                services_range=network.services_range_name,
                control_plane_cidr=str(config.network.control_plane_cidr),
                # The VPC itself (bastions, CI private pools) always reaches the control plane.
                authorized_networks=[
                    (str(config.network.subnet_cidr), "vpc-subnet"),
                    *((str(n.cidr), n.name) for n in config.network.authorized_networks),
                ],
                node_service_account=emails["gke_nodes"],
                attestor=attestation.attestor,
                admission=gke.admission,
                release_channel=gke.release_channel,
                system_machine_type=gke.system_machine_type,
                system_max_nodes=gke.system_max_nodes,
                pipeline_machine_type=gke.pipeline_machine_type,
                pipeline_max_nodes=gke.pipeline_max_nodes,
                deletion_protection=gke.deletion_protection,
                security_group=gke.security_group,
                secrets_key=keys.get("gke"),
                disk_key=keys.get("disks"),
                labels=labels,
            ),
            opts=after_apis,
        )
        kfp = config.kubeflow
        # The network creates the proxy-only subnet for orchestrator kubeflow (above).
        assert network.proxy_only_subnet is not None
        identity.bind_workload_identity(cluster.workload_pool, KUBEFLOW_NAMESPACE)
        kubeflow = Kubeflow(
            f"{base}-kfp",
            KubeflowArgs(
                project=config.project,
                region=config.region,
                environment=config.environment,
                cluster_name=cluster.name,
                cluster_endpoint=cluster.endpoint,
                cluster_ca_certificate=cluster.ca_certificate,
                network=network.network_self_link,
                subnet=network.subnet_self_link,
                subnet_cidr=str(config.network.subnet_cidr),
                proxy_only_cidr=str(config.network.proxy_only_cidr),
                proxy_only_subnet=network.proxy_only_subnet,
                control_plane_cidr=str(config.network.control_plane_cidr),
                overlay=OverlaySettings(
                    version=kfp.version,
                    database=kfp.database,
                    # The bucket's name is known from the config: the overlay is written before
                    # the bucket exists.
                    pipeline_root=(
                        f"gs://{config.project}-{config.name_prefix}-models/{PIPELINE_ROOT_PREFIX}"
                    ),
                    accounts={
                        ksa: account_email(config.name_prefix, workload, config.project)
                        for ksa, workload in KUBERNETES_SERVICE_ACCOUNTS.items()
                        if ksa != KFP_SYSTEM_KSA
                    },
                    sandbox_pool=PIPELINE_POOL,
                    namespace=KUBEFLOW_NAMESPACE,
                    digests=locked_digests(kfp.version),
                ),
                dns_domain=kfp.dns_domain,
                kfp_service_account=emails["kfp"],
                oauth_client_id=kfp.iap.oauth_client_id,
                oauth_client_secret=kfp.iap.oauth_client_secret,
                accessors={
                    "pipeline-runner": identity.member("pipeline_runner"),
                    "deployer": identity.member("deployer"),
                    **({"group": kfp.iap.access_group} if kfp.iap.access_group else {}),
                },
                namespace=KUBEFLOW_NAMESPACE,
                database=kfp.database,
                mysql=_private_instance(config, "kfp", "MYSQL_8_0", kfp.mysql_tier, network, keys),
                labels=labels,
            ),
            opts=after_apis,
        )
        serving = Serving(
            f"{base}-serving",
            ServingArgs(
                provider=kubeflow.provider,
                workload_pool=cluster.workload_pool,
                serving_account=identity.accounts["serving"].name,
                serving_email=emails["serving"],
                deployers={"deployer": emails["deployer"]},
                # The pipeline's deploy step runs in-cluster as the pipeline runner.
                pipeline_accounts={"pipeline-runner": f"{KUBEFLOW_NAMESPACE}/pipeline-runner"},
                region=config.region,
                subnet=network.subnet_self_link,
                proxy_only_cidr=str(config.network.proxy_only_cidr),
                proxy_only_subnet=network.proxy_only_subnet,
                namespace=SERVING_NAMESPACE,
                service_account=SERVING_KSA,
                client_namespaces=(KUBEFLOW_NAMESPACE,),
                client_ranges=(
                    str(config.network.subnet_cidr),
                    *(str(n.cidr) for n in config.network.authorized_networks),
                ),
                labels=labels,
            ),
            opts=after_apis,
        )
        kfp_host, kfp_audience, serving_cluster, serving_url = (
            kubeflow.host,
            kubeflow.audience,
            cluster.name,
            serving.url,
        )
    vertex_endpoint: pulumi.Output[str] | None = None
    vertex_predict_host: pulumi.Output[str | None] | None = None
    if config.vertex_endpoint is not None:
        # No cluster to serve from: models are served by the environment's Vertex AI endpoint.
        endpoint = VertexEndpoint(
            f"{base}-serving",
            VertexEndpointArgs(
                project=config.project,
                region=config.region,
                display_name=config.physical_name("serving"),
                serving_account=identity.accounts["serving"].name,
                # The pipeline's deploy step runs as the pipeline runner.
                deployers={
                    "deployer": identity.member("deployer"),
                    "pipeline-runner": identity.member("pipeline_runner"),
                },
                kms_key=keys.get("vertex"),
                labels=labels,
                access=config.vertex_endpoint.access,
                project_allowlist=config.vertex_endpoint.project_allowlist,
                predict_host=config.vertex_endpoint.predict_host,
            ),
            opts=after_apis,
        )
        vertex_endpoint, vertex_predict_host = endpoint.endpoint_id, endpoint.predict_host

    AuditLogging(
        f"{base}-audit",
        AuditLoggingArgs(
            project=config.project,
            bucket_name=f"{config.project}-{config.name_prefix}-audit-logs",
            location=store.location,
            retention_days=config.log_retention_days,
            notification_channels=channels,
            kms_key=keys.get("storage"),
            labels=labels,
        ),
        opts=after_apis,
    )
    Budget(
        base,
        BudgetArgs(
            project=config.project,
            billing_account=config.budget.billing_account,
            project_number=project_number,
            environment=config.environment,
            amount=config.budget.amount,
            currency=config.budget.currency,
            thresholds=config.budget.thresholds,
            notification_channels=channels,
        ),
        opts=after_apis,
    )
    readers = {"pipeline-runner": identity.member("pipeline_runner")}
    if config.orchestrator == "kubeflow":
        readers["gke-nodes"] = identity.member("gke_nodes")
    registry = ArtifactRegistry(
        base,
        ArtifactRegistryArgs(
            project=config.project,
            region=config.region,
            readers=readers,
            writers={"deployer": identity.member("deployer")},
            kit_readers=config.kit_repository.readers,
            public_kit=config.kit_repository.public,
            kms_key=keys.get("artifacts"),
            labels=labels,
        ),
        opts=after_apis,
    )

    return {
        "environment": config.environment,
        "project": config.project,
        "region": config.region,
        "warehouse_dataset": warehouse.dataset_id,
        "prediction_log_table": warehouse.prediction_log_table,
        "model_bucket": model_store.bucket_name,
        "model_store_prefix": MODEL_STORE_PREFIX,
        "pipeline_root": pipeline_root,
        "metadata_instance_connection_name": metadata.connection_name,
        "metadata_database": metadata.database,
        "metadata_iam_user": metadata.iam_users["pipeline_runner"],
        "orchestrator": config.orchestrator,
        "kfp_host": kfp_host,
        "vertex_location": config.region if config.orchestrator == "vertex" else None,
        "vertex_model_registry": config.vertex_model_registry,
        "service_accounts": {w: emails[w] for w in ("pipeline_runner", "deployer", "serving")},
        "labels": labels,
        "image_repository": registry.image_repository,
        "kit_index": registry.kit_index,
        "attestor": attestation.attestor if attestation is not None else None,
        "attestor_key": attestation.key_version if attestation is not None else None,
        # IAP in front of KFP accepts ID tokens for its OAuth client (the kit's Kubeflow client
        # sends one: `env import` writes kfp+https://HOST?audience=CLIENT_ID).
        "kfp_audience": kfp_audience,
        # The GKE deploy target's coordinates (`gke://PROJECT/REGION/CLUSTER/NAMESPACE`).
        "serving_cluster": serving_cluster,
        "serving_namespace": SERVING_NAMESPACE if serving_cluster is not None else None,
        "serving_kubernetes_account": SERVING_KSA if serving_cluster is not None else None,
        # Where clients in the VPC reach the aliases: http://ADDRESS/<alias name>/predict on the
        # Gateway's reserved address (`env import` writes ?url= into the deploy URI).
        "serving_url": serving_url,
        # The Vertex AI deploy target's endpoint (`vertex-endpoint://PROJECT/REGION/ENDPOINT`).
        "vertex_endpoint": vertex_endpoint,
        # How clients reach it: predictions go to `vertex_predict_host` (the dedicated DNS name or
        # the PSC forwarding rule) instead of the regional API (`env import` writes ?predict_host=).
        "vertex_endpoint_access": (
            config.vertex_endpoint.access if config.vertex_endpoint is not None else None
        ),
        "vertex_predict_host": vertex_predict_host,
    }


def _private_instance(
    config: StackConfig,
    role: str,
    database_version: str,
    tier: str,
    network: Network,
    keys: Mapping[str, pulumi.Output[str]],
    disk_size_gb: int = PrivateInstanceArgs.disk_size_gb,
) -> PrivateInstanceArgs:
    """A Cloud SQL instance of ``role`` on the stack's private network.

    Every instance of a stack shares the environment's availability, backups, Cloud SQL key and
    labels (``metadata_db`` settings); only the engine, tier and disk differ.
    """
    db = config.metadata_db
    return PrivateInstanceArgs(
        instance_name=config.physical_name(role),
        database_version=database_version,
        region=config.region,
        network=network.network_self_link,
        tier=tier,
        availability=db.availability,
        disk_size_gb=disk_size_gb,
        retained_backups=db.retained_backups,
        transaction_log_days=db.transaction_log_days,
        kms_key=keys.get("sql"),
        labels=config.labels,
        depends_on=[network.private_service_connection],
    )
