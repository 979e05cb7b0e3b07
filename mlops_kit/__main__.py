"""``python -m mlops_kit`` runs the CLI, for machines where the console script is not on PATH."""

from mlops_kit.cli import main

main()
