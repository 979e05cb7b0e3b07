"""Register a trained model with its metrics and lineage."""

# No postponed annotations: KFP reads this signature.
from kfp.dsl import Artifact, Input, Model


def register_model(
    environment: str,
    model_name: str,
    dataset_ref: str,
    params: str,
    pipeline_run_id: str,
    git_commit: str,
    model: Input[Model],
    metrics_json: Input[Artifact],
    image: str = "",
) -> str:
    """Register ``model`` as the next version of ``model_name``.

    Args:
        environment: the environment, secrets hidden (``Environment.run_parameter``).
        model_name: the registered model.
        dataset_ref: the data version it was trained on (its lineage).
        params: the training parameters, as JSON.
        pipeline_run_id: the run that produced it.
        git_commit: the commit of the project's training code (empty: unknown).
        model: the trained model (joblib).
        metrics_json: its metrics JSON.
        image: the image the run's tasks ran in, by digest (``REPOSITORY/NAME@sha256:…``; empty
            on the local twin): recorded as ``components.image``, the image a later retraining
            or scheduled run of the champion trains in.

    Returns:
        The reference of the new version (``churn@4``).
    """
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from mlops_kit import models
    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit

    metrics = json.loads(Path(metrics_json.path).read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as scratch:
        # KFP names the file after the output; the registry knows scikit-learn by *.joblib.
        artifact = Path(scratch) / "model.joblib"
        shutil.copyfile(model.path, artifact)
        with Kit(Environment.from_run_parameter(environment)) as kit:
            version = models.register(
                kit,
                model_name,
                artifact,
                metrics=metrics,
                lineage=models.Lineage(
                    data=[dataset_ref],
                    params=json.loads(params or "{}"),
                    pipeline_run_id=pipeline_run_id,
                    git_commit=git_commit or None,
                    image_digest=image or None,
                ),
            )
    print(f"register: {model_name}@{version.version} (trained on {dataset_ref})")
    return f"{model_name}@{version.version}"
