"""The pulumi-policy pack wraps the same control functions (the pack itself is never started here)."""

from __future__ import annotations

from typing import Any

from infra.policies.controls import BUCKET, CONTROLS, SINK


def test_one_policy_per_control() -> None:
    from infra.policies.pack import build_policies

    policies = build_policies()
    assert [p.name for p in policies] == [c.id for c in CONTROLS]
    assert [p.description for p in policies] == [f"{'; '.join(c.cis)}: {c.title}" for c in CONTROLS]


def _policy(name: str) -> Any:
    from infra.policies.pack import build_policies

    return next(p for p in build_policies() if p.name == name)


def test_resource_policy_reports_the_control_messages() -> None:
    from pulumi_policy import ResourceValidationArgs

    reported: list[tuple[str, str | None]] = []
    args = ResourceValidationArgs(
        BUCKET, {"publicAccessPrevention": "inherited"}, "urn:b", "models", None, None
    )
    _policy("gcs-not-public").validate(args, lambda message, urn: reported.append((message, urn)))
    assert reported == [("publicAccessPrevention is not 'enforced'", None)]
    reported.clear()
    other = ResourceValidationArgs(SINK, {}, "urn:s", "sink", None, None)
    _policy("gcs-not-public").validate(other, lambda message, urn: reported.append((message, urn)))
    assert reported == []


def test_stack_policy_reports_against_the_stack_or_a_resource() -> None:
    from pulumi_policy import PolicyResource, StackValidationArgs

    def resource(type_: str, name: str, props: dict[str, Any]) -> Any:
        return PolicyResource(type_, props, f"urn:{name}", name, None, None, None, [], {})

    reported: list[tuple[str, str | None]] = []
    args = StackValidationArgs(
        [resource(SINK, "sink", {"filter": "severity>=ERROR", "destination": "x"})]
    )
    _policy("logging-sink-all-entries").validate(args, lambda m, urn: reported.append((m, urn)))
    assert reported == [("no enabled log sink with an empty filter (all log entries)", None)]
