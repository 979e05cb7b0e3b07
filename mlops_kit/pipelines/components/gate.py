"""Promote a model version to ``champion`` only if it is better than the current champion.

Both are scored on the same rows, overall and per slice; the decision names the slices, and the
feature values where the candidate does worst when asked to search for them.
"""

# No postponed annotations: KFP reads this signature.


def promote_if_better(
    environment: str,
    model_ref: str,
    target: str,
    metrics: str,
    slices: str,
    min_improvement: float,
    slice_tolerance: float,
    weak_slice_min_count: int = 0,
) -> str:
    """Compare ``model_ref`` with the champion; promote it or record why not.

    Args:
        environment: the environment, secrets hidden (``Environment.run_parameter``).
        model_ref: the candidate (``churn@4``).
        target: the label column: the candidate and the champion are scored on the held-out
            rows of the candidate's data version.
        metrics: comma-separated metrics to compare, the deciding one first.
        slices: comma-separated slice columns compared value by value.
        min_improvement: the margin by which the first metric must improve.
        slice_tolerance: how much of any metric a slice value may lose.
        weak_slice_min_count: when positive, the decision also names the candidate's weak
            slices on its held-out rows, slice values of at least this many rows (``0``: no
            search; a pipeline parameter cannot be ``None``).

    Returns:
        The decision, as JSON (candidate, champion, promoted, reasons).
    """
    import json

    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit
    from mlops_kit.pipelines.promotion import gate_candidate

    with Kit(Environment.from_run_parameter(environment)) as kit:
        decision = gate_candidate(
            kit,
            model_ref,
            target,
            metrics=[m.strip() for m in metrics.split(",") if m.strip()],
            slices=[s.strip() for s in slices.split(",") if s.strip()],
            min_improvement=min_improvement,
            slice_tolerance=slice_tolerance,
            weak_slice_min_count=weak_slice_min_count if weak_slice_min_count > 0 else None,
        )
    print(f"gate: {decision.message}")
    return json.dumps(decision.to_dict())
