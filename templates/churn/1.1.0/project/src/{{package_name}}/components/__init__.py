"""This project's own pipeline components; the reusable ones come from mlops_kit."""
