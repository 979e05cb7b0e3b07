"""Data versioning: immutable dataset versions, their profiles, and diffs that find what broke.

A version is a numbered, immutable copy of a dataset in the warehouse (a Parquet file on the local
twin, an integer-range partition in BigQuery) plus a manifest in the metadata database: schema, row
count, content fingerprint, source, storage location, who/when, git commit, description and tags.

- :func:`snapshot` creates a version (or returns the existing one when the content is identical);
  :class:`VersionDetails` holds what its manifest records besides the data (:mod:`.snapshots`);
- :func:`get_version`, :func:`list_versions` read manifests (:mod:`.versions`); :func:`load` reads
  the data back (:mod:`.loading`);
- :func:`profile` returns the per-column statistics that :func:`snapshot` computed and stored with
  the manifest (:mod:`.profiles`);
- :func:`diff` compares two versions (or a version and a file) and returns a :class:`DatasetDiff`
  (:mod:`.diffs`), whose :meth:`~DatasetDiff.violations` apply the ``--fail-on`` rules of
  :data:`RULES` (:mod:`.rules`), and :func:`diff_page` shows it as an HTML page (:mod:`.html`);
- :func:`collect_garbage` removes stored data that no version references (:mod:`.garbage`).

References are ``NAME@V``, ``NAME@latest`` or a bare ``NAME`` (latest); see :class:`DatasetRef`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_kit.data.refs import DatasetRef, check_dataset_name
from mlops_kit.data.rules import RULES, Rule, RuleKind, parse_rules
from mlops_kit.lazy_imports import attributes_loaded_on_use

if TYPE_CHECKING:
    from mlops_kit.data.diffs import DatasetDiff, diff
    from mlops_kit.data.garbage import STAGING_GRACE, collect_garbage
    from mlops_kit.data.html import diff_page
    from mlops_kit.data.loading import LoadFormat, load
    from mlops_kit.data.profiles import profile
    from mlops_kit.data.snapshots import VersionDetails, snapshot
    from mlops_kit.data.versions import DatasetVersion, get_version, list_versions, stored_table

__all__ = [
    "RULES",
    "STAGING_GRACE",
    "DatasetDiff",
    "DatasetRef",
    "DatasetVersion",
    "LoadFormat",
    "Rule",
    "RuleKind",
    "VersionDetails",
    "check_dataset_name",
    "collect_garbage",
    "diff",
    "diff_page",
    "get_version",
    "list_versions",
    "load",
    "parse_rules",
    "profile",
    "snapshot",
    "stored_table",
]

# The modules that reach the metadata database and the warehouse (SQLAlchemy, ibis) load on first
# use: the CLI reads the rule table for its help without paying for them at every start.
_LOADED_ON_USE = {
    "DatasetDiff": "diffs",
    "diff": "diffs",
    "STAGING_GRACE": "garbage",
    "collect_garbage": "garbage",
    "diff_page": "html",
    "LoadFormat": "loading",
    "load": "loading",
    "profile": "profiles",
    "VersionDetails": "snapshots",
    "snapshot": "snapshots",
    "DatasetVersion": "versions",
    "get_version": "versions",
    "list_versions": "versions",
    "stored_table": "versions",
}

__getattr__ = attributes_loaded_on_use(__name__, _LOADED_ON_USE)
