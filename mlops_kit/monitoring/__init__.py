"""Performance monitoring: prediction logs, sliced metrics, drift, data health and checks."""
