"""A real server process on loopback: predictions, the platforms' routes, refusals, metrics."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from mlops_kit.serving.process import ServerProcess
from tests.serving.conftest import FEATURES, MODEL


def predict(server: ServerProcess, body: Any, route: str = "/predict") -> httpx.Response:
    return httpx.post(f"{server.url}{route}", json=body, timeout=10)


def test_predicts_names_the_version_and_returns_a_request_id_per_instance(
    server: ServerProcess,
) -> None:
    second = FEATURES | {"contract": "two-year", "tenure_months": 60, "customer_id": "c-1"}
    response = predict(server, {"instances": [FEATURES, second]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == MODEL
    assert body["model_version"] == 1
    assert response.headers["x-model-version"] == f"{MODEL}@1"
    assert len(body["predictions"]) == 2
    assert set(body["predictions"]) <= {True, False}
    assert all(0 <= score <= 1 for score in body["scores"])
    # The risky customer is more likely to churn than the loyal one.
    assert body["scores"][0] > body["scores"][1]
    assert len(set(body["request_ids"])) == 2


def test_kserve_v1_routes_answer_for_the_served_model_only(server: ServerProcess) -> None:
    response = predict(server, {"instances": [FEATURES]}, f"/v1/models/{MODEL}:predict")
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == 1
    metadata = httpx.get(f"{server.url}/v1/models/{MODEL}", timeout=5)
    assert metadata.json() == {"name": MODEL, "ready": True, "version": 1}
    other = predict(server, {"instances": [FEATURES]}, "/v1/models/other:predict")
    assert other.status_code == 404
    assert "serves model 'churn', not 'other'" in other.json()["error"]


def test_liveness_readiness_and_the_inputs_it_expects(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/live", timeout=5).json() == {"alive": True}
    ready = httpx.get(f"{server.url}/ready", timeout=5).json()
    assert ready["ready"] is True
    assert ready["following"] == f"{MODEL}@production"
    assert ready["failed_version"] is None
    # The model's features (required) first, then what else the training data held.
    assert ready["inputs"] == {
        "contract": "text",
        "region": "text",
        "tenure_months": "integer",
        "monthly_charges": "number",
        "support_calls": "integer",
        "customer_id": "text",
        "churned": "boolean",
    }


def without(name: str) -> dict[str, Any]:
    return {key: value for key, value in FEATURES.items() if key != name}


BAD_INSTANCES = {
    "missing feature": ([without("tenure_months")], "instance 0: missing feature 'tenure_months'"),
    "unknown field": ([FEATURES | {"colour": "red"}], "instance 0: unknown field 'colour'"),
    "text for an integer": (
        [FEATURES, FEATURES | {"tenure_months": "ten"}],
        "instance 1: field 'tenure_months' must be a 64-bit integer, got text 'ten'",
    ),
    "boolean for a number": (
        [FEATURES | {"monthly_charges": True}],
        "field 'monthly_charges' must be a finite number, got a boolean",
    ),
    "number for text": (
        [FEATURES | {"contract": 1}],
        "field 'contract' must be text, got a number",
    ),
    "null text": ([FEATURES | {"region": None}], "field 'region' must be text, got null"),
    "integer out of range": (
        [FEATURES | {"tenure_months": 10**30}],
        "field 'tenure_months' must be a 64-bit integer",
    ),
    "nested value": ([FEATURES | {"support_calls": [1]}], "got an array"),
    "instance not an object": ([[1, 2, 3]], "instance 0 is an array"),
    "path in a field name": (
        [FEATURES | {"../../etc/passwd": 1}],
        "unknown field '../../etc/passwd'",
    ),
    "markup in a field name": (
        [FEATURES | {"<script>alert(1)</script>": 1}],
        "unknown field '<script>alert(1)</script>'",
    ),
    "SQL in a field name": (
        [FEATURES | {"x'); DROP TABLE prediction_log; --": 1}],
        'unknown field "x\'); DROP TABLE prediction_log; --"',
    ),
    "SQL in a number": (
        [FEATURES | {"monthly_charges": "1; DROP TABLE model_versions"}],
        "must be a finite number, got text '1; DROP TABLE model_versions'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INSTANCES))
def test_bad_instances_are_refused_naming_the_field(server: ServerProcess, case: str) -> None:
    instances, message = BAD_INSTANCES[case]
    response = predict(server, {"instances": instances})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"]


BAD_BODIES = {
    "malformed JSON": (b'{"instances": [', "the body is not valid JSON"),
    "not UTF-8": (b'{"instances": ["\xff"]}', "the body is not valid JSON"),
    "infinite number": (
        json.dumps({"instances": [FEATURES]}).replace("80.5", "1e999").encode(),
        "field 'monthly_charges' must be a finite number, got a number",
    ),
    "NaN literal": (b'{"instances": [{"monthly_charges": NaN}]}', "NaN is not a JSON number"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "the body is not valid JSON"),
    "not an object": (b"[1, 2]", "the body must be a JSON object"),
    "no instances": (b'{"rows": []}', "unknown key 'rows'"),
    "empty instances": (b'{"instances": []}', "with at least one instance; got an array"),
    "naive logged_at": (
        json.dumps({"instances": [FEATURES], "parameters": {"logged_at": "2026-12-01T10:00"}}),
        "parameters.logged_at has no timezone",
    ),
    "unknown parameter": (
        json.dumps({"instances": [FEATURES], "parameters": {"threshold": 0.3}}),
        'parameters must be {"logged_at"',
    ),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_bodies_are_refused(server: ServerProcess, case: str) -> None:
    body, message = BAD_BODIES[case]
    response = httpx.post(f"{server.url}/predict", content=body, timeout=10)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_hostile_text_values_are_only_data(server: ServerProcess) -> None:
    hostile = FEATURES | {
        "contract": "<script>alert(1)</script>",
        "region": "'; DROP TABLE prediction_log; --",
        "customer_id": "../../../etc/passwd",
    }
    response = predict(server, {"instances": [hostile]})
    # Unknown categories are what one-hot encoding ignores: valid input, a prediction.
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"


def test_oversized_bodies_get_413_declared_or_streamed(server: ServerProcess) -> None:
    big = json.dumps({"instances": [FEATURES] * 20_000}).encode()
    assert len(big) > 1_500_000
    declared = httpx.post(f"{server.url}/predict", content=big, timeout=10)
    assert declared.status_code == 413
    assert "more than the limit of 1500000" in declared.json()["error"]

    def chunks() -> Any:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = httpx.post(f"{server.url}/predict", content=chunks(), timeout=10)
    assert streamed.status_code == 413
    assert "larger than the limit" in streamed.json()["error"]


def test_unknown_routes_and_methods_are_json_errors(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/nowhere", timeout=5).status_code == 404
    wrong_method = httpx.get(f"{server.url}/predict", timeout=5)
    assert wrong_method.status_code == 405
    assert "GET /predict" in wrong_method.json()["error"]


def test_ground_truth_is_posted_by_request_id(server: ServerProcess) -> None:
    ids = predict(server, {"instances": [FEATURES, FEATURES]}).json()["request_ids"]
    posted = httpx.post(
        f"{server.url}/ground-truth", json={"labels": {ids[0]: True, ids[1]: False}}, timeout=10
    )
    assert posted.status_code == 200, posted.text
    assert posted.json() == {"recorded": 2}
    refused = httpx.post(f"{server.url}/ground-truth", json={"labels": {"x": None}}, timeout=5)
    assert refused.status_code == 400
    assert "the label of 'x' must be a number or text" in refused.json()["error"]


def test_metrics_count_requests_and_name_the_version(server: ServerProcess) -> None:
    predict(server, {"instances": [FEATURES]})
    predict(server, {"instances": [without("region")]})
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    assert 'mlops_kit_serving_requests_total{route="/predict",status="200"}' in text
    assert 'mlops_kit_serving_requests_total{route="/predict",status="400"}' in text
    assert 'mlops_kit_serving_request_seconds_bucket{le="0.005",route="/predict"}' in text
    assert 'mlops_kit_serving_model_version{model="churn"} 1.0' in text
    assert "mlops_kit_serving_prediction_log_queue_depth" in text
    assert "mlops_kit_serving_prediction_log_rows_dropped_total 0.0" in text
