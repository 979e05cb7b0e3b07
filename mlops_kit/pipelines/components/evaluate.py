"""Evaluate a trained model on the held-out rows, overall and per slice."""

# No postponed annotations: KFP reads this signature.
from kfp.dsl import Artifact, Input, Metrics, Model, Output


def evaluate_model(
    environment: str,
    dataset_ref: str,
    target: str,
    slices: str,
    model: Input[Model],
    metrics: Output[Metrics],
    metrics_json: Output[Artifact],
) -> float:
    """Compute the metrics JSON of ``model`` on the held-out rows of ``dataset_ref``.

    Args:
        environment: the environment, secrets hidden (``Environment.run_parameter``).
        dataset_ref: the data version the model was trained on.
        target: the label column.
        slices: comma-separated slice columns.
        model: the trained model (joblib).
        metrics: the overall metrics, shown by the orchestrator.
        metrics_json: the metrics JSON (overall and per slice) that the registry stores.

    Returns:
        The overall accuracy.
    """
    import json
    from pathlib import Path

    import joblib

    from mlops_kit import data
    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit
    from mlops_kit.pipelines.evaluation import evaluate_classifier, holdout_split

    with Kit(Environment.from_run_parameter(environment)) as kit:
        frame = data.load(kit, dataset_ref, as_="pandas")
    _, held_out = holdout_split(frame, target)
    columns = [column.strip() for column in slices.split(",") if column.strip()]
    result = evaluate_classifier(joblib.load(model.path), held_out, target, columns)
    for name, value in result["overall"].items():
        metrics.log_metric(name, value)
    Path(metrics_json.path).write_text(json.dumps(result, indent=2), encoding="utf-8")
    overall = result["overall"]
    print("evaluate: " + ", ".join(f"{k} {v:.4f}" for k, v in overall.items()))
    return float(overall["accuracy"])
