"""The controls as pulumi-policy policies (one per control: mandatory, or advisory when the control is).

Kept apart from ``__main__`` because constructing the ``PolicyPack`` starts the analyzer server and
blocks: tests build and exercise the policies without it.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policies.controls import CONTROLS, Control, Resource

PACK_NAME = "mlops-kit-cis"


def _description(control: Control) -> str:
    return f"{'; '.join(control.cis)}: {control.title}"


def _validate_resource(control: Control):  # type: ignore[no-untyped-def]
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        resource = Resource(args.resource_type, args.name, args.props)
        if control.applies_to(resource):
            for message in control.check(resource):
                report_violation(message, None)

    return validate


def _validate_stack(control: Control):  # type: ignore[no-untyped-def]
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [Resource(r.resource_type, r.name, r.props) for r in args.resources]
        urns = {r.name: r.urn for r in args.resources}
        for resource, message in control.check(resources):
            report_violation(message, urns.get(resource.name) if resource else None)

    return validate


def _level(control: Control) -> EnforcementLevel | None:
    # None: the pack's own level (mandatory).
    return EnforcementLevel.ADVISORY if control.advisory else None


def build_policies() -> list[Policy]:
    """One policy per control of :mod:`infra.policies.controls`, named by the control's id."""
    return [
        StackValidationPolicy(
            name=control.id,
            description=_description(control),
            validate=_validate_stack(control),
            enforcement_level=_level(control),
        )
        if control.stack
        else ResourceValidationPolicy(
            name=control.id,
            description=_description(control),
            validate=_validate_resource(control),
            enforcement_level=_level(control),
        )
        for control in CONTROLS
    ]
