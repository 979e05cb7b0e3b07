"""KFP's manifests: pinned to a commit, adapted by one overlay, known offline."""

from __future__ import annotations

import pytest

from infra.components.kubeflow_manifests import RELEASES, OverlaySettings, install_overlay
from infra.kubeflow_inventory import applied_objects, overlay_objects

SETTINGS = OverlaySettings(
    version="2.5.0",
    database="cloudsql",
    pipeline_root="gs://bucket/pipeline-root",
    accounts={"pipeline-runner": "runner@p.iam.gserviceaccount.com"},
    sandbox_pool="pipelines",
)


def test_only_parts_pinned_to_a_commit_are_known() -> None:
    kustomization = install_overlay(SETTINGS)
    tagged = [
        r.replace(f"?ref={RELEASES['2.5.0']}", "?ref=2.5.0") for r in kustomization["resources"]
    ]
    with pytest.raises(ValueError, match="not a part of KFP's manifests pinned to a commit"):
        overlay_objects({**kustomization, "resources": tagged})


def test_the_overlay_changes_what_kustomize_would_change() -> None:
    objects = applied_objects(SETTINGS)
    by_key = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    # The namespace is named through a var upstream: the kind-targeted patch still labels it.
    namespace = by_key[("Namespace", "kubeflow")]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    # Secrets with fixed values are gone from the build (the program owns them).
    assert ("Secret", "mlpipeline-minio-artifact") not in by_key
    assert ("Secret", "mysql-secret") not in by_key
    runner = by_key[("ServiceAccount", "pipeline-runner")]
    assert runner["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == (
        "runner@p.iam.gserviceaccount.com"
    )
    # Upstream's own strategic patches are replayed: Argo's image is the pinned one, not latest.
    controller = by_key[("Deployment", "workflow-controller")]
    [container] = controller["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "quay.io/argoproj/workflow-controller:v3.5.14"
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] == "Deployment"} == {
        "kubeflow"
    }


def test_in_cluster_database_keeps_kfps_own_mysql_secret() -> None:
    from dataclasses import replace

    objects = applied_objects(replace(SETTINGS, database="in-cluster"))
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("Deployment", "mysql") in kinds
    assert ("Secret", "mysql-secret") in kinds
    assert ("Secret", "mlpipeline-minio-artifact") not in kinds
