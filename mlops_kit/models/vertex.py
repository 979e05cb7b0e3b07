"""Mirroring ready versions to the Vertex AI Model Registry.

Environments with ``vertex_model_registry: true`` mirror every version once it is ready. The kit's
registry stays the source of truth; Vertex gets a copy of each ready version so it can be deployed
to a Vertex endpoint. The first mirrored version creates the Vertex model (its id derived
from the model name); later ones are uploaded as new versions of it (``parent_model``), each with the
alias ``vN`` so the two registries' numbers can be matched. google-cloud-aiplatform is imported only
here, when a version is mirrored.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from mlops_kit.db.models.registry import ModelTag, ModelVersionRow, RegisteredModel
from mlops_kit.environments import Environment
from mlops_kit.errors import BackendError, ConfigError, MissingDependencyError, first_line
from mlops_kit.kit import Kit
from mlops_kit.models.lookup import get_version
from mlops_kit.models.names import ModelRef, as_ref
from mlops_kit.models.versions import ModelVersion

VERTEX_TAG = "vertex.model"
"""The tag that records the Vertex model resource a version was mirrored to."""

SERVING_IMAGES = {"sklearn": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"}
"""Vertex AI's prebuilt prediction container per flavour (it loads ``model.joblib``)."""


def vertex_model_id(name: str) -> str:
    """The Vertex model id of a kit model: lower-case letters, digits and dashes, 63 at most."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"m-{cleaned}"
    return cleaned[:63].rstrip("-")


def _label(value: str) -> str:
    # Vertex labels: lower-case letters, digits, '_' and '-', at most 63 characters.
    return re.sub(r"[^a-z0-9_-]+", "-", value.lower())[:63]


def upload_request(
    environment: Environment,
    version: ModelVersion,
    *,
    parent_model: str | None = None,
    serving_image: str | None = None,
) -> Any:
    """The ``UploadModelRequest`` that mirrors ``version`` (no network is used).

    Raises:
        ConfigError: the environment has no project or region, the artifacts are not in GCS, or no
            serving image is known for the version's flavour.
    """
    from google.cloud import aiplatform_v1

    if not environment.project or not environment.region:
        raise ConfigError(
            f"environment {environment.name!r} sets no project/region: Vertex AI needs both "
            "(re-import it with `mlops-kit env import`)"
        )
    if not version.artifact_uri.startswith("gs://"):
        raise ConfigError(
            f"{version.ref} is stored at {version.artifact_uri}: Vertex AI reads models from gs:// only"
        )
    image = serving_image or SERVING_IMAGES.get(version.flavor or "")
    if image is None:
        raise ConfigError(
            f"no Vertex serving image is known for flavour {version.flavor!r} of {version.ref}: "
            "pass one explicitly"
        )
    parent = f"projects/{environment.project}/locations/{environment.region}"
    model = aiplatform_v1.Model(
        display_name=version.name,
        description=f"Mirror of {version.ref} from the mlops-kit registry",
        version_description=f"{version.ref}, data {', '.join(version.datasets) or '-'}",
        artifact_uri=version.artifact_uri,
        container_spec=aiplatform_v1.ModelContainerSpec(image_uri=image),
        version_aliases=[f"v{version.version}"],
        labels={
            **{_label(k): _label(v) for k, v in environment.labels.items()},
            "mlops-kit-model": _label(version.name),
            "mlops-kit-version": str(version.version),
        },
    )
    request = aiplatform_v1.UploadModelRequest(parent=parent, model=model)
    if parent_model:
        request.parent_model = parent_model
    else:
        request.model_id = vertex_model_id(version.name)
    return request


def _mirrored_parent(kit: Kit, name: str) -> str | None:
    """The Vertex model an earlier version of ``name`` was mirrored to, if any."""
    with kit.metadata.session() as session:
        resource = session.scalars(
            select(ModelTag.value)
            .join(ModelVersionRow, ModelVersionRow.id == ModelTag.version_id)
            .join(RegisteredModel)
            .where(RegisteredModel.name == name, ModelTag.key == VERTEX_TAG)
            .order_by(ModelVersionRow.version.desc())
            .limit(1)
        ).first()
    return None if resource is None else resource.partition("@")[0]


def mirror_to_vertex(
    kit: Kit,
    ref: ModelRef | str,
    *,
    serving_image: str | None = None,
    client: Any = None,
) -> str:
    """Upload ready version ``ref`` to the Vertex AI Model Registry and tag it with the resource.

    Args:
        kit: an environment with ``vertex_model_registry: true``.
        ref: the version.
        serving_image: the prediction container (default: Vertex's prebuilt one for the flavour).
        client: a ``ModelServiceClient`` (default: one for the environment's region).

    Returns:
        The Vertex model resource name of the new version.

    Raises:
        ConfigError: the environment does not mirror to Vertex, or cannot (see :func:`upload_request`).
        MissingDependencyError: google-cloud-aiplatform is not installed.
        BackendError: Vertex AI refused the upload or is unreachable.
    """
    environment = kit.environment
    if not environment.vertex_model_registry:
        raise ConfigError(
            f"environment {environment.name!r} does not mirror to Vertex AI "
            "(set vertex_model_registry: true in its file)"
        )
    try:
        from google.cloud import aiplatform_v1
    except ImportError as exc:
        raise MissingDependencyError.for_module(
            "google-cloud-aiplatform", "vertex", "mirroring to the Vertex AI Model Registry"
        ) from exc
    version = get_version(kit, as_ref(ref))
    request = upload_request(
        environment,
        version,
        parent_model=_mirrored_parent(kit, version.name),
        serving_image=serving_image,
    )
    if client is None:
        client = aiplatform_v1.ModelServiceClient(
            client_options={"api_endpoint": f"{environment.region}-aiplatform.googleapis.com"}
        )
    try:
        response = client.upload_model(request=request).result(timeout=1800)
    except Exception as exc:
        raise BackendError(
            f"Vertex AI did not accept {version.ref}: {first_line(exc)} (retry with "
            f"`mlops-kit models mirror {version.ref}`)"
        ) from exc
    resource = f"{response.model}@{response.model_version_id}"
    with kit.metadata.session() as session:
        version_id = session.scalars(
            select(ModelVersionRow.id)
            .join(RegisteredModel)
            .where(RegisteredModel.name == version.name, ModelVersionRow.version == version.version)
        ).one()
        session.merge(ModelTag(version_id=version_id, key=VERTEX_TAG, value=resource))
    return resource
