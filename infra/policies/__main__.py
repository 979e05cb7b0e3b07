"""The policy pack: ``pulumi preview --policy-pack infra/policies``.

Each control of :mod:`infra.policies.controls` becomes one mandatory policy; the functions are the
same ones the offline audit runs.
"""

import sys
from pathlib import Path

# The pack runs as a script from this directory; the project root makes ``infra`` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policies.controls import CONTROLS, Control, Resource


def _description(control: Control) -> str:
    return f"{'; '.join(control.cis)}: {control.title}"


def _resource_validation(control: Control):  # type: ignore[no-untyped-def]
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        resource = Resource(args.resource_type, args.name, args.props)
        if control.applies_to(resource):
            for message in control.check(resource):
                report_violation(message, None)

    return validate


def _stack_validation(control: Control):  # type: ignore[no-untyped-def]
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [Resource(r.resource_type, r.name, r.props) for r in args.resources]
        by_name = {r.name: r.urn for r in args.resources}
        for resource, message in control.check(resources):
            report_violation(message, by_name.get(resource.name) if resource else None)

    return validate


PolicyPack(
    name="mlops-kit-cis",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(
            name=control.id,
            description=_description(control),
            validate=_stack_validation(control),
        )
        if control.stack
        else ResourceValidationPolicy(
            name=control.id,
            description=_description(control),
            validate=_resource_validation(control),
        )
        for control in CONTROLS
    ],
)
