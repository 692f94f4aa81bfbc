"""The msgkit command line, run as a real process (``python -m msgkit``) and in-process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import msgkit
from msgkit.cli import main

SRC = str(Path(msgkit.__file__).resolve().parents[1])
FAST = """
[engine]
housekeeping_every = "50ms"
idle_poll = "50ms"
horizon = "3s"
poll_after = "100ms"
poll_every = "100ms"
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200", "NO_COLOR": "1"}


def msgkit_cmd(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m msgkit ARGS`` in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "msgkit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or _env(),
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def here(tmp_path: Path) -> Path:
    """A folder with fast engine settings in ./msgkit.toml and a members.csv."""
    (tmp_path / "msgkit.toml").write_text(FAST, encoding="utf-8")
    rows = ["Mobile,Name"] + [f"0912-000-{i:03d},Amy{i}" for i in range(5)] + ["12345,Bad"]
    (tmp_path / "members.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return tmp_path


def test_version_from_a_real_process(tmp_path: Path) -> None:
    """`python -m msgkit --version` prints the package version."""
    out = msgkit_cmd(tmp_path, "--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"msgkit {msgkit.__version__}"


def test_help_lists_every_command(tmp_path: Path) -> None:
    """`msgkit --help` names every command of the design."""
    out = msgkit_cmd(tmp_path, "--help").stdout
    for command in [
        "demo",
        "preview",
        "import",
        "lists",
        "delete-list",
        "send",
        "campaigns",
        "start",
        "stop",
        "resume",
        "schedule",
        "enable",
        "disable",
        "delete",
        "status",
        "report",
        "worker",
        "serve",
        "measure",
        "phone",
    ]:
        assert f"  {command} " in out or f"  {command}\n" in out, command


def test_measure_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`msgkit measure --json` prints the measurement."""
    assert main(["measure", "a" * 161, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["segments"] == 2
    assert data["part_units"] == [153, 8]


def test_measure_suggests_smart_only_when_it_helps(capsys: pytest.CaptureFixture[str]) -> None:
    """The --smart hint appears for curly quotes, not for emoji."""
    main(["measure", "It’s"])
    assert "--smart" in capsys.readouterr().out
    main(["measure", "😀"])
    assert "--smart" not in capsys.readouterr().out


def test_measure_cn_too_long_fails(tmp_path: Path) -> None:
    """A cn text over 500 characters exits 1 with the limit."""
    out = msgkit_cmd(tmp_path, "measure", "字" * 501, "--scheme", "cn")
    assert out.returncode == 1
    assert "500" in out.stderr


def test_phone(tmp_path: Path) -> None:
    """`msgkit phone` normalises and explains; a bad number exits 1 with the reason."""
    good = msgkit_cmd(tmp_path, "phone", "0912-345-678", "--region", "TW")
    assert good.returncode == 0
    assert "+886912345678" in good.stdout
    bad = msgkit_cmd(tmp_path, "phone", "12")
    assert bad.returncode == 1
    assert bad.stderr.startswith("msgkit: error:")
    assert "region" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_usage_error_exits_2(tmp_path: Path) -> None:
    """An unknown option is a usage error: exit 2 with click's message."""
    out = msgkit_cmd(tmp_path, "send", "x.csv", "--nope")
    assert out.returncode == 2
    assert "--nope" in out.stderr


def test_preview_shows_rows_columns_and_bad_rows(here: Path) -> None:
    """`msgkit preview FILE --phone COL` shows the first rows, the count and the rejects."""
    out = msgkit_cmd(here, "preview", "members.csv", "--phone", "Mobile", "--region", "TW")
    assert out.returncode == 0, out.stderr
    assert "6 rows" in out.stdout
    assert "0912-000-000" in out.stdout
    assert "Mobile, Name" in out.stdout
    assert "5 imported, 1 rejected" in out.stdout
    assert "row 7, Mobile" in out.stdout


def test_a_missing_file_is_one_line_and_exit_1(here: Path) -> None:
    """A file that does not exist: exit 1, one line naming it."""
    for args in (("preview", "nope.csv"), ("send", "nope.csv", "-t", "Hi")):
        out = msgkit_cmd(here, *args)
        assert out.returncode == 1
        assert (
            out.stderr.strip() == "msgkit: error: FILE: no file nope.csv — check the path "
            "(CSV or XLSX recipient file)"
        )


def test_import_lists_and_delete_list(here: Path) -> None:
    """`msgkit import` stores a list that `lists` shows and `delete-list` removes."""
    out = msgkit_cmd(here, "import", "members.csv", "--phone", "Mobile", "--region", "TW")
    assert out.returncode == 0, out.stderr
    assert "5 imported, 1 rejected" in out.stdout
    listed = msgkit_cmd(here, "lists").stdout
    assert "members.csv" in listed
    assert (here / "msgkit.db").exists()
    gone = msgkit_cmd(here, "delete-list", "members.csv")
    assert gone.returncode == 0, gone.stderr
    assert "members.csv" not in msgkit_cmd(here, "lists").stdout
    again = msgkit_cmd(here, "delete-list", "members.csv")
    assert again.returncode == 1
    assert "no list 'members.csv'" in again.stderr


def test_phone_key_encrypts_a_store_the_cli_then_needs_it_for(here: Path) -> None:
    """`msgkit phone-key` prints a key; with it in MSGKIT_PHONE_KEY the numbers are
    encrypted, and without it the database is refused naming the variable."""
    made = msgkit_cmd(here, "phone-key")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert len(key) == 43
    keyed = {**_env(), "MSGKIT_PHONE_KEY": key}
    out = msgkit_cmd(
        here, "import", "members.csv", "--phone", "Mobile", "--region", "TW", env=keyed
    )
    assert out.returncode == 0, out.stderr
    assert "members.csv" in msgkit_cmd(here, "lists", env=keyed).stdout
    assert b"912000001" not in (here / "msgkit.db").read_bytes()
    refused = msgkit_cmd(here, "lists")
    assert refused.returncode == 1
    assert "MSGKIT_PHONE_KEY" in refused.stderr
    assert key not in refused.stderr
    assert "Traceback" not in refused.stderr


def test_send_refuses_a_bad_mapping_and_a_bad_template(here: Path) -> None:
    """A missing column, a malformed --var and a broken template: exit 1, one line each."""
    cases = {
        ("--phone", "Phone"): "Phone",
        ("--phone", "Mobile", "--var", "name"): "--var: 'name' is not a variable mapping",
        ("--phone", "Mobile", "--var", "name=Nom"): "Nom",
        ("--phone", "Mobile", "-t", "Hi ${name"): "${",
        ("--phone", "Mobile", "--speed", "fast"): "--speed",
        ("--phone", "Mobile", "--validity", "soon"): "--validity",
    }
    for args, said in cases.items():
        template = () if "-t" in args else ("-t", "Hi ${name}")
        out = msgkit_cmd(here, "send", "members.csv", "--region", "TW", *template, *args)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert out.stderr.startswith("msgkit: error:"), out.stderr
        assert said in out.stderr, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_send_dry_run_estimates_and_sends_nothing(here: Path) -> None:
    """`msgkit send --dry-run` prints the estimate; the campaign stays a draft."""
    out = msgkit_cmd(
        here, "send", "members.csv", "-t", "Hi ${name}", "--phone", "Mobile",
        "--var", "name=Name", "--region", "TW", "--name", "Spring", "--dry-run",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "will receive" in out.stdout
    assert "dry run: nothing sent" in out.stdout
    listed = msgkit_cmd(here, "campaigns").stdout
    assert "Spring" in listed
    assert "draft" in listed
    assert "Hi ${name}" in listed


def test_send_sends_and_the_same_command_resumes(here: Path) -> None:
    """`msgkit send` sends to every good row; run again, it resumes and sends nothing twice."""
    (here / "body.txt").write_text("Hi ${name}, spring sale\n", encoding="utf-8")
    args = (
        "send", "members.csv", "-t", "@body.txt", "--phone", "Mobile", "--var", "name=Name",
        "--region", "TW", "--name", "Spring", "--hours", "00:00-23:59", "--speed", "100/s",
        "--validity", "2h", "--tag", "spring",
    )  # fmt: skip
    first = msgkit_cmd(here, *args)
    assert first.returncode == 0, first.stderr
    assert "5 imported, 1 rejected" in first.stdout
    status = msgkit_cmd(here, "status", "Spring").stdout
    assert "100%" in status
    assert "delivered 5" in status
    again = msgkit_cmd(here, *args)
    assert again.returncode == 0, again.stderr
    assert "exists: resuming" in again.stdout
    assert "finished: nothing left to send" in again.stdout
    assert "delivered 5" in msgkit_cmd(here, "status").stdout
    listed = msgkit_cmd(here, "campaigns").stdout
    assert "finished" in listed
    assert "100%" in listed


def test_send_test_to_sends_only_the_test(here: Path) -> None:
    """`msgkit send --test-to N` sends the test to N and starts nothing."""
    out = msgkit_cmd(
        here, "send", "members.csv", "-t", "Hi", "--phone", "Mobile", "--region", "TW",
        "--name", "Trial", "--test-to", "+886912999999",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "test sent to +886912999999" in out.stdout
    assert "draft" in msgkit_cmd(here, "campaigns").stdout


def test_lifecycle_commands_and_an_unknown_campaign(here: Path) -> None:
    """schedule, disable, enable, stop, delete change a campaign; an unknown one is exit 1."""
    msgkit_cmd(
        here, "send", "members.csv", "-t", "Hi", "--phone", "Mobile", "--region", "TW",
        "--name", "Later", "--dry-run",
    )  # fmt: skip
    bad = msgkit_cmd(here, "schedule", "Later", "tomorrow")
    assert bad.returncode == 1
    assert "AT: 'tomorrow' is not a time" in bad.stderr
    out = msgkit_cmd(here, "schedule", "Later", "2099-08-04T09:00+08:00")
    assert out.returncode == 0, out.stderr
    assert "scheduled" in out.stdout
    assert "(disabled)" in msgkit_cmd(here, "disable", "Later").stdout
    assert "(disabled)" not in msgkit_cmd(here, "enable", "Later").stdout
    refused = msgkit_cmd(here, "stop", "Later")
    assert refused.returncode == 1
    assert "cannot stop a campaign that is scheduled" in refused.stderr
    assert "unschedule" in refused.stderr
    assert "draft" in msgkit_cmd(here, "unschedule", "Later").stdout
    assert "deleted" in msgkit_cmd(here, "delete", "Later").stdout
    for command in ("start", "stop", "resume", "enable", "disable", "delete", "status", "report"):
        out = msgkit_cmd(here, command, "Nope")
        assert out.returncode == 1, command
        assert "no campaign 'Nope'" in out.stderr, command


def test_start_refuses_over_the_balance_unless_over_balance(here: Path) -> None:
    """`msgkit start` refuses a campaign costing more than the balance (exit 1, saying
    the cost, the balance and --over-balance); `status` shows it; --over-balance sends."""
    config = (
        FAST
        + """
[providers.sms]
type = "simulator"
price = 0.05
currency = "USD"
balance = "0.10"
"""
    )
    (here / "msgkit.toml").write_text(config, encoding="utf-8")
    msgkit_cmd(
        here, "send", "members.csv", "-t", "Hi", "--phone", "Mobile", "--region", "TW",
        "--name", "Spring", "--dry-run",
    )  # fmt: skip
    refused = msgkit_cmd(here, "start", "Spring")
    assert refused.returncode == 1
    assert "0.25 USD" in refused.stderr
    assert "0.10 USD" in refused.stderr
    assert "--over-balance" in refused.stderr
    assert "Traceback" not in refused.stderr
    status = msgkit_cmd(here, "status", "Spring").stdout
    assert "draft" in status
    assert "balance of sms: 0.10 USD" in status
    out = msgkit_cmd(here, "start", "Spring", "--over-balance")
    assert out.returncode == 0, out.stderr
    assert "delivered 5" in msgkit_cmd(here, "status", "Spring").stdout
    report = json.loads(msgkit_cmd(here, "report", "Spring", "--format", "json").stdout)
    assert report["balance"] == {"amount": "0.10", "currency": "USD"}
    wrong = msgkit_cmd(here, "stop", "Spring", "--over-balance")
    assert wrong.returncode == 2


def test_report_formats(here: Path) -> None:
    """`msgkit report` prints a table, CSV or JSON and saves a chart."""
    msgkit_cmd(
        here, "send", "members.csv", "-t", "Hi", "--phone", "Mobile", "--region", "TW",
        "--name", "Spring",
    )  # fmt: skip
    table = msgkit_cmd(here, "report", "Spring")
    assert table.returncode == 0, table.stderr
    assert "Spring" in table.stdout
    as_csv = msgkit_cmd(here, "report", "Spring", "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    assert "," in as_csv.stdout.splitlines()[0]
    as_json = msgkit_cmd(here, "report", "Spring", "--format", "json")
    assert json.loads(as_json.stdout)


def test_a_bad_engine_setting_names_its_key(here: Path) -> None:
    """A wrong [engine] duration in msgkit.toml: exit 1 naming engine.KEY and the form."""
    (here / "msgkit.toml").write_text('[engine]\nlease = "two minutes"\n', encoding="utf-8")
    out = msgkit_cmd(here, "campaigns")
    assert out.returncode == 1
    assert "engine.lease: 'two minutes' is not a duration" in out.stderr
    verbose = msgkit_cmd(here, "--verbose", "campaigns")
    assert "Traceback" in verbose.stderr


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    """`--config nope.toml` that does not exist: exit 1 saying so."""
    out = msgkit_cmd(tmp_path, "--config", "nope.toml", "campaigns")
    assert out.returncode == 1
    assert "no configuration file nope.toml" in out.stderr


def test_no_secret_is_printed(here: Path) -> None:
    """A provider setting that is wrong is reported without its secret's value."""
    (here / "msgkit.toml").write_text(
        '[providers.sms]\ntype = "twilio"\naccount_sid = "AC123"\nauth_token_env = "TW_TOKEN"\n',
        encoding="utf-8",
    )
    env = {**_env(), "TW_TOKEN": "very-secret-token-value"}
    out = msgkit_cmd(here, "campaigns", env=env)
    assert "very-secret-token-value" not in out.stdout + out.stderr


def test_worker_stops_on_sigterm(here: Path) -> None:
    """`msgkit worker` sends until SIGTERM, then finishes and exits 0."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "msgkit", "worker"],
        cwd=here,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stderr is not None
        assert "sending until stopped" in worker.stderr.readline()
        time.sleep(0.5)
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    assert "stopped after 0 sent" in err


def test_serve_without_uvicorn_names_the_extra(tmp_path: Path) -> None:
    """`msgkit serve` without uvicorn: exit 1 naming pip install 'msgkit[serve]'."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "uvicorn.py").write_text("raise ImportError('no uvicorn')\n", encoding="utf-8")
    env = {**_env(), "PYTHONPATH": f"{fake}{os.pathsep}{SRC}"}
    out = msgkit_cmd(tmp_path, "serve", env=env)
    assert out.returncode == 1
    assert "pip install 'msgkit[serve]'" in out.stderr


def test_demo_runs_end_to_end_in_seconds(tmp_path: Path) -> None:
    """`msgkit demo` imports, estimates, sends both campaigns and ends with the results."""
    started = time.monotonic()
    out = msgkit_cmd(tmp_path, "demo", "--dir", str(tmp_path / "demo"))
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started < 15
    assert f"files in {tmp_path / 'demo'}" in out.stdout
    assert "304 rows: 300 imported, 4 rejected" in out.stdout
    assert "will receive" in out.stdout
    assert "clicks on the short link" in out.stdout
    assert "STOP" in out.stdout
    assert out.stdout.count("finished") == 2
    assert (tmp_path / "demo" / "msgkit.db").exists()


def test_serve_keeps_the_webhook_path_token_out_of_its_access_log(tmp_path: Path) -> None:
    """`msgkit serve` logs each request with the Alibaba push token masked."""
    token = "path-token-4f9c2b7e1d"
    (tmp_path / "msgkit.toml").write_text(
        '[providers.ali]\ntype = "alibaba"\naccess_key_id = "LTAI-test"\nsign_name = "Shop"\n',
        encoding="utf-8",
    )
    env = {
        **_env(),
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret-do-not-print",
        "MSGKIT_ALIBABA_WEBHOOK_TOKEN": token,
    }
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "msgkit", "--config", "msgkit.toml", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/hooks/ali/{token}/report"
        for _ in range(100):
            try:
                answer = httpx.post(url, json=[], timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("msgkit serve did not start")
        assert answer.status_code == 200
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
    assert "POST /hooks/ali/***/report" in err + out
    assert token not in err + out
    assert "secret-do-not-print" not in err + out


def test_a_store_that_fails_is_one_line_saying_what_to_do(tmp_path: Path) -> None:
    """`msgkit worker` on a file that is not a database: exit 1 with what happened and
    what to do (a `msgkit.StoreError`), no traceback, no raw sqlite3 error."""
    (tmp_path / "notes.db").write_bytes(b"these are my notes, not a database " * 200)
    out = msgkit_cmd(tmp_path, "--store", "sqlite:///notes.db", "worker")
    assert out.returncode == 1
    assert "notes.db is damaged or is not a msgkit database" in out.stderr
    assert "restore it from a backup" in out.stderr
    assert "Traceback" not in out.stderr
