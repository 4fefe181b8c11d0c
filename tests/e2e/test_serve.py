"""``semsearch serve`` as an operator sees it: start-up output, the access log, refusals."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx

from service.testing import ServerProcess, clean_env

ACCESS_LINE = re.compile(
    r"semsearch\.access: (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) (?P<ms>\d+\.\d) ms$"
)


def _access(server: ServerProcess, wait_for: int = 0) -> list[dict[str, str]]:
    """Access lines not about ``/healthz``; waits (bounded) for ``wait_for`` of them, as a line
    is written just after its response is sent."""
    deadline = time.monotonic() + 10
    while True:
        lines = [
            m.groupdict() for line in server.log().splitlines() if (m := ACCESS_LINE.search(line))
        ]
        lines = [line for line in lines if line["path"] != "/healthz"]
        if len(lines) >= wait_for or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_a_second_server_says_one_line_naming_the_owner(start_server) -> None:
    server = start_server()
    second = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--port", "0"]
        + ["--data-dir", str(server.data_dir)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert second.stdout == ""
    assert second.stderr.count("\n") == 1, second.stderr
    assert f"(pid {server.pid})" in second.stderr and "in use by another process" in second.stderr
    assert "Traceback" not in second.stderr and "Started server process" not in second.stderr
    assert httpx.get(server.url + "/healthz").status_code == 200  # the first one is unharmed


def test_one_access_line_per_request_with_status_and_ms(start_server) -> None:
    server = start_server()
    httpx.get(server.url + "/collections")
    httpx.get(server.url + "/collections/absent")
    httpx.post(server.url + "/collections", json={"name": "bad name!"})
    lines = _access(server, wait_for=3)
    seen = [(line["method"], line["path"], line["status"]) for line in lines]
    assert seen == [
        ("GET", "/collections", "200"),
        ("GET", "/collections/absent", "404"),
        ("POST", "/collections", "400"),
    ]
    assert all(float(line["ms"]) < 10_000 for line in lines)


def test_start_up_shows_the_settings_as_a_short_table(start_server) -> None:
    server = start_server(env={"SEMSEARCH_API_KEYS": "sekrit"}, args=["--max-body-mb", "8"])
    log = server.log()
    table = log[log.index("settings:") :].splitlines()[1:]
    rows = {line.split()[0]: line.split()[1:] for line in table if line.startswith("  ")}
    assert rows["port"] == ["0", "--port"]
    assert rows["max_body_mb"] == ["8.0", "--max-body-mb"]
    assert rows["api_keys"] == ["***", "SEMSEARCH_API_KEYS"]
    assert rows["log_level"] == ["info", "default"]
    assert rows["upstream_url"] == ["-", "default"]
    assert [name for name in rows if name.startswith("upstream_")] == ["upstream_url"]
    assert max(len(line) for line in table if line.startswith("  ")) < 120
    assert "sekrit" not in log


def test_log_level_warning_silences_the_access_log_and_the_table(start_server) -> None:
    server = start_server(args=["--log-level", "warning"])
    for _ in range(3):
        httpx.get(server.url + "/collections")
    time.sleep(0.5)  # time for lines that should not come
    assert _access(server) == []
    assert "settings:" not in server.log()
