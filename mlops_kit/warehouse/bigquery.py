"""The cloud warehouse: a BigQuery dataset, ``bigquery://PROJECT/DATASET[?location=LOCATION]``."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from typing_extensions import override

from mlops_kit.errors import BackendError, ConfigError, MissingDependencyError
from mlops_kit.warehouse import Warehouse


class BigQueryWarehouse(Warehouse):
    """A warehouse in one BigQuery dataset; google-cloud-bigquery is imported on first use."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        dataset = parts.path.strip("/")
        if not parts.netloc or not dataset or "/" in dataset:
            raise ConfigError(f"malformed BigQuery URI {uri!r}: use 'bigquery://PROJECT/DATASET'")
        self.project = parts.netloc
        self.dataset = dataset
        self.location = parse_qs(parts.query).get("location", [None])[0]

    def client(self) -> Any:
        """A BigQuery client for the warehouse's project."""
        try:
            from google.cloud import bigquery
        except ImportError as exc:
            raise MissingDependencyError.for_module(
                "google-cloud-bigquery", "gcp", "the BigQuery warehouse"
            ) from exc
        return bigquery.Client(project=self.project, location=self.location)

    @override
    def check(self) -> str:
        client = self.client()
        from google.api_core import exceptions as google_errors
        from google.auth import exceptions as auth_errors

        try:
            dataset = client.get_dataset(f"{self.project}.{self.dataset}")
        except auth_errors.DefaultCredentialsError as exc:
            raise BackendError(
                "no Google credentials for BigQuery: run `gcloud auth application-default login`"
            ) from exc
        except google_errors.GoogleAPICallError as exc:
            raise BackendError(
                f"cannot reach BigQuery dataset {self.project}.{self.dataset}: {exc.message}"
            ) from exc
        return f"BigQuery dataset {dataset.full_dataset_id} in {dataset.location}"
