"""Deploy the champion: copy its artifact where the serving side picks it up."""

# No postponed annotations: KFP reads this signature.


def deploy_model(environment: str, decision: str, serving_dir: str) -> str:
    """Download the newly promoted champion into ``serving_dir`` (skipped when not promoted).

    Args:
        environment: the environment, secrets hidden (``Environment.run_parameter``).
        decision: the gate's decision, as JSON.
        serving_dir: the directory the serving process loads its model from.

    Returns:
        Where the model was written, or an empty string when nothing was deployed.
    """
    import json
    from pathlib import Path

    from mlops_kit import models
    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit

    outcome = json.loads(decision)
    if not outcome["promoted"]:
        print(f"deploy: skipped, {outcome['candidate']} was not promoted")
        return ""
    target = Path(serving_dir) / outcome["candidate"].replace("@", "-")
    with Kit(Environment.from_run_parameter(environment)) as kit:
        models.download(kit, outcome["candidate"], target)
    (Path(serving_dir) / "CURRENT").write_text(outcome["candidate"] + "\n", encoding="utf-8")
    print(f"deploy: {outcome['candidate']} -> {target}")
    return str(target)
