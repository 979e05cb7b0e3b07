"""Cost attribution: the labels every resource that takes labels carries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from infra.policies.controls.registry import Section
from infra.policies.controls.resources import (
    LABEL_PATHS,
    REQUIRED_LABELS,
    Resource,
    get,
)

SECTION = Section("cost attribution")


@SECTION.resource_control(
    "labels-required",
    ["cost attribution"],
    "Labels env, team and cost-center on every resource that takes labels",
    *LABEL_PATHS,
)
def labels_required(resource: Resource) -> Iterator[str]:
    labels = get(resource.props, LABEL_PATHS[resource.type], {})
    missing = [k for k in REQUIRED_LABELS if not (isinstance(labels, Mapping) and labels.get(k))]
    if missing:
        yield f"missing labels {', '.join(missing)} ({LABEL_PATHS[resource.type]})"
