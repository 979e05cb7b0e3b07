"""Identity: one service account per workload, no keys, project roles only where no resource scope exists."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_gcp import iam, projects, serviceaccount

from infra.components import child_options

# Workload → what it does. The kit's environment exposes the first three by these names.
WORKLOADS: dict[str, str] = {
    "pipeline_runner": "Runs training and monitoring pipelines; writes data and model versions.",
    "deployer": "CI/CD: deploys pipelines and models, promotes model versions.",
    "serving": "Serves models: reads artifacts, writes prediction logs.",
}
# Roles that exist only at project level (no bucket/dataset/instance scope), per workload.
# BigQuery jobs are billed to a project, so running a query needs jobUser on the project.
PROJECT_ROLES: dict[str, tuple[str, ...]] = {
    "pipeline_runner": ("roles/bigquery.jobUser", "roles/logging.logWriter"),
    "deployer": (),
    "serving": ("roles/logging.logWriter",),
}
ORCHESTRATOR_ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    "vertex": {
        "pipeline_runner": ("roles/aiplatform.user",),
        "deployer": ("roles/aiplatform.user",),
    },
    # The deployer may fetch cluster credentials and nothing more (container.developer would let
    # it read every Kubernetes Secret); nodes get Google's minimal node role.
    "kubeflow": {
        "deployer": ("roles/container.clusterViewer",),
        "gke_nodes": ("roles/container.defaultNodeServiceAccount",),
    },
}

# Kubernetes service accounts of the Kubeflow namespace → the Google account each impersonates:
# pipeline steps run as the pipeline runner; KFP's UI (artifact previews) and its database proxy
# run as the KFP account.
KUBERNETES_SERVICE_ACCOUNTS: dict[str, str] = {
    "pipeline-runner": "pipeline_runner",
    "ml-pipeline-ui": "kfp",
    "kfp-system": "kfp",
}


def account_email(prefix: str, workload: str, project: str) -> str:
    """The email of ``workload``'s service account (known before the account exists)."""
    return f"{prefix}-{workload.replace('_', '-')}@{project}.iam.gserviceaccount.com"


@dataclass(frozen=True)
class IdentityArgs:
    """Inputs of :class:`Identity`."""

    project: str
    """Project of the service accounts."""
    prefix: str
    """Prefix of the account ids (``mlops`` → ``mlops-pipeline-runner``)."""
    orchestrator: str
    """``kubeflow`` adds the node and Kubeflow accounts (bound by :meth:`Identity.bind_workload_identity`)."""
    project_number: pulumi.Input[str] = ""
    """Project number (federated principals are named by it); needed with ``ci_repositories``."""
    ci_repositories: tuple[str, ...] = ()
    """GitHub repositories (``org/repo``) whose Actions may act as the deployer, keylessly."""
    ci_ref: str = "refs/heads/main"
    """The only Git ref whose workflows may deploy (when no GitHub environment is named)."""
    ci_github_environment: str | None = None
    """The GitHub environment (with its own protection rules) whose jobs may deploy; replaces
    the ref check when set."""


def federation_condition(args: IdentityArgs) -> str:
    """The CEL condition of the CI provider: the named repositories AND one ref or environment.

    Without the second half, any branch of a named repository (or a pull request's workflow)
    could act as the deployer of this environment.
    """
    repositories = ", ".join(f"'{repo}'" for repo in args.ci_repositories)
    restriction = (
        f"assertion.environment == '{args.ci_github_environment}'"
        if args.ci_github_environment
        else f"assertion.ref == '{args.ci_ref}'"
    )
    return f"assertion.repository in [{repositories}] && {restriction}"


class Identity(pulumi.ComponentResource):
    """Service accounts of the environment's workloads and their project-level roles."""

    accounts: dict[str, serviceaccount.Account]
    emails: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:Identity", name, None, opts)
        child = child_options(self, opts)
        workloads = dict(WORKLOADS)
        if args.orchestrator == "kubeflow":
            workloads["gke_nodes"] = "GKE nodes: logs and metrics only (never the default SA)."
            workloads["kfp"] = "Kubeflow Pipelines system pods: its database proxy and UI."
        self.accounts = {}
        for workload, description in workloads.items():
            account_id = f"{args.prefix}-{workload.replace('_', '-')}"
            self.accounts[workload] = serviceaccount.Account(
                f"{name}-{workload.replace('_', '-')}",
                account_id=account_id,
                display_name=f"mlops-kit {workload.replace('_', ' ')}",
                description=description,
                project=args.project,
                opts=child,
            )
        roles = {w: list(PROJECT_ROLES.get(w, ())) for w in workloads}
        for workload, extra in ORCHESTRATOR_ROLES[args.orchestrator].items():
            roles[workload].extend(extra)
        for workload, granted in roles.items():
            for role in granted:
                projects.IAMMember(
                    f"{name}-{workload.replace('_', '-')}-{role.split('/')[-1].replace('.', '-')}",
                    project=args.project,
                    role=role,
                    member=self.member(workload),
                    opts=child,
                )
        # The deployer submits runs as the pipeline runner: actAs on that one account, not the project.
        serviceaccount.IAMMember(
            f"{name}-deployer-acts-as-runner",
            service_account_id=self.accounts["pipeline_runner"].name,
            role="roles/iam.serviceAccountUser",
            member=self.member("deployer"),
            opts=child,
        )
        self._name = name
        self._child = child
        if args.ci_repositories:
            self._ci_federation(name, args, child)
        self.emails = {workload: account.email for workload, account in self.accounts.items()}
        self.register_outputs({"emails": self.emails})

    def _ci_federation(self, name: str, args: IdentityArgs, child: pulumi.ResourceOptions) -> None:
        """GitHub Actions of the named repositories get short-lived deployer credentials (no key)."""
        pool = iam.WorkloadIdentityPool(
            f"{name}-ci",
            workload_identity_pool_id=f"{args.prefix}-ci",
            display_name="mlops-kit CI",
            project=args.project,
            opts=child,
        )
        iam.WorkloadIdentityPoolProvider(
            f"{name}-ci-github",
            workload_identity_pool_id=pool.workload_identity_pool_id,
            workload_identity_pool_provider_id="github",
            project=args.project,
            oidc=iam.WorkloadIdentityPoolProviderOidcArgs(
                issuer_uri="https://token.actions.githubusercontent.com"
            ),
            attribute_mapping={
                "google.subject": "assertion.sub",
                "attribute.repository": "assertion.repository",
                "attribute.ref": "assertion.ref",
                "attribute.environment": "assertion.environment",
            },
            # Without a condition any GitHub repository could exchange its tokens here.
            attribute_condition=federation_condition(args),
            opts=child,
        )
        for repo in args.ci_repositories:
            serviceaccount.IAMMember(
                f"{name}-ci-{repo.replace('/', '-').replace('_', '-').replace('.', '-').lower()}",
                service_account_id=self.accounts["deployer"].name,
                role="roles/iam.workloadIdentityUser",
                member=pulumi.Output.concat(
                    "principalSet://iam.googleapis.com/projects/",
                    args.project_number,
                    "/locations/global/workloadIdentityPools/",
                    pool.workload_identity_pool_id,
                    f"/attribute.repository/{repo}",
                ),
                opts=child,
            )

    def bind_workload_identity(self, workload_pool: pulumi.Output[str], namespace: str) -> None:
        """Let each Kubernetes service account of ``namespace`` impersonate its Google account.

        Args:
            workload_pool: the cluster's ``workload_identity_config.workload_pool`` output. The
                pool exists only once the cluster does; members named after it fail before that,
                so the bindings take the pool from the cluster, which orders them after it.
            namespace: the Kubeflow namespace.
        """
        # Each Kubernetes SA may impersonate exactly one Google SA, bound on that SA rather than
        # on the project (CIS GKE 5.2.2).
        for ksa, workload in KUBERNETES_SERVICE_ACCOUNTS.items():
            serviceaccount.IAMMember(
                f"{self._name}-{ksa}-workload-identity",
                service_account_id=self.accounts[workload].name,
                role="roles/iam.workloadIdentityUser",
                member=pulumi.Output.concat(
                    "serviceAccount:", workload_pool, f"[{namespace}/{ksa}]"
                ),
                opts=self._child,
            )

    def member(self, workload: str) -> pulumi.Output[str]:
        """The IAM member string of ``workload``'s service account."""
        return pulumi.Output.concat("serviceAccount:", self.accounts[workload].email)
