"""The artifacts role: where model artifacts are stored.

Backends by scheme: ``file://`` (the local twin) and ``gs://BUCKET/PREFIX`` (Google Cloud Storage).
"""

from __future__ import annotations

from mlops_kit.backends import Backend, SchemeRegistry


class ArtifactStore(Backend):
    """An object store for model artifacts, addressed by keys relative to the store's URI."""


ARTIFACT_STORES: SchemeRegistry[ArtifactStore] = SchemeRegistry("artifacts", ArtifactStore)
ARTIFACT_STORES.register(["file"], "mlops_kit.artifacts.local:LocalArtifactStore")
ARTIFACT_STORES.register(["gs"], "mlops_kit.artifacts.gcs:GcsArtifactStore")


def open_artifact_store(uri: str) -> ArtifactStore:
    """Return the artifact store for ``uri``.

    Raises:
        UnknownSchemeError: no backend serves the URI's scheme.
    """
    return ARTIFACT_STORES.resolve(uri)(uri)
