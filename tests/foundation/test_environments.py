"""Environment resolution: defaults, precedence, overrides, import, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlops_kit.environments import (
    Environment,
    Workspace,
    import_environment,
    resolve_environment,
)
from mlops_kit.errors import ConfigError, NotFoundError, UnknownSchemeError

FIXTURES = Path(__file__).parents[1] / "fixtures"


def write_env(project: Path, name: str, **values: object) -> Path:
    path = project / "environments" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    base = {
        "warehouse": f"duckdb:///{project}/{name}.duckdb",
        "artifacts": f"file://{project}/{name}-artifacts",
        "metadata": f"sqlite:///{project}/{name}.db",
        "orchestrator": "kfp-local",
    }
    base.update(values)  # type: ignore[arg-type]
    path.write_text("\n".join(f"{k}: {v}" for k, v in base.items()) + "\n", encoding="utf-8")
    return path


def test_default_is_the_local_twin_rooted_in_the_project(project_dir: Path) -> None:
    environment = resolve_environment(environ={})
    assert environment.name == "local"
    root = project_dir / ".mlops"
    assert environment.warehouse == f"duckdb://{root}/warehouse.duckdb"
    assert environment.artifacts == f"file://{root}/artifacts"
    assert environment.metadata == f"sqlite:///{root}/metadata.db"
    assert environment.orchestrator == "kfp-local"
    assert environment.is_local


def test_project_is_found_from_a_subdirectory(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project_dir / "src" / "deep").mkdir(parents=True)
    monkeypatch.chdir(project_dir / "src" / "deep")
    assert resolve_environment(environ={}).metadata == f"sqlite:///{project_dir}/.mlops/metadata.db"


def test_local_root_is_configurable(project_dir: Path) -> None:
    (project_dir / "mlops-kit.yaml").write_text("local_root: state\n", encoding="utf-8")
    assert resolve_environment(environ={}).artifacts == f"file://{project_dir}/state/artifacts"
    env = resolve_environment(environ={"MLOPS_KIT_LOCAL_ROOT": str(project_dir / "elsewhere")})
    assert env.artifacts == f"file://{project_dir}/elsewhere/artifacts"


def test_name_precedence_flag_over_variable_over_file_over_default(project_dir: Path) -> None:
    for name in ("dev", "staging", "prod"):
        write_env(project_dir, name)
    assert resolve_environment(environ={}).name == "local"
    (project_dir / "mlops-kit.yaml").write_text("env: staging\n", encoding="utf-8")
    assert resolve_environment(environ={}).name == "staging"
    assert resolve_environment(environ={"MLOPS_KIT_ENV": "dev"}).name == "dev"
    assert resolve_environment("prod", environ={"MLOPS_KIT_ENV": "dev"}).name == "prod"


def test_role_precedence_flag_over_variable_over_file(project_dir: Path) -> None:
    write_env(project_dir, "dev", metadata="sqlite:////from/file.db")
    assert resolve_environment("dev", environ={}).metadata == "sqlite:////from/file.db"
    environ = {"MLOPS_KIT_METADATA": "postgresql://u@h/from_variable"}
    assert resolve_environment("dev", environ=environ).metadata == "postgresql://u@h/from_variable"
    flag = {"metadata": "postgresql://u@h/from_flag", "warehouse": None}
    resolved = resolve_environment("dev", overrides=flag, environ=environ)
    assert resolved.metadata == "postgresql://u@h/from_flag"
    assert resolved.warehouse == f"duckdb:///{project_dir}/dev.duckdb"


def test_any_role_of_the_local_twin_can_be_overridden(project_dir: Path) -> None:
    env = resolve_environment(overrides={"metadata": "postgresql://u@127.0.0.1/x"}, environ={})
    assert env.name == "local" and env.metadata == "postgresql://u@127.0.0.1/x"
    assert env.warehouse.startswith("duckdb://")


def test_unknown_environment_names_the_known_ones(project_dir: Path) -> None:
    write_env(project_dir, "dev")
    with pytest.raises(
        NotFoundError, match=r"unknown environment 'qa'.*known: dev, local.*env import qa"
    ):
        resolve_environment("qa", environ={})


@pytest.mark.parametrize("name", ["Prod", "1dev", "a b", "x" * 41, "../etc"])
def test_invalid_environment_names_are_rejected(project_dir: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="invalid environment name"):
        resolve_environment(name, environ={})


def test_unknown_scheme_lists_the_known_ones(project_dir: Path) -> None:
    with pytest.raises(UnknownSchemeError) as info:
        resolve_environment(overrides={"artifacts": "s3://bucket/models"}, environ={})
    assert str(info.value) == (
        "unknown artifacts scheme 's3' in 's3://bucket/models': use one of file://, gs://"
    )
    with pytest.raises(
        UnknownSchemeError, match="kfp\\+http://, kfp\\+https://, kfp-local, vertex://"
    ):
        resolve_environment(overrides={"orchestrator": "airflow://x"}, environ={})


@pytest.mark.parametrize("uri", ["not a uri", "   ", "/just/a/path"])
def test_malformed_uri_is_a_clear_error(project_dir: Path, uri: str) -> None:
    with pytest.raises(ConfigError, match="metadata"):
        resolve_environment(overrides={"metadata": uri}, environ={"MLOPS_KIT_METADATA": uri})


def test_unreadable_environment_file(project_dir: Path) -> None:
    path = write_env(project_dir, "dev")
    path.write_text("warehouse: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d"):
        resolve_environment("dev", environ={})
    path.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        resolve_environment("dev", environ={})
    path.unlink()
    path.mkdir()
    with pytest.raises(ConfigError, match="cannot read environment file"):
        resolve_environment("dev", environ={})


def test_unknown_key_and_missing_role_in_environment_file(project_dir: Path) -> None:
    write_env(project_dir, "dev", colour="blue")
    with pytest.raises(ConfigError, match="colour: unknown key"):
        resolve_environment("dev", environ={})
    path = project_dir / "environments" / "dev.yaml"
    path.write_text("warehouse: duckdb:///x.duckdb\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="does not set artifacts, metadata, orchestrator"):
        resolve_environment("dev", environ={})


def test_bad_project_file(project_dir: Path) -> None:
    (project_dir / "mlops-kit.yaml").write_text("enviroment: dev\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="enviroment: unknown key"):
        resolve_environment(environ={})


def test_import_round_trips_stack_outputs(project_dir: Path) -> None:
    outputs = FIXTURES / "stack-outputs-dev.json"
    path = import_environment("dev", outputs, Workspace.discover())
    assert path == project_dir / "environments" / "dev.yaml"
    environment = resolve_environment("dev", environ={})
    data = json.loads(outputs.read_text())
    assert environment == Environment(
        name="dev",
        warehouse="bigquery://acme-ml-dev/mlops_dev",
        artifacts="gs://acme-ml-dev-mlops-models/models",
        metadata=(
            "cloudsql://acme-ml-dev:europe-west1:mlops-dev-metadata/mlops"
            "?iam_user=mlops-pipeline-runner@acme-ml-dev.iam"
        ),
        orchestrator="kfp+https://kfp.dev.internal.acme.example",
        project="acme-ml-dev",
        region="europe-west1",
        dataset="mlops_dev",
        prediction_log_table=data["prediction_log_table"],
        bucket="acme-ml-dev-mlops-models",
        pipeline_root=data["pipeline_root"],
        service_accounts=data["service_accounts"],
        labels=data["labels"],
        image_repository=data["image_repository"],
        kit_index=data["kit_index"],
        attestor=data["attestor"],
        attestor_key=data["attestor_key"],
    )
    assert not environment.is_local
    # Importing again updates the file in place.
    data["region"] = "europe-west4"
    newer = project_dir / "newer.json"
    newer.write_text(json.dumps(data), encoding="utf-8")
    import_environment("dev", newer, Workspace.discover())
    assert resolve_environment("dev", environ={}).region == "europe-west4"


def test_import_puts_the_kfp_audience_in_the_uri(project_dir: Path, tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "stack-outputs-dev.json").read_text())
    data["kfp_audience"] = "123-abc.apps.googleusercontent.com"
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(data), encoding="utf-8")
    import_environment("dev", outputs, Workspace.discover())
    assert resolve_environment("dev", environ={}).orchestrator == (
        "kfp+https://kfp.dev.internal.acme.example?audience=123-abc.apps.googleusercontent.com"
    )


def test_import_puts_the_serving_gateway_s_address_in_the_gke_uri(
    project_dir: Path, tmp_path: Path
) -> None:
    data = json.loads((FIXTURES / "stack-outputs-dev.json").read_text())
    data.update(serving_cluster="mlops-dev-gke", serving_namespace="serving")
    outputs = tmp_path / "outputs.json"
    gke = "gke://acme-ml-dev/europe-west1/mlops-dev-gke/serving"
    # A stack from before the reserved address: no url, the target cannot say where.
    outputs.write_text(json.dumps(data), encoding="utf-8")
    import_environment("dev", outputs, Workspace.discover())
    assert resolve_environment("dev", environ={}).deploy == gke
    data.update(serving_kubernetes_account="model-server", serving_url="http://10.10.0.7")
    outputs.write_text(json.dumps(data), encoding="utf-8")
    import_environment("dev", outputs, Workspace.discover())
    assert resolve_environment("dev", environ={}).deploy == (
        f"{gke}?service_account=model-server&url=http://10.10.0.7"
    )


def test_import_of_a_vertex_stack(project_dir: Path) -> None:
    data = json.loads((FIXTURES / "stack-outputs-dev.json").read_text())
    data.update(
        orchestrator="vertex",
        kfp_host=None,
        vertex_location="us-central1",
        vertex_endpoint="1234567890",
        vertex_endpoint_access="private-service-connect",
        vertex_predict_host="http://10.50.0.9:8080",
    )
    outputs = project_dir / "outputs.json"
    outputs.write_text(json.dumps(data), encoding="utf-8")
    import_environment("prod", outputs, Workspace.discover())
    environment = resolve_environment("prod", environ={})
    assert environment.orchestrator == "vertex://acme-ml-dev/us-central1"
    # The stack's endpoint, in the endpoint's region, is where models are deployed.
    # Predictions go to the forwarding rule the stack names (quoted into the query).
    assert environment.deploy == (
        "vertex-endpoint://acme-ml-dev/us-central1/1234567890"
        "?predict_host=http%3A%2F%2F10.50.0.9%3A8080"
    )


def test_import_bad_input(project_dir: Path) -> None:
    workspace = Workspace.discover()
    bad = project_dir / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        import_environment("dev", bad, workspace)
    bad.write_text(json.dumps({"project": "p"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="environment: Field required.*mlops-kit stack"):
        import_environment("dev", bad, workspace)
    with pytest.raises(NotFoundError, match="cannot read stack outputs .* does not exist"):
        import_environment("dev", project_dir / "missing.json", workspace)
    shutil.copy(FIXTURES / "stack-outputs-dev.json", project_dir / "ok.json")
    with pytest.raises(ConfigError, match="'local' is the local twin"):
        import_environment("local", project_dir / "ok.json", workspace)
    assert not (project_dir / "environments").exists()


def test_redacted_hides_secrets() -> None:
    environment = Environment(
        name="x",
        warehouse="duckdb:///w.duckdb",
        artifacts="file:///a",
        metadata="postgresql://kit:s3cret@db:5432/kit?sslpassword=p&application_name=kit",
        orchestrator="kfp-local",
    )
    shown = environment.redacted()["metadata"]
    assert "s3cret" not in shown and "sslpassword=***" in shown and "application_name=kit" in shown


def test_a_kit_index_must_be_a_simple_index(project_dir: Path) -> None:
    data = json.loads((FIXTURES / "stack-outputs-dev.json").read_text())
    data["kit_index"] = "europe-west1-python.pkg.dev/acme-ml-dev/mlops-dev-kit"
    outputs = project_dir / "outputs.json"
    outputs.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="kit_index: .* is not a package index: write 'https://"):
        import_environment("dev", outputs, Workspace.discover())
    assert not (project_dir / "environments" / "dev.yaml").exists()
