"""Serving settings: flags over Vertex AI's variables over defaults, one-line errors."""

from __future__ import annotations

import pytest

from mlops_kit.errors import ConfigError
from mlops_kit.serving.schema import InputSchema
from mlops_kit.serving.settings import ServingSettings


def test_vertex_variables_set_port_and_routes_and_flags_win() -> None:
    environ = {
        "AIP_HTTP_PORT": "9000",
        "AIP_PREDICT_ROUTE": "/v1/endpoints/1/deployedModels/2:predict",
        "AIP_HEALTH_ROUTE": "/v1/endpoints/1/deployedModels/2",
    }
    settings = ServingSettings.resolve({"port": None}, environ)
    assert settings.port == 9000
    assert settings.predict_route == "/v1/endpoints/1/deployedModels/2:predict"
    assert settings.health_route == "/v1/endpoints/1/deployedModels/2"
    assert ServingSettings.resolve({"port": 8123}, environ).port == 8123
    assert ServingSettings.resolve({}, {}).follow_interval <= 10


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        ({}, {"AIP_HTTP_PORT": "http"}, "--port / $AIP_HTTP_PORT: Input should be a valid integer"),
        (
            {"predict_route": "predict"},
            {},
            "--predict-route / $AIP_PREDICT_ROUTE: 'predict' is not",
        ),
        ({"follow_interval": 0}, {}, "--follow-interval / $MLOPS_KIT_SERVE_FOLLOW_INTERVAL"),
    ],
)
def test_bad_settings_are_one_line_errors(
    flags: dict[str, object], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match="serving setting") as raised:
        ServingSettings.resolve(flags, environ)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_model_without_training_data_takes_its_features_as_any_scalar() -> None:
    schema = InputSchema.for_model(None, ["a", "b"])
    assert schema.describe() == {"a": "scalar", "b": "scalar"}
    assert schema.check([{"a": 1, "b": "x"}]) == [{"a": 1, "b": "x"}]


def test_serve_names_an_unknown_alias_in_one_line(run_cli, local_kit) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("serve", "churn@production")
    assert result.exit_code == 3
    assert "unknown model 'churn'" in result.stderr
