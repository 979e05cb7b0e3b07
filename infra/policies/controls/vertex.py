"""Vertex AI: the endpoint that serves the models of an environment without a cluster.

Beyond CIS, as the storage, SQL and BigQuery sections require of their data: the endpoint and
the models deployed to it are encrypted with a customer-managed key.
"""

from __future__ import annotations

from infra.policies.controls.registry import Section, Setting
from infra.policies.controls.resources import VERTEX_ENDPOINT

SECTION = Section("Vertex AI")

SECTION.settings(
    Setting(
        "vertex-endpoint-cmek",
        ["hardening (CMEK)"],
        "Endpoints encrypted with customer-managed keys",
        VERTEX_ENDPOINT,
        "encryptionSpec.kmsKeyName",
        problem="no encryptionSpec.kmsKeyName: the endpoint and its models use Google-managed keys "
        "(CMEK)",
    ),
)
