"""Model flavours: how a registered artifact is recognised, loaded and asked for predictions.

A flavour is recognised from the artifact's file names at registration (recorded on the version) and
loads the downloaded, verified files later. scikit-learn models saved with joblib come first; another
framework implements :class:`ModelFlavor` and is added with :func:`register_flavor`.

Loading a pickle runs code from the artifact: load only versions of a registry you trust.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from typing_extensions import override

from mlops_kit.errors import ConfigError, MissingDependencyError


class LoadedModel(ABC):
    """A model in memory that predicts one label per row."""

    @property
    @abstractmethod
    def features(self) -> list[str] | None:
        """The input columns the model expects, in order (``None`` when it does not say)."""

    @abstractmethod
    def predict(self, frame: Any) -> list[Any]:
        """Predict one label per row of ``frame`` (which may hold more columns than the features).

        Raises:
            ConfigError: a feature column is missing from ``frame``.
        """

    def predict_scored(self, frame: Any) -> tuple[list[Any], list[float] | None]:
        """Predict one label per row, with the probability of the positive class of a two-class model.

        Returns:
            The labels, and the scores (``None`` when the model gives no probabilities).

        Raises:
            ConfigError: a feature column is missing from ``frame``.
        """
        return self.predict(frame), None

    def select_features(self, frame: Any) -> Any:
        """The feature columns of ``frame``, in the model's order.

        Raises:
            ConfigError: a feature column is missing.
        """
        if self.features is None:
            return frame
        missing = [name for name in self.features if name not in frame.columns]
        if missing:
            raise ConfigError(
                f"the data lacks the model's feature columns {missing}: compare on data with the "
                "training schema"
            )
        return frame[self.features]


class ModelFlavor(ABC):
    """A kind of model artifact."""

    name: str

    @abstractmethod
    def matches(self, paths: Sequence[str]) -> bool:
        """Whether an artifact with these relative file paths is of this flavour."""

    @abstractmethod
    def load(self, directory: Path) -> LoadedModel:
        """Load the artifact downloaded into ``directory``.

        Raises:
            MissingDependencyError: the framework is not installed.
            ConfigError: the directory does not hold a model of this flavour.
        """


class SklearnModel(LoadedModel):
    """A scikit-learn estimator or pipeline."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    @property
    @override
    def features(self) -> list[str] | None:
        names = getattr(self.estimator, "feature_names_in_", None)
        return None if names is None else [str(name) for name in names]

    @override
    def predict(self, frame: Any) -> list[Any]:
        return list(self.estimator.predict(self.select_features(frame)).tolist())

    @override
    def predict_scored(self, frame: Any) -> tuple[list[Any], list[float] | None]:
        classes = getattr(self.estimator, "classes_", None)
        if classes is None or len(classes) != 2 or not hasattr(self.estimator, "predict_proba"):
            return self.predict(frame), None
        import numpy as np

        scores = self.estimator.predict_proba(self.select_features(frame))[:, 1]
        # One pass for both: of two classes, predict() returns the more probable one.
        labels = np.where(scores > 0.5, classes[1], classes[0])
        return labels.tolist(), scores.tolist()


class SklearnFlavor(ModelFlavor):
    """scikit-learn models saved with ``joblib.dump`` as ``*.joblib``."""

    name = "sklearn"

    @override
    def matches(self, paths: Sequence[str]) -> bool:
        return any(path.endswith(".joblib") for path in paths)

    @override
    def load(self, directory: Path) -> LoadedModel:
        try:
            import joblib
        except ImportError as exc:
            raise MissingDependencyError.for_module(
                "joblib", "sklearn", "loading a scikit-learn model"
            ) from exc
        candidates = sorted(
            directory.rglob("*.joblib"), key=lambda p: (p.name != "model.joblib", p)
        )
        if not candidates:
            raise ConfigError(f"no *.joblib file in {directory}: not a scikit-learn artifact")
        return SklearnModel(joblib.load(candidates[0]))


FLAVORS: dict[str, ModelFlavor] = {}


def register_flavor(flavor: ModelFlavor) -> None:
    """Make ``flavor`` known (a later registration of the same name replaces the earlier)."""
    FLAVORS[flavor.name] = flavor


register_flavor(SklearnFlavor())


def detect_flavor(paths: Sequence[str]) -> str | None:
    """The name of the first flavour that recognises an artifact with these file paths."""
    return next((name for name, flavor in FLAVORS.items() if flavor.matches(paths)), None)


def flavor_named(name: str | None) -> ModelFlavor:
    """The flavour called ``name``.

    Raises:
        ConfigError: no flavour of that name (or the version recorded none).
    """
    if name is None or name not in FLAVORS:
        known = ", ".join(sorted(FLAVORS))
        raise ConfigError(
            f"no model flavour {name!r} can load this version (known: {known}): it was registered "
            "without a recognised model file such as model.joblib"
        )
    return FLAVORS[name]
