"""The kit as a package an environment serves: its wheel, published to the environment's index.

Projects install mlops-kit from their environment's Python repository alone (its simple index is
the environment's ``kit_index``), never by the bare name from the public index, where anyone may
register it. This module builds the kit's wheel from a source checkout and uploads it with the
upload API every PyPI-compatible repository speaks (the one ``twine`` uses); Artifact Registry's
credentials come from :mod:`mlops_kit.packages.artifact_registry`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Final

from mlops_kit.errors import BackendError, ConfigError, ConflictError, NotFoundError

KIT_DISTRIBUTION: Final = "mlops-kit"
# Artifact Registry takes an OAuth access token as the password of this user name.
TOKEN_USER: Final = "oauth2accesstoken"  # noqa: S105 - a user name, not a secret
_WHEEL_NAME: Final = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-(?P<python>[^-]+)-[^-]+-[^-]+\.whl$"
)


@dataclass(frozen=True)
class Wheel:
    """A built wheel and the metadata its upload declares.

    Attributes:
        path: the ``.whl`` file.
        name: the distribution name (``mlops-kit``).
        version: its version.
        python: the wheel's Python tag (``py3``).
        metadata_version: the version of its core metadata.
    """

    path: Path
    name: str
    version: str
    python: str
    metadata_version: str

    @classmethod
    def read(cls, path: Path) -> Wheel:
        """Read the wheel at ``path``.

        Raises:
            NotFoundError: there is no such file.
            ConfigError: it is not a wheel, or its metadata is unreadable.
        """
        if not path.is_file():
            raise NotFoundError(f"no wheel at {path}: build one with `python -m build --wheel`")
        match = _WHEEL_NAME.match(path.name)
        if not match:
            raise ConfigError(
                f"{path.name} is not a wheel file name (NAME-VERSION-PY-ABI-PLATFORM.whl)"
            )
        try:
            with zipfile.ZipFile(path) as archive:
                info = f"{match['name']}-{match['version']}.dist-info/METADATA"
                headers = HeaderParser().parsestr(archive.read(info).decode("utf-8"))
        except (zipfile.BadZipFile, KeyError) as exc:
            raise ConfigError(f"{path} is not a readable wheel: {exc}") from exc
        return cls(
            path=path,
            name=headers["Name"],
            version=headers["Version"],
            python=match["python"],
            metadata_version=headers["Metadata-Version"],
        )


def upload_url(index: str) -> str:
    """The upload endpoint of the repository whose simple index is ``index``.

    PyPI-compatible repositories (Artifact Registry, pypiserver, devpi) take uploads at the
    repository's root, the parent of its ``simple/`` index.
    """
    return index.removesuffix("simple/")


def source_checkout() -> Path:
    """The kit's source checkout this installation runs from.

    Raises:
        NotFoundError: the kit runs from an installed wheel, which cannot rebuild itself.
    """
    root = Path(__file__).resolve().parents[2]
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        project = {}
    if project.get("project", {}).get("name") != KIT_DISTRIBUTION:
        raise NotFoundError(
            "this mlops-kit is installed from a wheel, not a source checkout: pass the wheel "
            "to publish with --wheel"
        )
    return root


def build_wheel(source: Path, output: Path) -> Wheel:
    """Build the kit's wheel from the checkout ``source`` into ``output`` (``python -m build``).

    Raises:
        MissingDependencyError: the ``build`` frontend is not installed.
        BackendError: the build failed.
    """
    from mlops_kit.backends import import_sdk

    import_sdk("build", package="build", extra="dev", purpose="building the kit's wheel")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(output), str(source)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise BackendError(f"building the wheel in {source} failed: {lines[-1] if lines else '?'}")
    wheels = sorted(output.glob("*.whl"))
    if not wheels:
        raise BackendError(f"building the wheel in {source} produced no wheel in {output}")
    return Wheel.read(wheels[-1])


def publish_wheel(wheel: Wheel, index: str, token: str) -> str:
    """Upload ``wheel`` to the repository whose simple index is ``index``.

    Args:
        wheel: the wheel to publish.
        index: the repository's simple index (an environment's ``kit_index``).
        token: the access token, sent as the password of :data:`TOKEN_USER`.

    Returns:
        The URL the wheel was uploaded to.

    Raises:
        ConflictError: the repository already holds this version (versions are immutable).
        BackendError: the repository refused the upload or is unreachable.
    """
    content = wheel.path.read_bytes()
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": wheel.name,
        "version": wheel.version,
        "filetype": "bdist_wheel",
        "pyversion": wheel.python,
        "metadata_version": wheel.metadata_version,
        "sha256_digest": hashlib.sha256(content).hexdigest(),
    }
    boundary = uuid.uuid4().hex
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    )
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
        f'filename="{wheel.path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    url = upload_url(index)
    credentials = base64.b64encode(f"{TOKEN_USER}:{token}".encode()).decode()
    # kit_index is validated as http(s) when the environment is read.
    request = urllib.request.Request(  # noqa: S310
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Basic {credentials}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=120):  # noqa: S310 - http(s) only
            return url
    except urllib.error.HTTPError as exc:
        said = exc.read().decode("utf-8", "replace").strip().splitlines()
        reason = said[0] if said else exc.reason
        if exc.code == 409 or (exc.code == 400 and "exist" in str(reason).lower()):
            raise ConflictError(
                f"{url} already holds {wheel.name} {wheel.version}: published versions never "
                "change, bump the version in mlops_kit/__init__.py"
            ) from exc
        if exc.code in (401, 403):
            raise BackendError(
                f"{url} refused the upload ({exc.code} {reason}): the credentials need the "
                "writer role on the repository (the deployer's)"
            ) from exc
        raise BackendError(f"{url} refused the upload: {exc.code} {reason}") from exc
    except urllib.error.URLError as exc:
        raise BackendError(f"cannot reach {url}: {exc.reason}") from exc


def publish_kit(index: str, wheel: Path | None = None) -> tuple[Wheel, str]:
    """Publish the kit's wheel to the repository of ``index`` with the application credentials.

    Args:
        index: the repository's simple index (an environment's ``kit_index``).
        wheel: the wheel to publish; default: one built from this source checkout.

    Returns:
        The wheel published and the URL it went to.

    Raises:
        ConfigError: ``wheel`` is not the kit's.
        NotFoundError: no wheel given, and the kit does not run from a source checkout.
        ConflictError: the repository already holds this version.
        BackendError: the build, the credentials or the upload failed.
    """
    import importlib
    import tempfile

    # Imported by name, as the role registries import their backends: only this call needs
    # google-auth.
    credentials = importlib.import_module("mlops_kit.packages.artifact_registry")
    with tempfile.TemporaryDirectory(prefix="mlops-kit-wheel-") as scratch:
        built = Wheel.read(wheel) if wheel else build_wheel(source_checkout(), Path(scratch))
        if built.name != KIT_DISTRIBUTION:
            raise ConfigError(f"{built.path.name} is {built.name}, not {KIT_DISTRIBUTION}")
        return built, publish_wheel(built, index, credentials.access_token())
