"""Entry point of ``pulumi up``/``preview``: read the stack's config once, declare, export."""

import sys
from pathlib import Path

# Pulumi runs this directory as a script; the project root makes ``infra`` importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra.config import load_config
from infra.program import program

for _key, _value in program(load_config()).items():
    pulumi.export(_key, _value)
