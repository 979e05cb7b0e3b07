"""Serving: the prediction server, and the canary judgement of what it serves.

``mlops-kit serve NAME@ALIAS`` runs :func:`serve`: an ASGI app (:mod:`mlops_kit.serving.app`)
speaking Vertex AI's custom-container contract and KServe's v1 protocol, which validates every
instance against the model's training schema (:mod:`~mlops_kit.serving.schema`), logs every
prediction with its version and request id (:mod:`~mlops_kit.serving.prediction_log`), exposes
Prometheus metrics (:mod:`~mlops_kit.serving.metrics`), and follows the alias
(:mod:`~mlops_kit.serving.follower`): a promotion or rollback is swapped in atomically
(:mod:`~mlops_kit.serving.holder`) within the follow interval, without a restart.

Deploy targets, which put a version in front of traffic, are a role of their own
(:mod:`mlops_kit.deploy_targets`), chosen by the environment's ``deploy`` URI. Importing this
package imports neither Starlette nor a target: each module is imported where it is used.
"""
