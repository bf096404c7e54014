"""`crmgraph keys …`, through real argument parsing, against a config file on disk."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from app.auth.keys import KeyStore
from app.auth.keys_cli import add_keys_commands

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(r"^cgk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")

# A `crmgraph` of its own that has only the keys commands, run in a separate process.
PROGRAM = """
import argparse, sys
from app.auth.keys_cli import add_keys_commands
parser = argparse.ArgumentParser(prog="crmgraph")
add_keys_commands(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.handler(args))
"""


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmgraph")
    add_keys_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def crmgraph(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    args = parser().parse_args(["keys", *argv])
    code: int = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


def write_config(tmp_path: Path, keys_file: str | None = "keys/api-keys.json") -> Path:
    data = yaml.safe_load((ROOT / "crmgraph.example.yaml").read_text())
    data.pop("auth", None)
    if keys_file is not None:
        data["auth"] = {"keys_file": keys_file}
    path = tmp_path / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "api-keys.json"


def create(capsys: pytest.CaptureFixture[str], config: Path, *extra: str) -> str:
    code, out, err = crmgraph(
        capsys,
        "create",
        "--role",
        "analyst",
        "--brand",
        "luckyspin",
        *extra,
        "--config",
        str(config),
    )
    assert code == 0, err
    return out.strip()


def key_id(key: str) -> str:
    return key.split("_", 2)[1]


def test_create_prints_the_key_once_and_warns_it_is_not_kept(
    capsys: pytest.CaptureFixture[str], config: Path, keys_file: Path
) -> None:
    code, out, err = crmgraph(
        capsys,
        "create",
        "--role",
        "support",
        "--brand",
        "goldcoast",
        "--brand",
        "northstar",
        "--label",
        "helpdesk",
        "--config",
        str(config),
    )
    assert code == 0, err
    key = out.strip()
    assert KEY.match(key)
    assert out.count(key) == 1
    assert key not in err
    assert "cannot be shown again" in err
    assert "role support, brands goldcoast, northstar, expires never" in err
    record = KeyStore(keys_file).verify(key)
    assert record is not None
    assert (record.role, record.brands, record.label) == (
        "support",
        ("goldcoast", "northstar"),
        "helpdesk",
    )


def test_create_expires_in_days(
    capsys: pytest.CaptureFixture[str], config: Path, keys_file: Path
) -> None:
    key = create(capsys, config, "--expires-in", "90d")
    record = KeyStore(keys_file).verify(key)
    assert record is not None
    assert record.expires_at is not None
    assert record.expires_at - record.created_at == timedelta(days=90)


@pytest.mark.parametrize(
    ("text", "lifetime"), [("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30))]
)
def test_create_expires_in_hours_or_minutes(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    keys_file: Path,
    text: str,
    lifetime: timedelta,
) -> None:
    key = create(capsys, config, "--expires-in", text)
    record = KeyStore(keys_file).verify(key)
    assert record is not None
    assert record.expires_at is not None
    assert record.expires_at - record.created_at == lifetime


def test_create_for_every_brand(
    capsys: pytest.CaptureFixture[str], config: Path, keys_file: Path
) -> None:
    code, out, err = crmgraph(
        capsys, "create", "--role", "admin", "--brand", "*", "--config", str(config)
    )
    assert code == 0, err
    record = KeyStore(keys_file).verify(out.strip())
    assert record is not None
    assert record.brands == ("*",)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--role", "janitor", "--brand", "luckyspin"], "--role 'janitor' is not a role"),
        (["--role", "analyst", "--brand", "moonbet"], "--brand 'moonbet': not a brand"),
        (["--role", "analyst", "--brand", "*", "--brand", "luckyspin"], "give it alone"),
        (
            ["--role", "analyst", "--brand", "luckyspin", "--expires-in", "90"],
            "--expires-in '90' is not a duration",
        ),
        (
            ["--role", "analyst", "--brand", "luckyspin", "--expires-in", "2w"],
            "--expires-in '2w' is not a duration",
        ),
        (
            ["--role", "analyst", "--brand", "luckyspin", "--expires-in", "0d"],
            "--expires-in '0d' is not a duration",
        ),
    ],
)
def test_create_refuses_a_bad_grant_with_a_specific_message(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    keys_file: Path,
    argv: list[str],
    message: str,
) -> None:
    code, out, err = crmgraph(capsys, "create", *argv, "--config", str(config))
    assert code == 1
    assert out == ""
    assert message in err
    assert not keys_file.exists()


def test_an_unknown_role_error_lists_the_roles(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    _, _, err = crmgraph(
        capsys, "create", "--role", "janitor", "--brand", "luckyspin", "--config", str(config)
    )
    assert "admin, analyst, marketing, support, service" in err


def test_create_needs_a_role_and_a_brand_on_the_command_line(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["keys", "create", "--brand", "luckyspin", "--config", str(config)])
    assert exited.value.code == 2
    assert "--role" in capsys.readouterr().err


def test_a_config_without_a_keys_file_is_named_as_the_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = write_config(tmp_path, keys_file=None)
    code, _, err = crmgraph(capsys, "list", "--config", str(config))
    assert code == 1
    assert "auth.keys_file is not set" in err


def test_a_bad_config_is_reported_with_its_mistakes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "crmgraph.yaml"
    config.write_text("brands: []\nsources: {}\n")
    code, _, err = crmgraph(capsys, "list", "--config", str(config))
    assert code == 1
    assert "brands: List should have at least 1 item" in err


def test_the_config_secrets_are_not_needed(
    capsys: pytest.CaptureFixture[str], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HUBSPOT_TOKEN", "SALESFORCE_CLIENT_ID", "ZENDESK_API_TOKEN", "PLAYERS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = crmgraph(capsys, "list", "--config", str(config))
    assert code == 0, err


def test_list_with_no_keys_says_so(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, _ = crmgraph(capsys, "list", "--config", str(config))
    assert code == 0
    assert out.startswith("no API keys in ")


def test_list_shows_each_key_and_its_state_but_no_hash(
    capsys: pytest.CaptureFixture[str], config: Path, keys_file: Path
) -> None:
    active = create(capsys, config, "--label", "dashboards")
    revoked = create(capsys, config)
    assert crmgraph(capsys, "revoke", key_id(revoked), "--config", str(config))[0] == 0
    a_year_ago = datetime.now(UTC) - timedelta(days=365)
    _, expired = KeyStore(keys_file, clock=lambda: a_year_ago).create(
        "admin", ["*"], expires_in=timedelta(days=90)
    )
    code, out, _ = crmgraph(capsys, "list", "--config", str(config))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "ROLE", "BRANDS", "CREATED", "EXPIRES", "STATE", "LABEL"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[key_id(active)][1:3] == ["analyst", "luckyspin"]
    assert rows[key_id(active)][-2:] == ["active", "dashboards"]
    assert rows[key_id(revoked)][-1] == "revoked"
    assert rows[expired.id][1:3] == ["admin", "*"]
    assert rows[expired.id][-1] == "expired"
    assert expired.secret_hash not in out
    for key in (active, revoked):
        assert key.split("_", 2)[2] not in out


def test_revoke_refuses_the_key_from_then_on(
    capsys: pytest.CaptureFixture[str], config: Path, keys_file: Path
) -> None:
    key = create(capsys, config)
    code, out, _ = crmgraph(capsys, "revoke", key_id(key), "--config", str(config))
    assert code == 0
    assert f"API key {key_id(key)} (analyst) is revoked" in out
    assert KeyStore(keys_file).verify(key) is None


def test_revoke_of_an_unknown_id_fails(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    create(capsys, config)
    code, _, err = crmgraph(capsys, "revoke", "0123456789ab", "--config", str(config))
    assert code == 1
    assert "no API key has the id 0123456789ab" in err


def test_revoke_given_a_whole_key_refuses_without_repeating_it(
    capsys: pytest.CaptureFixture[str], config: Path, keys_file: Path
) -> None:
    key = create(capsys, config)
    code, out, err = crmgraph(capsys, "revoke", key, "--config", str(config))
    assert code == 1
    assert "that is a whole API key, not its id" in err
    assert key.split("_", 2)[2] not in out + err
    assert KeyStore(keys_file).verify(key) is not None


def test_rotate_prints_a_new_key_and_revokes_the_old(
    capsys: pytest.CaptureFixture[str], config: Path, keys_file: Path
) -> None:
    old = create(capsys, config, "--label", "etl")
    code, out, err = crmgraph(capsys, "rotate", key_id(old), "--config", str(config))
    assert code == 0, err
    new = out.strip()
    assert KEY.match(new)
    assert "cannot be shown again" in err
    assert f"to replace {key_id(old)} (now revoked)" in err
    store = KeyStore(keys_file)
    assert store.verify(old) is None
    record = store.verify(new)
    assert record is not None
    assert (record.role, record.brands, record.label) == ("analyst", ("luckyspin",), "etl")


def test_rotate_takes_a_new_lifetime(
    capsys: pytest.CaptureFixture[str], config: Path, keys_file: Path
) -> None:
    old = create(capsys, config)
    code, out, err = crmgraph(
        capsys, "rotate", key_id(old), "--expires-in", "12h", "--config", str(config)
    )
    assert code == 0, err
    record = KeyStore(keys_file).verify(out.strip())
    assert record is not None
    assert record.expires_at is not None
    assert record.expires_at - record.created_at == timedelta(hours=12)


def test_rotate_of_a_revoked_key_fails(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    old = create(capsys, config)
    crmgraph(capsys, "revoke", key_id(old), "--config", str(config))
    code, out, err = crmgraph(capsys, "rotate", key_id(old), "--config", str(config))
    assert code == 1
    assert out == ""
    assert f"API key {key_id(old)} is revoked; create a new key instead" in err


def run_elsewhere(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, "keys", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_a_key_created_in_another_process_is_accepted_by_a_running_store(
    config: Path, keys_file: Path
) -> None:
    running = KeyStore(keys_file)
    assert running.list() == []
    result = run_elsewhere(
        "create", "--role", "marketing", "--brand", "northstar", "--config", str(config)
    )
    assert result.returncode == 0, result.stderr
    record = running.verify(result.stdout.strip())
    assert record is not None
    assert record.role == "marketing"


def test_a_revocation_in_another_process_takes_effect_without_restart(
    capsys: pytest.CaptureFixture[str], config: Path, keys_file: Path
) -> None:
    key = create(capsys, config)
    running = KeyStore(keys_file)
    assert running.verify(key) is not None
    result = run_elsewhere("revoke", key_id(key), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert running.verify(key) is None


def test_an_error_in_another_process_exits_1_on_stderr(config: Path) -> None:
    result = run_elsewhere("revoke", "0123456789ab", "--config", str(config))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "crmgraph keys: no API key has the id 0123456789ab" in result.stderr
