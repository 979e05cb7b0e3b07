"""Check a model against its monitoring spec: the one step of the scheduled monitoring pipeline."""

# No postponed annotations: KFP reads this signature.


def check_model(environment: str, spec: str, end: str = "") -> str:
    """Run ``mlops-kit monitor check`` for the spec: judge, store, trigger, notify.

    A failed check is a result, not a failed step: the run is stored with its violations and what
    they triggered, and the step succeeds so that the schedule's history shows failed steps only
    for real failures.

    Args:
        environment: the environment, secrets hidden (``Environment.run_parameter``).
        spec: the monitoring spec as JSON (literal webhook URLs are refused when scheduling:
            ``${VARIABLE}`` is read from the step's environment).
        end: the moment the check runs as of, ISO 8601 with timezone (empty: now).

    Returns:
        The check's result as JSON (run id, passed, violations, triggers, notifications).
    """
    import json
    import os
    from datetime import datetime

    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit
    from mlops_kit.monitoring.check import check_model as run_monitoring_check
    from mlops_kit.monitoring.spec import MonitoringSpec

    monitoring = MonitoringSpec.model_validate_json(spec)
    moment = datetime.fromisoformat(end) if end else None
    with Kit(Environment.from_run_parameter(environment)) as kit:
        _, result = run_monitoring_check(kit, monitoring, end=moment, environ=os.environ)
    verdict = "passed" if result.passed else f"{len(result.violations)} violations"
    print(f"check run {result.run_id}: {verdict}")
    return json.dumps(result.to_dict(), default=str)
