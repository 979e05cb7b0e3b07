"""Validate a data version against the previous one: schema and type conformance must hold."""

# No postponed annotations: KFP reads this signature.
from kfp.dsl import Artifact, Output


def validate_data(environment: str, dataset_ref: str, report: Output[Artifact]) -> str:
    """Diff ``dataset_ref`` with the version before it; fail the run on breaking changes.

    Breaking changes are removed or retyped columns and values that do not conform to their
    column's type (text in a numeric column). The first version has nothing to diff against.

    Args:
        environment: the environment, secrets hidden (``Environment.run_parameter``).
        dataset_ref: the version to validate (``churn@3``).
        report: the diff summary, as JSON.

    Returns:
        One line: what changed.
    """
    import json
    from pathlib import Path

    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit
    from mlops_kit.pipelines.validation import validate_version

    with Kit(Environment.from_run_parameter(environment)) as kit:
        result = validate_version(kit, dataset_ref)
    Path(report.path).write_text(
        json.dumps(result.summary, indent=2, default=str), encoding="utf-8"
    )
    print(f"validate: {result.message}")
    result.raise_if_breaking()
    return result.message
