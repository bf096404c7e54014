"""The README's command-line examples, run as a newcomer runs them after `make run`: the real
`crmgraph` console script in processes of its own, from a shell without any of the demo's
environment variables, against a demo started with `crmgraph serve` (one demo for the module,
stopped and started again at the end to show what it keeps)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import hashlib
import hmac
import json
import os
import re
import select
import signal
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.demo import DEMO_ENV
from tests.benchmarks.harness import CRMGRAPH, free_port, wait_until_up
from tests.shapes import same_shape, shape

#: The README's createLead example, for the brand whose phone numbers are British.
CREATE_LEAD = """mutation($phone: String!, $brand: String!, $email: String!) {
  createLead(
    input: {firstName: "Ada", lastName: "Lovelace", email: $email,
            phone: $phone, company: "Analytical Engines", brand: $brand}
  ) { status syncJobId userErrors { field code message } lead { id status phone } }
}"""
BANNER_KEY = re.compile(r"^\s+(\w+)\s+(\S+)\s+X-API-Key: (cgk_\S+)$", re.MULTILINE)
#: A terminal's control sequences (colours, cursor moves).
CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain_env(**extra: str) -> dict[str, str]:
    """A user's shell: none of the ``CRMGRAPH_*`` variables other tests may have set here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMGRAPH_")}
    return {**env, **extra}


def crmgraph(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CRMGRAPH, *args],
        capture_output=True,
        text=True,
        env=plain_env(),
        cwd=cwd,
        timeout=60,
        check=False,
    )


def in_a_pipeline(command: str) -> subprocess.CompletedProcess[str]:
    """``command`` run by bash with ``pipefail``, as a user types it."""
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"],
        capture_output=True,
        text=True,
        env=plain_env(),
        timeout=60,
        check=False,
    )


def in_a_terminal(*args: str) -> str:
    """What ``crmgraph ARGS`` shows on a terminal (its stdin, stdout and stderr are a
    pseudo-terminal), without the colours and cursor moves."""
    leader, follower = os.openpty()
    proc = subprocess.Popen(
        [CRMGRAPH, *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=plain_env(TERM="xterm-256color", COLUMNS="100"),
    )
    os.close(follower)
    shown = bytearray()
    try:
        while select.select([leader], [], [], 60)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process has closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
        proc.wait(timeout=30)
    assert proc.returncode == 0, shown.decode(errors="replace")
    return CONTROL.sub("", shown.decode(errors="replace"))


def one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    """The only line of a failed command's stderr (no traceback)."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@dataclass
class Demo:
    """`crmgraph serve --demo-dir FOLDER` as a process of its own."""

    folder: Path
    port: int = field(default_factory=free_port)
    simulators_port: int = field(default_factory=free_port)
    proc: asyncio.subprocess.Process | None = None
    runs: int = 0
    crm: str = "default"

    @property
    def config(self) -> str:
        return str(self.folder / "crmgraph.yaml")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self, run: int | None = None) -> Path:
        return self.folder.parent / f"run-{run or self.runs}.out"

    @property
    def log(self) -> Path:
        return self.folder.parent / f"run-{self.runs}.err"

    async def start(self) -> None:
        self.runs += 1
        with self.output().open("wb") as out, self.log.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                CRMGRAPH,
                "serve",
                "--port",
                str(self.port),
                "--simulators-port",
                str(self.simulators_port),
                "--demo-dir",
                str(self.folder),
                "--crm",
                self.crm,
                stdout=out,
                stderr=err,
                env=plain_env(),
            )
        await wait_until_up(f"{self.url}/healthz")

    async def stop(self) -> int:
        """Ctrl-C, and the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return await asyncio.wait_for(self.proc.wait(), 30)

    def keys(self, run: int | None = None) -> dict[str, str]:
        """The API keys a run printed, by ``role@brands``."""
        banner = self.output(run).read_text()
        return {f"{role}@{brands}": key for role, brands, key in BANNER_KEY.findall(banner)}

    def graphql(self, key: str, query: str, **variables: Any) -> httpx.Response:
        return httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            headers={"X-API-Key": key},
            timeout=30,
        )

    def create_lead(self, phone: str, brand: str) -> dict[str, Any]:
        """The README's createLead, as the demo's admin, with a fresh email."""
        email = f"ada.{uuid.uuid4().hex[:8]}@example.com"
        answer = self.graphql(
            self.keys()["admin@*"], CREATE_LEAD, phone=phone, brand=brand, email=email
        )
        assert answer.status_code == 200, answer.text
        created: dict[str, Any] = answer.json()["data"]["createLead"]
        return created


@contextlib.asynccontextmanager
async def running(demo: Demo) -> AsyncIterator[Demo]:
    """``demo`` started, and killed at the end if it still runs."""
    await demo.start()
    try:
        yield demo
    finally:
        if demo.proc is not None and demo.proc.returncode is None:
            demo.proc.kill()
            await demo.proc.wait()


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Demo]:
    async with running(Demo(tmp_path_factory.mktemp("newcomer") / ".crmgraph-demo")) as demo:
        yield demo


@pytest.fixture(scope="module")
async def dynamics_demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Demo]:
    """``crmgraph serve --crm dynamics``: customers, leads and tickets from Dynamics 365."""
    folder = tmp_path_factory.mktemp("dynamics") / ".crmgraph-demo"
    async with running(Demo(folder, crm="dynamics")) as demo:
        yield demo


@pytest.fixture
def leads_csv(tmp_path: Path) -> Path:
    """Three leads, as the README's CSV example has them (a fresh email each run)."""
    path = tmp_path / "leads.csv"
    tag = uuid.uuid4().hex[:8]
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["firstName", "lastName", "email", "phone", "company", "leadSource", "brand"])
        out.writerows(
            [
                ["Ada", "Lovelace", f"ada.{tag}@x.org", "020 7946 0958", "AE", "Web", "northstar"],
                ["Alan", "Turing", f"alan.{tag}@x.org", "", "Bletchley", "", "northstar"],
                [
                    "Rita",
                    "Lee",
                    f"rita.{tag}@x.org",
                    "(11) 91234-5678",
                    "Mutantes",
                    "",
                    "luckyspin",
                ],
            ]
        )
    return path


# --- the demo folder ---------------------------------------------------------------------


def test_an_idle_demo_does_not_log_its_salesforce_polls(demo: Demo) -> None:
    before = demo.log.stat().st_size
    time.sleep(4.5)  # two polls at least (every 2 s)
    with demo.log.open() as log:
        log.seek(before)
        assert log.read() == ""


def test_the_demo_folder_holds_a_config_that_config_check_accepts(demo: Demo) -> None:
    result = crmgraph("config", "check", "--config", demo.config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{demo.config}: OK (4 sources)"
    assert f"http://127.0.0.1:{demo.simulators_port}/salesforce" in Path(demo.config).read_text()


def test_the_demo_keeps_its_secrets_and_keys_to_its_owner(demo: Demo) -> None:
    private = [demo.folder / "demo-keys.txt", *(demo.folder / "secrets").iterdir()]
    assert len(private) == 1 + len(DEMO_ENV)  # the keys, and a file per simulator secret
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_config_check_still_takes_the_file_as_an_argument(demo: Demo) -> None:
    result = crmgraph("config", "check", demo.config)
    assert result.returncode == 0, result.stderr
    assert "OK (4 sources)" in result.stdout


def test_keys_list_shows_the_demo_keys_of_the_running_demo(demo: Demo) -> None:
    result = crmgraph("keys", "list", "--config", demo.config)
    assert result.returncode == 0, result.stderr
    labels = [line.split()[-1] for line in result.stdout.splitlines() if "demo" in line]
    assert sorted(labels) == ["admin", "analyst", "marketing", "support", "support"]


def test_a_key_made_with_keys_create_is_accepted_by_the_running_demo(demo: Demo) -> None:
    made = crmgraph(
        "keys", "create", "--role", "support", "--brand", "luckyspin", "--config", demo.config
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    answer = demo.graphql(key, "{ tickets(first: 5) { edges { node { id brand } } } }")
    assert answer.status_code == 200, answer.text
    brands = {edge["node"]["brand"] for edge in answer.json()["data"]["tickets"]["edges"]}
    assert brands == {"luckyspin"}


def test_outbox_list_and_dlq_list_read_the_running_demo(demo: Demo) -> None:
    outbox = crmgraph("outbox", "list", "--config", demo.config)
    assert outbox.returncode == 0, outbox.stderr
    assert "depth: queued 0" in outbox.stdout
    dlq = crmgraph("dlq", "list", "--config", demo.config)
    assert dlq.returncode == 0, dlq.stderr
    assert "dead letters:" in dlq.stdout


# --- phone regions per brand ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("brand", "phone", "e164"),
    [
        ("northstar", "020 7946 0958", "+442079460958"),
        ("luckyspin", "(11) 91234-5678", "+5511912345678"),
    ],
)
def test_the_readme_create_lead_reads_a_national_number_in_its_brand_region(
    demo: Demo, brand: str, phone: str, e164: str
) -> None:
    created = demo.create_lead(phone, brand)
    assert created["userErrors"] == []
    assert created["status"] == "APPLIED"
    assert created["lead"]["phone"] == e164


def test_a_national_number_in_another_brand_region_is_refused(demo: Demo) -> None:
    created = demo.create_lead("020 7946 0958", "luckyspin")
    assert created["status"] is None
    assert [e["code"] for e in created["userErrors"]] == ["INVALID_PHONE"]
    assert "read as a BR number" in created["userErrors"][0]["message"]


def test_an_update_reads_a_national_number_in_the_record_brand_region(demo: Demo) -> None:
    admin = demo.keys()["admin@*"]
    first = '{ leads(first: 1, filter: {brand: "goldcoast"}) { edges { node { id } } } }'
    found = demo.graphql(admin, first)
    lead_id = found.json()["data"]["leads"]["edges"][0]["node"]["id"]
    update = """mutation($id: ID!) { updateLead(id: $id, input: {phone: "7912 3456"}) {
      status userErrors { code message } lead { phone } } }"""
    updated = demo.graphql(admin, update, id=lead_id).json()["data"]["updateLead"]
    assert (updated["status"], updated["lead"]["phone"]) == ("APPLIED", "+35679123456")


def test_a_lead_change_makes_the_poll_log_one_info_line(demo: Demo) -> None:
    before = demo.log.stat().st_size
    assert demo.create_lead("020 7946 0958", "northstar")["status"] == "APPLIED"
    polls: list[dict[str, Any]] = []
    for _ in range(60):
        with demo.log.open() as log:
            log.seek(before)
            events = [json.loads(line) for line in log if line.startswith("{")]
        polls = [e for e in events if e.get("event") == "salesforce.poll"]
        if polls:
            break
        time.sleep(0.1)
    assert polls, "no poll reported the change"
    assert polls[0]["level"] == "info"
    assert polls[0]["changed"] >= 1


def test_an_unknown_phone_region_in_the_config_is_named_by_config_check(
    demo: Demo, tmp_path: Path
) -> None:
    config = yaml.safe_load(Path(demo.config).read_text())
    config["writes"]["phone_regions"]["luckyspin"] = "XX"
    path = tmp_path / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(config))
    result = crmgraph("config", "check", "--config", str(path))
    assert result.returncode == 1
    assert "writes.phone_regions.luckyspin" in result.stderr
    assert "'XX' is not a phone region" in result.stderr


# --- import leads ----------------------------------------------------------------------------


def test_import_leads_dry_run_then_for_real_with_progress_lines(
    demo: Demo, leads_csv: Path
) -> None:
    dry = crmgraph("import", "leads", str(leads_csv), "--config", demo.config, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "read 3 rows: 3 valid, 3 would be created" in dry.stdout
    real = crmgraph("import", "leads", str(leads_csv), "--config", demo.config)
    assert real.returncode == 0, real.stderr
    assert "read 3 rows: 3 valid, 3 created" in real.stdout
    # Not a terminal: plain progress lines on stderr, the last one at the end.
    lines = real.stderr.strip().splitlines()
    assert lines[-1].startswith("importing leads: 3/3 rows (100%)")
    assert "Traceback" not in real.stderr


def test_import_leads_shows_a_progress_bar_on_a_terminal(demo: Demo, leads_csv: Path) -> None:
    shown = in_a_terminal("import", "leads", str(leads_csv), "--config", demo.config, "--dry-run")
    assert "importing leads" in shown
    assert "━" in shown  # the bar
    assert "3/3 rows" in shown
    assert "read 3 rows" in shown


# --- output into a closed pipe -----------------------------------------------------------------


def _dead_letter(demo: Demo, payload_bytes: int) -> str:
    """A signed Zendesk event of a type crmgraph does not follow: a dead letter at once. Its
    id, as `dlq list` shows it."""
    secret = (demo.folder / "secrets" / "zendesk-webhook-secret").read_text().strip()
    event_id = f"evt-{uuid.uuid4().hex}"
    event = {"id": event_id, "type": "zen:event-type:user.created", "detail": {}}
    event["detail"] = {"notes": "x" * payload_bytes}
    body = json.dumps(event).encode()
    stamp = datetime.now(UTC).isoformat()
    digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    signature = base64.b64encode(digest)
    sent = httpx.post(
        f"{demo.url}/webhooks/zendesk",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Zendesk-Webhook-Signature": signature.decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        },
        timeout=30,
    )
    assert sent.status_code == 200, sent.text
    for _ in range(20):
        listed = crmgraph("dlq", "list", "--config", demo.config).stdout
        row = next((line for line in listed.splitlines() if event_id in line), None)
        if row is not None:
            return row.split()[0]
        time.sleep(0.2)
    raise AssertionError(f"{event_id} did not become a dead letter")


def test_dlq_show_payload_piped_into_head_ends_quietly(demo: Demo) -> None:
    dead = _dead_letter(demo, payload_bytes=200_000)  # more than a pipe holds
    shown = in_a_pipeline(f"{CRMGRAPH} dlq show {dead} --payload --config {demo.config} | head -1")
    assert shown.stdout == f"id:          {dead}\n"
    assert shown.stderr == ""
    assert shown.returncode == 141  # as `yes | head -1`: its reader went away


# --- stopping and starting again ---------------------------------------------------------------


async def test_a_restarted_demo_keeps_its_keys_on_the_same_folder(demo: Demo) -> None:
    first = demo.keys()
    made = crmgraph(
        "keys", "create", "--role", "analyst", "--brand", "goldcoast", "--config", demo.config
    )
    analyst = made.stdout.strip()
    assert await demo.stop() == 0
    assert "Traceback" not in demo.log.read_text()
    await demo.start()
    assert demo.keys() == first
    query = "{ customers(first: 1) { totalCount } }"
    assert demo.graphql(first["admin@*"], query).status_code == 200
    assert demo.graphql(analyst, query).status_code == 200
    assert demo.graphql("cgk_000000000000_not-a-key", query).status_code == 401


# --- one clear line, no traceback ------------------------------------------------------------


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = crmgraph("serve", "--port", str(port), "--demo-dir", str(tmp_path / "demo"))
    line = one_clear_line(result)
    assert line.startswith(f"crmgraph serve: port {port} on 127.0.0.1 is in use;")
    assert "--port" in line
    assert not (tmp_path / "demo").exists()


def test_serve_with_the_simulators_port_busy_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = crmgraph(
            "serve",
            "--port",
            str(free_port()),
            "--simulators-port",
            str(port),
            "--demo-dir",
            str(tmp_path),
        )
    assert f"port {port} on 127.0.0.1 (the simulators'" in one_clear_line(result)


def test_serve_with_a_config_on_a_busy_port_says_so_in_one_line(demo: Demo) -> None:
    result = crmgraph("serve", "--config", demo.config, "--port", str(demo.port))
    assert f"port {demo.port} on 127.0.0.1 is in use" in one_clear_line(result)


@pytest.mark.parametrize(
    "command",
    [
        ["config", "check", "--config"],
        ["serve", "--config"],
        ["keys", "list", "--config"],
        ["outbox", "list", "--config"],
        ["dlq", "list", "--config"],
        ["cache", "flush", "--config"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_a_missing_config_file_is_one_clear_line(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    line = one_clear_line(crmgraph(*command, str(missing)))
    assert line.endswith(f"{missing}: cannot read the file: No such file or directory")


def test_import_with_a_missing_config_file_is_one_clear_line(
    leads_csv: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.yaml"
    line = one_clear_line(crmgraph("import", "leads", str(leads_csv), "--config", str(missing)))
    assert line == f"crmgraph import: {missing}: cannot read the file: No such file or directory"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("sources: [\n", ": line 2, column 1: not valid YAML: expected the node content"),
        (None, ": cannot read the file: Is a directory"),
        (b"\xff\xfe\x00", ": cannot read the file: not UTF-8 text"),
    ],
    ids=["bad YAML", "a folder", "not text"],
)
def test_config_check_of_an_unreadable_file_is_one_clear_line(
    content: str | bytes | None, expected: str, tmp_path: Path
) -> None:
    path = tmp_path / "crmgraph.yaml"
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    line = one_clear_line(crmgraph("config", "check", "--config", str(path)))
    assert line.startswith(f"{path}{expected}")


def test_a_bad_flag_is_usage_and_an_error_without_a_traceback(tmp_path: Path) -> None:
    result = crmgraph("keys", "list", "--config", str(tmp_path / "x.yaml"), "--colour")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("usage: crmgraph")
    assert "error: unrecognized arguments: --colour" in result.stderr


def _try_it_queries() -> list[str]:
    """The GraphQL blocks of the README's "Try it" section, as a newcomer pastes them."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Try it", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```graphql\n(.*?)```", section, re.DOTALL)


def test_the_readme_has_queries_to_try() -> None:
    assert len(_try_it_queries()) >= 3


@pytest.mark.parametrize("query", _try_it_queries())
def test_each_readme_query_answers_without_errors_for_the_keyless_caller(
    demo: Demo, query: str
) -> None:
    # GraphiQL without a key: the demo's read-only analyst, who may not read emails.
    answer = httpx.post(f"{demo.url}/graphql", json={"query": query}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "errors" not in body, body["errors"]
    assert all(value is not None for value in body["data"].values())


@pytest.mark.parametrize("query", _try_it_queries())
def test_the_dynamics_demo_answers_each_readme_query_in_the_same_shape(
    demo: Demo, dynamics_demo: Demo, query: str
) -> None:
    answers = []
    for running in (demo, dynamics_demo):
        answer = httpx.post(f"{running.url}/graphql", json={"query": query}, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert "errors" not in body, body["errors"]
        answers.append(body["data"])
    assert same_shape(shape(answers[1]), shape(answers[0])), answers
