"""The README's first example, run as written against a real server.

The curl lines of "Then, from another shell" are run by ``sh`` (with the server's address for
``localhost:8000``) and the answer shown in the README is the answer we get; the SDK line is run
with the ``openai`` package the README says to install. CI runs this against ``pip install
".[test]"`` (not an editable install), so it also checks that the installed package works.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).parents[2] / "README.md").read_text()


def _first_shell_example() -> str:
    after = README.split("Then, from another shell:", 1)[1]
    return after.split("```sh\n", 1)[1].split("```", 1)[0]


def _commands_and_comment(block: str) -> tuple[list[str], str]:
    commands: list[str] = []
    comment: list[str] = []
    for line in block.splitlines():
        if line.startswith("#"):
            comment.append(line[1:].strip())
        elif line.startswith("curl "):
            commands.append(line)
        elif line.strip():
            commands[-1] += "\n" + line  # a body continued over lines, inside its quotes
    return commands, " ".join(comment)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's example uses curl")
def test_the_readme_curl_example(start_server) -> None:
    server = start_server()
    host = server.url.removeprefix("http://")
    commands, shown = _commands_and_comment(_first_shell_example())
    assert len(commands) == 3
    answers = []
    for command in commands:
        done = subprocess.run(
            ["sh", "-c", command.replace("localhost:8000", host)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        answers.append(json.loads(done.stdout))
    assert answers[0]["name"] == "notes"
    assert answers[1]["upserted"] == 2
    expected = json.loads(shown)
    got = answers[2]
    assert got["data"][0].pop("score") == pytest.approx(expected["data"][0].pop("score"), abs=1e-4)
    assert got == expected


def test_the_readme_sdk_line(start_server) -> None:
    server = start_server()
    line = re.search(r"`(OpenAI\(base_url=.*?\))`", README, re.DOTALL)
    assert line is not None and "pip install openai" in README
    code = line.group(1).replace("\n", "").replace("http://127.0.0.1:8000", server.url)
    done = subprocess.run(
        [sys.executable, "-c", f"from openai import OpenAI; print(len({code}.data[0].embedding))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "256"
