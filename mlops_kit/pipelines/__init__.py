"""Continuous training: KFP v2 components and pipelines, compiled and handed to an orchestrator."""
