"""The suite is hermetic: no test sees the developer's ``SEMSEARCH_*``/``OPENAI_*`` variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_no_test_sees_the_callers_configuration(tmp_path: Path) -> None:
    """A test that asks for no fixture still runs with them stripped (``clean_environ`` is
    autouse): run one under this suite's conftest with such variables set."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import os\n\n"
        "def test_probe():\n"
        "    assert not [k for k in os.environ if k.startswith(('SEMSEARCH_', 'OPENAI_'))]\n"
    )
    env = {**os.environ, "SEMSEARCH_PORT": "1", "OPENAI_API_KEY": "sk-developer"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "--rootdir", str(tmp_path), str(probe)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
