"""Who and what produced a record: the acting user and the commit of the code.

Data versions, model versions and alias moves record both, so lineage can name the person and the
exact code behind every change.
"""

from __future__ import annotations

import getpass
import subprocess
from pathlib import Path

UNKNOWN_USER = "unknown"


def current_user() -> str:
    """Who acts: the operating-system user, or ``unknown`` where the system cannot tell."""
    try:
        return getpass.getuser() or UNKNOWN_USER
    except (KeyError, OSError):
        return UNKNOWN_USER


def git_commit(directory: Path | None = None) -> str | None:
    """The commit checked out in ``directory`` (default: the working directory), if it is a repository.

    Returns ``None`` when git is missing, the folder is no repository, or it has no commit yet.
    """
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and len(commit) == 40 else None
