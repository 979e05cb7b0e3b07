"""Performance monitoring: prediction logs, sliced metrics, drift, data health and checks.

- :class:`PredictionLogger` and :func:`log_ground_truth` write the prediction log from a serving
  path (batched, one insert per batch);
- :func:`build_report` computes sliced metrics with intervals, the share of predictions labelled
  so far, metrics estimated from the scores before the labels arrive
  (:mod:`~mlops_kit.monitoring.estimation`), coverage, drift and data health in the warehouse;
  :func:`watched_model` reads the model version's baseline and training data from the registry;
- :func:`run_check` judges a report against a :class:`MonitoringSpec`, stores the run and emits a
  :class:`RetrainingRequest` through the ``mlops_kit.retraining`` entry points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_kit.lazy_imports import attributes_loaded_on_use

if TYPE_CHECKING:
    from mlops_kit.monitoring.check import CheckResult, Pending, evaluate, run_check
    from mlops_kit.monitoring.predictions import PredictionLogger, log_ground_truth
    from mlops_kit.monitoring.report import (
        MonitoringReport,
        WatchedModel,
        build_report,
        watched_model,
    )
    from mlops_kit.monitoring.retraining import RetrainingRequest, retraining_handlers
    from mlops_kit.monitoring.spec import Labels, MonitoringSpec
    from mlops_kit.monitoring.violations import Violation
    from mlops_kit.monitoring.window import Window

__all__ = [
    "CheckResult",
    "Labels",
    "MonitoringReport",
    "MonitoringSpec",
    "Pending",
    "PredictionLogger",
    "RetrainingRequest",
    "Violation",
    "WatchedModel",
    "Window",
    "build_report",
    "evaluate",
    "log_ground_truth",
    "retraining_handlers",
    "run_check",
    "watched_model",
]

# The modules that compute in the warehouse (ibis) load on first use: a submodule as light as the
# table of metrics (:mod:`.metric_table`) is imported without them.
_LOADED_ON_USE = {
    "CheckResult": "check",
    "Pending": "check",
    "evaluate": "check",
    "run_check": "check",
    "PredictionLogger": "predictions",
    "log_ground_truth": "predictions",
    "MonitoringReport": "report",
    "WatchedModel": "report",
    "build_report": "report",
    "watched_model": "report",
    "RetrainingRequest": "retraining",
    "retraining_handlers": "retraining",
    "Labels": "spec",
    "MonitoringSpec": "spec",
    "Violation": "violations",
    "Window": "window",
}

__getattr__ = attributes_loaded_on_use(__name__, _LOADED_ON_USE)
