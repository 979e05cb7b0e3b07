"""Registering, reading and downloading versions, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import mlops_kit
from mlops_kit import models
from mlops_kit.db.models.registry import ModelVersionRow, RegisteredModel
from mlops_kit.errors import ConfigError, ConflictError, IntegrityError, NotFoundError
from mlops_kit.models import Lineage
from tests.models.conftest import METRICS, train_classifier, write_bytes


def _count_versions(kit: Any) -> int:
    with kit.metadata.session() as session:
        return int(session.scalar(select(func.count()).select_from(ModelVersionRow)) or 0)


def test_register_records_the_whole_lineage(kit: Any, tmp_path: Path) -> None:
    artifact = train_classifier(tmp_path / "model")
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS), encoding="utf-8")

    version = models.register(
        kit,
        "churn",
        artifact,
        metrics=tmp_path / "metrics.json",
        lineage=models.Lineage(
            params={"C": 1.0, "penalty": "l2"},
            tags={"team": "growth"},
            pipeline_run_id="run-17",
            image_digest="sha256:" + "a" * 64,
            git_commit="b" * 40,
            created_by="ana",
        ),
    )

    assert (version.ref, version.status, version.flavor) == ("churn@1", "ready", "sklearn")
    assert version.artifact_uri.endswith("/artifacts/churn/1")
    (record,) = version.files
    assert record["path"] == "model.joblib" and record["key"] == "churn/1/model.joblib"
    assert record["size"] == (artifact / "model.joblib").stat().st_size
    assert version.metrics == {"accuracy": 0.91, "f1": 0.88}
    assert version.slices == {"hour": {"3": {"accuracy": 0.4}}}
    assert version.params == {"C": "1.0", "penalty": "l2"} and version.tags == {"team": "growth"}
    assert version.components["kit"] == {"mlops-kit": mlops_kit.__version__}
    assert version.components["image"] == {"image": "sha256:" + "a" * 64}
    assert "scikit-learn" in version.components["package"]
    assert (version.pipeline_run_id, version.git_commit, version.created_by) == (
        "run-17",
        "b" * 40,
        "ana",
    )
    assert version.ready_at is not None and version.ready_at >= version.created_at
    json.dumps(version.to_dict())  # JSON-able

    second = models.register(
        kit, "churn", artifact / "model.joblib", lineage=models.Lineage(packages={"x": "1"})
    )
    assert second.version == 2 and second.components["package"] == {"x": "1"}
    assert [v.version for v in models.list_versions(kit, "churn")] == [2, 1]
    assert models.get_version(kit, "churn").version == 2  # bare name = latest
    assert models.get_version(kit, "churn@latest").version == 2


def test_download_verifies_and_a_corrupt_artifact_is_a_hard_error(kit: Any, tmp_path: Path) -> None:
    source = tmp_path / "model"
    write_bytes(source / "weights.bin", 4096, seed=1)
    write_bytes(source / "config" / "labels.txt", 20, seed=2)
    version = models.register(kit, "ranker", source)

    target = models.download(kit, "ranker@1", tmp_path / "out")
    assert (target / "weights.bin").read_bytes() == (source / "weights.bin").read_bytes()
    assert (target / "config" / "labels.txt").exists()
    with pytest.raises(ConflictError, match="not empty"):
        models.download(kit, "ranker@1", target)

    stored = kit.artifacts.path_of(version.files[1]["key"])
    stored.write_bytes(b"\0" * 4096)
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        models.download(kit, "ranker@1", tmp_path / "again")
    assert not (tmp_path / "again" / "weights.bin").exists()


def test_writing_to_an_existing_version_path_is_refused(kit: Any, tmp_path: Path) -> None:
    artifact = write_bytes(tmp_path / "model.bin", 100)
    # Objects left at the next version's path (a store reused with a fresh database, say).
    kit.artifacts.put(write_bytes(tmp_path / "old" / "model.bin", 50, seed=9), "m/1")

    with pytest.raises(ConflictError, match=r"m/1/model\.bin already exists"):
        models.register(kit, "m", artifact)

    assert kit.artifacts.path_of("m/1/model.bin").stat().st_size == 50  # untouched
    with pytest.raises(NotFoundError, match="no ready version"):
        models.get_version(kit, "m")
    (failed,) = models.list_versions(kit, "m", include_unready=True)
    assert failed.status == "failed" and "already exists" in (failed.failure or "")
    assert models.register(kit, "m", artifact).version == 2  # numbers are never reused


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "is not valid JSON (line 1"),
        ('{"slices": {}}', '"overall" is missing'),
        ('{"overall": {"accuracy": "high"}}', "overall.accuracy = 'high' is not a finite number"),
        ('{"overall": {"accuracy": Infinity}}', "overall.accuracy = inf is not a finite number"),
        ('{"accuracy": NaN}', "overall.accuracy = nan is not a finite number"),
        ('{"overall": {"Accuracy": 0.9}}', "'Accuracy' in overall must be a lower-case word"),
        ('{"Accuracy": 0.9}', "'Accuracy' in overall must be a lower-case word"),
        ('{"overall": {"accuracy": 0.9}, "slices": {"hour": [1]}}', "slices.hour must be"),
        ('{"overall": {"accuracy": 0.9}, "extra": 1}', "unknown key 'extra'"),
        ('{"overall": {}}', "overall is empty"),
    ],
)
def test_malformed_metrics_change_nothing(
    kit: Any, tmp_path: Path, content: str, problem: str
) -> None:
    (tmp_path / "metrics.json").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem.replace("[", r"\[").replace("(", r"\(")):
        models.register(
            kit, "m", write_bytes(tmp_path / "a.bin", 1), metrics=tmp_path / "metrics.json"
        )
    assert _count_versions(kit) == 0


def test_bad_inputs_are_clear_errors_and_change_nothing(kit: Any, tmp_path: Path) -> None:
    artifact = write_bytes(tmp_path / "a.bin", 1)
    with pytest.raises(NotFoundError, match="artifact path .* does not exist"):
        models.register(kit, "m", tmp_path / "missing")
    with pytest.raises(NotFoundError, match="metrics file .* does not exist"):
        models.register(kit, "m", artifact, metrics=tmp_path / "missing.json")
    with pytest.raises(NotFoundError, match="unknown dataset 'customers'"):
        models.register(kit, "m", artifact, lineage=models.Lineage(data=["customers@7"]))
    with pytest.raises(ConfigError, match="invalid model name"):
        models.register(kit, "bad/name", artifact)
    assert _count_versions(kit) == 0
    with kit.metadata.session() as session:
        assert session.scalar(select(func.count()).select_from(RegisteredModel)) == 0
    assert list(kit.artifacts.list_objects()) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn@3", models.ModelRef("churn", version=3)),
        ("churn@champion", models.ModelRef("churn", alias="champion")),
        ("churn", models.ModelRef("churn", alias="latest")),
        ("churn@latest", models.ModelRef("churn", alias="latest")),
    ],
)
def test_model_references(text: str, expected: models.ModelRef) -> None:
    assert models.ModelRef.parse(text) == expected


@pytest.mark.parametrize("text", ["churn@0", "churn@Prod", "churn@", "@3", "churn@a b"])
def test_malformed_model_references(text: str) -> None:
    with pytest.raises(ConfigError):
        models.ModelRef.parse(text)


def test_unknown_names_say_what_exists(kit: Any, tmp_path: Path) -> None:
    models.register(kit, "churn", write_bytes(tmp_path / "a.bin", 1))
    with pytest.raises(NotFoundError, match=r"unknown model 'chrun' \(known models: churn\)"):
        models.get_version(kit, "chrun@1")
    with pytest.raises(NotFoundError, match="has no version 5 .its latest is 1"):
        models.get_version(kit, "churn@5")
    with pytest.raises(NotFoundError, match="has no alias 'production' .it has no alias yet"):
        models.get_version(kit, "churn@production")


def test_load_model_predicts(kit: Any, tmp_path: Path) -> None:
    import numpy as np

    models.register(kit, "clf", train_classifier(tmp_path / "model"))
    loaded = models.load_model(kit, "clf@1")
    assert loaded.predict(np.array([[0.9, 0.5, 0.5], [0.1, 0.5, 0.5]])) == [1, 0]
    models.register(kit, "blob", write_bytes(tmp_path / "x.bin", 3))
    with pytest.raises(ConfigError, match="no model flavour None"):
        models.load_model(kit, "blob@1")


def test_a_flat_metrics_object_means_overall(kit: Any, tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text('{"accuracy": 0.81, "f1": 1}', encoding="utf-8")
    version = models.register(
        kit, "flat", write_bytes(tmp_path / "a.bin", 1), metrics=tmp_path / "metrics.json"
    )
    assert (version.metrics, version.slices) == ({"accuracy": 0.81, "f1": 1.0}, {})


def test_compare_shows_a_stored_metric_that_is_not_finite_without_a_change(
    kit: Any, tmp_path: Path, run_cli: Any, metadata_url: str
) -> None:
    """Registration refuses NaN and infinity; a value stored before that check stays readable."""
    from sqlalchemy import update

    from mlops_kit.db.models.registry import ModelMetric

    artifact = write_bytes(tmp_path / "m.bin", 10)
    for accuracy in (0.8, 0.9):
        models.register(
            kit, "clf", artifact, metrics={"accuracy": accuracy, "f1": 0.5}, lineage=Lineage()
        )
    broken = {"accuracy": float("inf")}
    if metadata_url.startswith("postgresql"):  # SQLite stores a NaN as NULL
        broken["f1"] = float("nan")
    with kit.metadata.session() as session:
        for name, value in broken.items():
            session.execute(update(ModelMetric).where(ModelMetric.name == name).values(value=value))

    comparison = models.compare(kit, "clf@1", "clf@2")
    overall = comparison.summary["metrics"]["overall"]
    assert overall["accuracy"]["delta"] is None
    result = run_cli(
        "--metadata", metadata_url, "models", "compare", "clf@1", "clf@2", "-f", "json"
    )
    assert result.exit_code == 0, result.stderr

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} is not JSON")

    printed = json.loads(result.stdout, parse_constant=refuse)["metrics"]["overall"]
    assert printed["accuracy"] == {"a": None, "b": None, "delta": None}
    assert printed["f1"]["delta"] == (None if "f1" in broken else 0)
    table = run_cli("--metadata", metadata_url, "models", "compare", "clf@1", "clf@2")
    assert table.exit_code == 0 and "inf" in table.stdout, table.stderr


def test_training_data_is_listed_by_dataset_then_version(kit: Any, tmp_path: Path) -> None:
    import pandas as pd

    from mlops_kit import data

    refs = []
    for name, rows in [("orders", 2), ("customers", 3), ("customers", 4), ("customers", 5)]:
        path = tmp_path / f"{name}-{rows}.parquet"
        pd.DataFrame({"id": range(rows)}).to_parquet(path)
        refs.append(data.snapshot(kit, name, path=path).ref)
    # Recorded in another order than the one they are listed in.
    lineage = models.Lineage(data=[refs[3], refs[0], refs[1], refs[2]])
    version = models.register(kit, "m", train_classifier(tmp_path / "model"), lineage=lineage)
    expected = ["customers@1", "customers@2", "customers@3", "orders@1"]
    assert version.datasets == expected
    assert models.get_version(kit, "m@1").datasets == expected
