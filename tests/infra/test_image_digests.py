"""Locking the digests of the KFP install's images, asked of a registry on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from infra.components.kubeflow_manifests import (
    PROXY_IMAGE,
    RELEASES,
    digest_lock,
    install_overlay,
    locked_digests,
)
from infra.image_digests import DigestLookupError, ImageReference, resolve_digest
from infra.kubeflow_inventory import applied_objects, images, main, tagged_images
from tests.cloud_twin.registry import FakeRegistry, digest_of
from tests.infra.test_kubeflow_manifests import SETTINGS

COMMIT = RELEASES["2.5.0"]
HOSTS = ("ghcr.io", "gcr.io", "quay.io")
API = "ghcr.io/kubeflow/kfp-api-server:2.5.0"


def _repositories(references: Iterable[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for reference in references:
        image = ImageReference.parse(reference)
        found.setdefault(image.repository, set()).add(image.tag)
    return found


def _digest(reference: str) -> str:
    image = ImageReference.parse(reference)
    return digest_of(image.repository, image.tag)


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    server = FakeRegistry(_repositories(tagged_images(COMMIT))).start()
    yield server
    server.stop()


def _lock(url: str, output: Path) -> int:
    # Every registry of the install answers from the loopback registry (a mirror mapping).
    mirrors = [arg for host in HOSTS for arg in ("--registry", f"{host}={url}")]
    return main(["lock-digests", "--version", "2.5.0", *mirrors, "--output", str(output)])


def test_the_lock_command_pins_every_image_of_the_install(
    registry: FakeRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _lock(registry.url, tmp_path) == 0
    lock = json.loads(digest_lock(COMMIT, tmp_path).read_text(encoding="utf-8"))
    # KFP's, Argo's, ML Metadata's and MinIO's images (both databases), and the program's proxy.
    assert len(lock) == 15 and {API, PROXY_IMAGE} <= set(lock)
    assert lock == {reference: _digest(reference) for reference in tagged_images(COMMIT)}
    # The anonymous pull: challenged, a token for the repository's pull scope, then the manifest.
    api = [(method, target) for method, target in registry.requests if "kfp-api-server" in target]
    assert [method for method, _target in api] == ["HEAD", "GET", "HEAD"]
    assert api[1][1].startswith("/token?scope=repository%3Akubeflow%2Fkfp-api-server%3Apull")
    assert "15 images of KFP 2.5.0 locked by digest" in capsys.readouterr().out


def test_the_lock_is_read_back_and_a_tampered_one_is_refused_in_one_line(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    assert locked_digests("2.5.0") == {}  # the committed lock: nothing resolved offline
    assert _lock(registry.url, tmp_path) == 0
    assert locked_digests("2.5.0", tmp_path)[API] == _digest(API)
    digest_lock(COMMIT, tmp_path).write_text(json.dumps({API: "latest"}), encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"kfp-api-server:2.5.0 is locked to 'latest', not a sha256"
    ):
        locked_digests("2.5.0", tmp_path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not a JSON object of image"),
        ("[]", "not a JSON object of image"),
        (json.dumps({API: "latest"}), "is locked to 'latest', not a sha256 digest"),
    ],
)
def test_the_audit_refuses_a_broken_lock_in_one_line(
    text: str,
    problem: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import infra.components.kubeflow_manifests as manifests
    from infra.audit import main as audit

    lock = digest_lock(COMMIT, tmp_path)
    lock.write_text(text, encoding="utf-8")
    monkeypatch.setattr(manifests, "digest_lock", lambda commit, directory: lock)
    assert audit(["audit", "--env", "prod", "--format", "json"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {lock}: ")
    assert problem in error
    assert "lock-digests again" in error
    assert error.count("\n") == 1


def test_the_overlay_pins_locked_images_and_leaves_the_others_on_their_tag() -> None:
    digests = {API: _digest(API), PROXY_IMAGE: _digest(PROXY_IMAGE)}
    settings = replace(SETTINGS, digests=digests)
    # The proxy is the program's own Deployment, not the manifests': no kustomize entry for it.
    assert install_overlay(settings)["images"] == [
        {"name": "ghcr.io/kubeflow/kfp-api-server", "digest": digests[API]}
    ]
    applied = {o["metadata"]["name"]: images(o) for o in applied_objects(settings) if images(o)}
    assert applied["ml-pipeline"] == [f"ghcr.io/kubeflow/kfp-api-server@{digests[API]}"]
    assert applied["ml-pipeline-ui"] == ["ghcr.io/kubeflow/kfp-frontend:2.5.0"]
    assert "images" not in install_overlay(SETTINGS)  # nothing locked: the overlay as before


@pytest.mark.parametrize(
    "reference",
    [
        "ghcr.io/kubeflow/kfp-api-server:../../v2/_catalog",
        "ghcr.io/../kubeflow/kfp-api-server:2.5.0",
        "ghcr.io/kubeflow/kfp-api-server:2.5.0?n=1",
        "ghcr.io/Kubeflow/kfp-api-server:2.5.0",
        "",
    ],
)
def test_a_malformed_reference_never_reaches_the_registry(
    registry: FakeRegistry, reference: str
) -> None:
    with httpx.Client() as client, pytest.raises(DigestLookupError) as raised:
        resolve_digest(reference, client, {"ghcr.io": registry.url})
    message = str(raised.value)
    assert message.startswith(f"{reference}: not an image reference") and "\n" not in message
    assert message.endswith("fix the reference")
    assert registry.requests == []


def test_an_unknown_tag_fails_in_one_line_and_locks_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repositories = _repositories(tagged_images(COMMIT))
    repositories["kubeflow/kfp-frontend"] = {"2.4.0"}  # not the tag the manifests name
    server = FakeRegistry(repositories).start()
    try:
        assert _lock(server.url, tmp_path) == 1
    finally:
        server.stop()
    error = capsys.readouterr().err
    assert error == (
        "error: ghcr.io/kubeflow/kfp-frontend:2.5.0: ghcr.io has no manifest for tag '2.5.0' of "
        "kubeflow/kfp-frontend (HTTP 404); check the tag in the vendored manifests\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_registry_fails_in_one_line_naming_the_mirror_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = FakeRegistry({}).start()
    url = server.url
    server.stop()  # the port is closed: the registry is down
    assert _lock(url, tmp_path) == 1
    error = capsys.readouterr().err
    assert error.startswith(
        f"error: {PROXY_IMAGE}: registry gcr.io at {url} is unreachable ("
    ) and error.endswith("map it to a reachable mirror with --registry gcr.io=URL\n")
    assert error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_without_the_digest_header_the_digest_is_the_hash_of_the_manifest() -> None:
    server = FakeRegistry(_repositories([API]), digest_header=False).start()
    try:
        with httpx.Client() as client:
            assert resolve_digest(API, client, {"ghcr.io": server.url}) == _digest(API)
    finally:
        server.stop()
    assert [method for method, _target in server.requests] == ["HEAD", "GET", "HEAD", "GET"]


def test_a_registry_mapping_must_be_host_equals_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["lock-digests", "--registry", "ghcr.io"])
    assert raised.value.code == 2
    assert "'ghcr.io' is not HOST=URL" in capsys.readouterr().err
