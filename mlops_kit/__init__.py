"""mlops-kit: data versioning, model versioning, monitoring and continuous training on Google Cloud.

The local twin (DuckDB, local files, SQLite, ``kfp.local``) is the default environment, so everything
runs on one machine with no cloud account; the same code runs against BigQuery, GCS, Cloud SQL and
Kubeflow Pipelines once an environment is imported from a Pulumi stack.
"""

__version__ = "0.1.0"
