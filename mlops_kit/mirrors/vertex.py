"""The Vertex AI Model Registry as a registry mirror, ``vertex://PROJECT/LOCATION``.

The first mirrored version of a model creates the Vertex model (its id derived from the model
name); later ones are uploaded as new versions of it (``parent_model``), each with the alias ``vN``
so the two registries' numbers can be matched. google-cloud-aiplatform is imported only when a
version is mirrored. ``?api_endpoint=HOST`` reaches Vertex AI through another endpoint (a Private
Service Connect address, for example) instead of ``LOCATION-aiplatform.googleapis.com``.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Final

from typing_extensions import override

from mlops_kit.backends import two_part_uri
from mlops_kit.errors import BackendError, ConfigError, first_line
from mlops_kit.gcp import (
    google_errors,
    require_google_credentials,
    vertex_api_endpoint,
    vertex_label,
    vertex_sdk,
)
from mlops_kit.mirrors import MirroredVersion, RegistryMirror

SKLEARN_SERVING_VERSIONS: Final = (
    "0.20",
    "0.22",
    "0.23",
    "0.24",
    "1.0",
    "1.2",
    "1.3",
    "1.4",
    "1.5",
    "1.6",
)
"""The scikit-learn releases with a prebuilt Vertex AI prediction container (``sklearn-cpu.X-Y``,
which loads ``model.joblib``), as google-cloud-aiplatform 1.x lists them. A model unpickled by
another release of scikit-learn may fail or predict differently: the release must match."""

_PURPOSE = "mirroring to the Vertex AI Model Registry"


def _multi_region(location: str) -> str:
    """The Artifact Registry multi-region of Vertex AI's prebuilt containers nearest ``location``."""
    prefix = location.split("-", 1)[0]
    return prefix if prefix in ("europe", "asia") else "us"


def vertex_model_id(name: str) -> str:
    """The Vertex model id of a kit model: lower-case letters, digits and dashes, 63 at most."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"m-{cleaned}"
    return cleaned[:63].rstrip("-")


class VertexModelRegistry(RegistryMirror):
    """Mirrors ready versions to the Vertex AI Model Registry of one project and location."""

    tag = "vertex.model"

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.project, self.location = two_part_uri(
            uri, "registry mirror", "vertex://PROJECT/LOCATION"
        )
        self.api_endpoint = vertex_api_endpoint(uri, self.location)

    def client(self, credentials: Any = None) -> Any:
        """A ``ModelServiceClient`` for the mirror's endpoint.

        Args:
            credentials: Google credentials; default: the application default credentials.
        """
        return vertex_sdk(_PURPOSE).ModelServiceClient(
            credentials=credentials, client_options={"api_endpoint": self.api_endpoint}
        )

    @cached_property
    def _client(self) -> Any:
        return self.client()

    @override
    def check(self) -> str:
        require_google_credentials("Vertex AI", package="google-cloud-aiplatform", extra="vertex")
        return f"Vertex AI Model Registry in {self.project}/{self.location}"

    def serving_image(self, version: MirroredVersion) -> str:
        """The prebuilt prediction container for the framework release ``version`` was trained with.

        Raises:
            ConfigError: the flavour has no prebuilt container, or none is built for the recorded
                release of its framework.
        """
        if version.flavor != "sklearn":
            raise ConfigError(
                f"no Vertex serving image is known for flavour {version.flavor!r} of {version.ref}: "
                "pass one with --serving-image"
            )
        release = version.packages.get("scikit-learn")
        minor = ".".join((release or "").split(".")[:2])
        if minor not in SKLEARN_SERVING_VERSIONS:
            trained = f"scikit-learn {release}" if release else "no recorded scikit-learn release"
            raise ConfigError(
                f"no Vertex serving image for {version.ref} ({trained}): Vertex AI builds "
                f"sklearn-cpu images for {', '.join(SKLEARN_SERVING_VERSIONS)}; train with one "
                "of them or pass a matching image with --serving-image"
            )
        return (
            f"{_multi_region(self.location)}-docker.pkg.dev/vertex-ai/prediction/"
            f"sklearn-cpu.{minor.replace('.', '-')}:latest"
        )

    def upload_request(self, version: MirroredVersion) -> Any:
        """The ``UploadModelRequest`` that mirrors ``version`` (no network is used).

        Raises:
            ConfigError: the artifacts are not in GCS, or no serving image is known for the
                version's flavour.
        """
        aiplatform_v1 = vertex_sdk(_PURPOSE)
        if not version.artifact_uri.startswith("gs://"):
            raise ConfigError(
                f"{version.ref} is stored at {version.artifact_uri}: Vertex AI reads models from "
                "gs:// only"
            )
        image = version.serving_image or self.serving_image(version)
        model = aiplatform_v1.Model(
            display_name=version.name,
            description=f"Mirror of {version.ref} from the mlops-kit registry",
            version_description=f"{version.ref}, data {', '.join(version.datasets) or '-'}",
            artifact_uri=version.artifact_uri,
            container_spec=aiplatform_v1.ModelContainerSpec(image_uri=image),
            version_aliases=[f"v{version.version}"],
            labels={
                **{vertex_label(k): vertex_label(v) for k, v in version.labels.items()},
                "mlops-kit-model": vertex_label(version.name),
                "mlops-kit-version": str(version.version),
            },
        )
        request = aiplatform_v1.UploadModelRequest(
            parent=f"projects/{self.project}/locations/{self.location}", model=model
        )
        if version.previous:
            # A recorded resource is MODEL@VERSION; the new version joins MODEL.
            request.parent_model = version.previous.partition("@")[0]
        else:
            request.model_id = vertex_model_id(version.name)
        return request

    @override
    def _mirror(self, version: MirroredVersion) -> str:
        request = self.upload_request(version)
        try:
            response = self._client.upload_model(request=request).result(timeout=1800)
        except google_errors() as exc:
            raise BackendError(
                f"Vertex AI did not accept {version.ref}: {first_line(exc)} (retry with "
                f"`mlops-kit models mirror {version.ref}`)"
            ) from exc
        return f"{response.model}@{response.model_version_id}"
