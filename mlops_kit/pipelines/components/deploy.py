"""Deploy the champion through the environment's deploy target."""

# No postponed annotations: KFP reads this signature.


def deploy_model(environment: str, decision: str, alias: str, image: str = "") -> str:
    """Deploy the newly promoted champion under ``alias`` (skipped when not promoted).

    The environment's deploy target decides what deploying means: ``local`` moves the alias, and
    every ``mlops-kit serve NAME@ALIAS`` swaps the version in; ``gke://`` and
    ``vertex-endpoint://`` roll the serving image out first. On a protected alias the deployment
    waits for someone's approval (``mlops-kit models approve``).

    Args:
        environment: the environment, secrets hidden (``Environment.run_parameter``).
        decision: the gate's decision, as JSON.
        alias: the alias the serving processes follow (``production``).
        image: the serving image by digest, on GKE and Vertex AI: the image the pipeline's own
            tasks run in (empty: the image recorded with the version).

    Returns:
        The deployment as JSON, or an empty string when nothing was deployed.
    """
    import json

    from mlops_kit.deploy_targets import open_deploy_target
    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit

    outcome = json.loads(decision)
    if not outcome["promoted"]:
        print(f"deploy: skipped, {outcome['candidate']} was not promoted")
        return ""
    reason = "new champion: " + "; ".join(outcome["reasons"])
    with Kit(Environment.from_run_parameter(environment)) as kit:
        deployment = open_deploy_target(kit).deploy(
            outcome["candidate"], alias=alias, reason=reason, image=image or None
        )
    print(f"deploy: {deployment.detail}")
    return json.dumps(deployment.to_dict())
