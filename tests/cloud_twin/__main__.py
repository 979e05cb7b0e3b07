"""``python -m tests.cloud_twin``: start the cloud twin and keep it running until Ctrl-C.

It prints the environment files and the variables to export, so that ``mlops-kit --env twin ...``
run in another shell talks to the fakes.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import threading
from pathlib import Path

from tests.cloud_twin.twin import start_twin


def main() -> int:
    """Start the twin, print how to use it, and wait for Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m tests.cloud_twin", description=__doc__)
    parser.add_argument(
        "--dir", type=Path, help="where the twin keeps its files (default: a temporary directory)"
    )
    options = parser.parse_args()
    twin = start_twin(options.dir)
    try:
        if twin.failures:
            for what, why in twin.failures.items():
                print(f"error: {what} did not start: {why}")
            return 1
        print(f"cloud twin up in {twin.started_in:.1f} s")
        print(f"environment file: {twin.environment_file('twin')} (Kubeflow Pipelines)")
        print(f"environment file: {twin.environment_file('twin-vertex')} (Vertex AI Pipelines)")
        print("# export these, then run: mlops-kit --env twin doctor")
        for name, value in twin.environ().items():
            print(f"export {name}={shlex.quote(value)}")
        stopped = threading.Event()
        # Handlers of our own: a parent may have left the signals ignored (pytest-xdist does).
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, lambda *_: stopped.set())
        print("# Ctrl-C stops the twin", flush=True)
        while not stopped.wait(1):
            pass
        return 0
    finally:
        twin.stop()


if __name__ == "__main__":
    raise SystemExit(main())
