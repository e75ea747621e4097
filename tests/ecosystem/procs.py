"""Environment for the subprocesses of the ecosystem tests (CLI, uvicorn's command line).

They must import the same wsfast as the test process: the source tree with its in-place
extension in the main leg, the pure install in ``scripts/test-pure.sh``'s leg. So
``PYTHONPATH`` starts with the directory holding the imported package, and they run from a
neutral directory (``python -m`` puts the working directory first on ``sys.path``).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from twins import WSFAST_HOME

ROOT = Path(__file__).resolve().parent.parent.parent  # the checkout (bench/, examples/)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (WSFAST_HOME, os.environ.get("PYTHONPATH")) if p)}
NEUTRAL_CWD = tempfile.gettempdir()
