"""One ``ComponentResource`` per concern of an environment."""

from __future__ import annotations

from typing import Any

import pulumi


def child_options(
    parent: pulumi.Resource, opts: pulumi.ResourceOptions | None, **extra: Any
) -> pulumi.ResourceOptions:
    """Options of a component's child: parented, and waiting for what the component waits for.

    Children do not inherit ``depends_on`` from their component; the program makes components
    depend on the APIs they use, so every child must wait for those APIs itself.
    """
    depends_on = opts.depends_on if opts is not None else None
    return pulumi.ResourceOptions(parent=parent, depends_on=depends_on, **extra)
