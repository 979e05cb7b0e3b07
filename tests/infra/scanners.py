"""The scanners' own virtual environment: ``python -m tests.infra.scanners`` builds it once.

checkov pins its dependency ranges, which clash with the kit's ``constraints.txt``, so it lives in
``.venv-scanners/`` (ignored by git), built from ``tests/infra/requirements-scanners.txt`` and built
again when that file changes. ``.ci/run`` builds it before the suite, so no test pays for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("requirements-scanners.txt")
VENV = ROOT / ".venv-scanners"
CHECKOV = VENV / "bin" / "checkov"
_BUILT_FROM = VENV / "requirements-scanners.txt"


def checkov_ready() -> bool:
    """Whether checkov is installed from the current requirements."""
    return (
        CHECKOV.is_file()
        and _BUILT_FROM.is_file()
        and _BUILT_FROM.read_text(encoding="utf-8") == REQUIREMENTS.read_text(encoding="utf-8")
    )


def build() -> bool:
    """Build the scanners' environment unless it is current; whether checkov is then ready."""
    if checkov_ready():
        return True
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    installed = subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
        check=False,
    )
    if installed.returncode == 0:
        _BUILT_FROM.write_text(REQUIREMENTS.read_text(encoding="utf-8"), encoding="utf-8")
    return checkov_ready()


@dataclass(frozen=True)
class Finding:
    """One failed checkov check on one resource of one plan file."""

    file: str
    check_id: str
    resource: str
    check_name: str


def run_checkov(plans: list[Path]) -> list[Finding]:
    """Failed checks of checkov's Terraform-plan framework on ``plans`` (one run for all)."""
    args = [str(CHECKOV), "--framework", "terraform_plan", "--output", "json", "--compact"]
    for plan in plans:
        args += ["--file", str(plan)]
    # Offline: no policy download from the vendor's platform, no guideline lookups.
    args += ["--skip-download", "--quiet"]
    environ = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    completed = subprocess.run(
        args, capture_output=True, text=True, check=False, env=environ, timeout=600
    )
    # Exit 1 means "checks failed"; anything else, or no report, is checkov itself failing.
    if completed.returncode not in (0, 1) or not completed.stdout.strip():
        raise RuntimeError(f"checkov failed ({completed.returncode}): {completed.stderr[-2000:]}")
    reports = json.loads(completed.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    # A run without findings prints only a summary, with no results.
    return [
        Finding(Path(f["file_path"]).name, f["check_id"], f["resource"], f["check_name"])
        for report in reports
        for f in report.get("results", {}).get("failed_checks", [])
    ]


if __name__ == "__main__":
    sys.exit(0 if build() else 1)
