"""Continuous training: KFP v2 components and pipelines, compiled and handed to an orchestrator.

- :mod:`~mlops_kit.pipelines.components`: the reusable typed components, one per module
  (snapshot, validate, evaluate, register, gate, deploy);
- :mod:`~mlops_kit.pipelines.build`: building them for ``kfp-local`` or a cluster image, compiling;
- :mod:`~mlops_kit.pipelines.project`: a project's pipeline, its settings per environment, and
  run/compile/schedule/list on the environment's orchestrator;
- :mod:`~mlops_kit.pipelines.validation`, :mod:`~mlops_kit.pipelines.evaluation`,
  :mod:`~mlops_kit.pipelines.promotion`: what the validate, evaluate and gate steps decide;
- :mod:`~mlops_kit.pipelines.retraining`: the ``pipeline`` handler of monitoring's retraining
  requests; :mod:`~mlops_kit.pipelines.demo`: demo data of the churn case.
"""
