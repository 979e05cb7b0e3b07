"""Train the classifier: gradient-boosted trees on one-hot categories and raw numbers."""

# No postponed annotations: KFP reads this signature.
from kfp.dsl import Model, Output


def train_model(
    environment: str, dataset_ref: str, target: str, params: str, model: Output[Model]
) -> str:
    """Fit the model on the training rows of ``dataset_ref``.

    Args:
        environment: the environment, secrets hidden (given by the kit).
        dataset_ref: the data version to train on (``churn@3``).
        target: the label column.
        params: training parameters, as JSON: ``exclude`` (columns that are not features;
            timestamps never are),
            ``max_iter``, ``learning_rate``.
        model: where the fitted scikit-learn pipeline is written (joblib).

    Returns:
        One line: what was trained on what.
    """
    import json

    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from mlops_kit import data
    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit
    from mlops_kit.pipelines.evaluation import holdout_split

    settings = json.loads(params or "{}")
    with Kit(Environment.from_run_parameter(environment)) as kit:
        frame = data.load(kit, dataset_ref, as_="pandas")
    training, _ = holdout_split(frame, target)
    features = training.drop(columns=[target, *settings.get("exclude", [])])
    # Timestamps are not features: the dates a model learns never come back. What matters of them
    # (the hour of the day, the day of the week) belongs in columns of its own.
    features = features.select_dtypes(exclude=["datetime", "datetimetz"])
    categorical = [c for c in features.columns if features[c].dtype.kind in "OSUb"]
    numeric = [c for c in features.columns if c not in categorical]
    pipeline = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
                        ("numeric", "passthrough", numeric),
                    ],
                    sparse_threshold=0.0,
                ),
            ),
            (
                "classifier",
                HistGradientBoostingClassifier(
                    max_iter=int(settings.get("max_iter", 150)),
                    learning_rate=float(settings.get("learning_rate", 0.1)),
                    random_state=0,
                ),
            ),
        ]
    )
    pipeline.fit(features, training[target])
    joblib.dump(pipeline, model.path)
    model.metadata["framework"] = "sklearn"
    message = f"trained on {len(training)} rows of {dataset_ref}, {len(features.columns)} features"
    print(f"train: {message}")
    return message
