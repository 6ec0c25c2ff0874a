"""Run Tellurium code in a separate Python process, as a user's Tellurium session would be.

Importing tellurium into the pytest process (it wraps roadrunner.RoadRunner and loads its plugins) made the
*later* libRoadRunner model compilations of the suite crash intermittently with a segfault, so the tests
that drive Tellurium do it in a child process and exchange JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def run_tellurium(code: str, **inputs) -> dict:
    """Execute ``code`` with ``te`` imported and ``inputs`` bound; the code assigns a JSON-able ``result``."""
    script = "import json, sys\nimport tellurium as te\nimport numpy as np\n"
    script += "globals().update(json.loads(sys.stdin.read()))\n" + textwrap.dedent(code)
    script += "\nprint('@@RESULT@@' + json.dumps(result))\n"
    proc = subprocess.run([sys.executable, "-c", script], input=json.dumps(inputs), capture_output=True,
                          text=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"Tellurium session failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.rsplit("@@RESULT@@", 1)[1])
