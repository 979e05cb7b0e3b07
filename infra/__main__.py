"""Entry point of ``pulumi up``/``preview``: read the stack's config once, declare, export."""

import sys
from pathlib import Path

# Pulumi runs this directory as a script; the project root makes ``infra`` importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra.config import check_one_environment_per_project, load_config, stack_projects
from infra.program import program

_config = load_config()
check_one_environment_per_project(
    _config.environment,
    _config.project,
    stack_projects(Path(__file__).resolve().parent.parent / "environments"),
)
for _key, _value in program(_config).items():
    pulumi.export(_key, _value)
