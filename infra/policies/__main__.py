"""The policy pack: ``pulumi preview --policy-pack infra/policies``.

Each control of :mod:`infra.policies.controls` is one mandatory policy; the functions are the same
ones the offline audit (``mlops-kit infra audit``) runs.
"""

import sys
from pathlib import Path

# The pack runs as a script from this directory; the project root makes ``infra`` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policies.pack import PACK_NAME, build_policies

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=build_policies())
