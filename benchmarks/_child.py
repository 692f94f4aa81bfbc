"""Running one measurement in a fresh interpreter: its own peak memory, its own GIL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SRC = str(Path(__file__).resolve().parent.parent / "src")


def run_child(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` (``python -c``) with ``args``, msgkit's ``src`` first on its path,
    and return the JSON object it prints last. Exits naming the step when it fails;
    what it writes to stderr is passed on."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.stderr:
        print(done.stderr, file=sys.stderr, end="")
    if done.returncode != 0:
        sys.exit(f"{' '.join(args[1:]) or 'the child'} failed (exit {done.returncode})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
