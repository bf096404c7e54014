"""The deployment files of ``deploy/`` agree with each other and with the app.

No Docker engine or Kubernetes cluster runs where these tests run, so the files are checked
for what can be checked without one: they parse, the Kubernetes objects are the kinds and API
versions meant, the probes, ports and paths are the app's own, compose's services and
HAProxy's backends name each other, every file the Dockerfile copies exists, and the
deployment's config passes ``crmgraph config check``. (``haproxy -c`` of deploy/haproxy.cfg is
run by ``make bench``, where haproxy is installed.)
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import Settings, load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CRMGRAPH = str(Path(sys.executable).with_name("crmgraph"))
CONFIG_IN_CONTAINER = "/etc/crmgraph/crmgraph.yaml"
#: The command of the brief: `crmgraph serve` on the container's config, on every interface.
SERVE = ["crmgraph", "serve", "--config", CONFIG_IN_CONTAINER, "--host", "0.0.0.0"]


def documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def k8s() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object of deploy/k8s by ``Kind/name``."""
    found = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in documents(path):
            if doc.get("kind") != "Kustomization":
                found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def settings() -> Settings:
    return load_config(DEPLOY / "crmgraph.yaml", check_secrets=False)


def secret_env_names() -> set[str]:
    """The environment variables the deployment's config reads its secrets from."""
    return {ref.env for _, ref in settings().secrets() if ref.env is not None}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def haproxy_lines() -> list[list[str]]:
    lines = (DEPLOY / "haproxy.cfg").read_text().splitlines()
    return [line.split() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_every_yaml_file_parses() -> None:
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert len(files) >= 8
    for path in files:
        assert documents(path), path


def test_the_kubernetes_objects_are_the_kinds_and_versions_meant() -> None:
    kinds = {key: obj["apiVersion"] for key, obj in k8s().items()}
    assert kinds == {
        "ConfigMap/crmgraph-config": "v1",
        "Deployment/crmgraph": "apps/v1",
        "Service/crmgraph": "v1",
        "Service/redis": "v1",
        "HorizontalPodAutoscaler/crmgraph": "autoscaling/v2",
    }
    listed = documents(DEPLOY / "k8s" / "kustomization.yaml")[0]["resources"]
    assert sorted(listed) == sorted(
        p.name for p in (DEPLOY / "k8s").glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_no_secret_value_is_in_any_deployment_file() -> None:
    """Secrets are environment variables (the Secret object itself is made by the operator,
    not kept here); no credential the repository knows of is written in deploy/."""
    from app.simulators import credentials

    assert not [key for key in k8s() if key.startswith("Secret/")]
    refs = [ref for _, ref in settings().secrets()]
    assert refs
    assert all(ref.env is not None for ref in refs)
    known = [v for k, v in vars(credentials).items() if k.isupper() and isinstance(v, str)]
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "cgk_" not in text, path
            assert not [value for value in known if len(value) > 8 and value in text], path


def test_the_configmap_carries_the_deployment_config() -> None:
    config = k8s()["ConfigMap/crmgraph-config"]["data"]["crmgraph.yaml"]
    assert config == (DEPLOY / "crmgraph.yaml").read_text()


def test_the_deployment_serves_the_config_with_probes_on_the_app_s_own_routes() -> None:
    from app.main import create_app

    served = {getattr(route, "path", None) for route in create_app(settings()).routes}
    assert {"/healthz", "/readyz"} <= served
    pod = k8s()["Deployment/crmgraph"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": settings().server.port}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert container["args"][: len(SERVE)] == SERVE
    # The config file is the ConfigMap's, mounted where the command reads it.
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    config_mount = next(m for m in mounts.values() if m["mountPath"] == CONFIG_IN_CONTAINER)
    assert volumes[config_mount["name"]]["configMap"]["name"] == "crmgraph-config"
    # The API keys file the config names is in the mounted Secret's folder.
    keys = settings().auth.keys_file
    assert keys is not None
    keys_mount = next(m for m in mounts.values() if m["mountPath"] == str(keys.parent))
    assert "secret" in volumes[keys_mount["name"]]
    # The outbox's folder (idempotency keys' file) is writable: an emptyDir.
    state = next(
        m for m in mounts.values() if m["mountPath"] == str(settings().writes.outbox_path.parent)
    )
    assert "emptyDir" in volumes[state["name"]]
    assert container["envFrom"] == [{"secretRef": {"name": "crmgraph-credentials"}}]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_service_hpa_and_redis_reference_point_at_the_right_things() -> None:
    objects = k8s()
    deployment = objects["Deployment/crmgraph"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = objects["Service/crmgraph"]["spec"]
    assert service["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["ports"]] == ["http"]
    target = objects["HorizontalPodAutoscaler/crmgraph"]["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "crmgraph"}
    # The config's Redis is the Service named in it, on its port.
    for url in (settings().redis_url, settings().cache.redis_url):
        assert url == "redis://redis:6379/0"
    assert [p["port"] for p in objects["Service/redis"]["spec"]["ports"]] == [6379]


def test_compose_services_and_haproxy_backends_agree() -> None:
    services = compose()["services"]
    assert set(services) == {"gateway", "redis", "haproxy"}
    gateway = services["gateway"]
    assert gateway["deploy"]["replicas"] >= 2
    assert gateway["command"][: len(SERVE)] == SERVE
    assert "redis" in gateway["depends_on"]
    # HAProxy's backends are the gateway service's replicas on the config's port…
    (template,) = [line for line in haproxy_lines() if line[0] == "server-template"]
    _, _, count, address = template[:4]
    assert address == f"gateway:{settings().server.port}"
    assert int(count) >= gateway["deploy"]["replicas"]
    checks = [line for line in haproxy_lines() if line[:2] == ["option", "httpchk"]]
    assert checks == [["option", "httpchk", "GET", "/readyz"]]
    # …and it listens on the port compose publishes, with the config compose mounts.
    (bind,) = [line for line in haproxy_lines() if line[0] == "bind"]
    published = [p.rsplit(":", 1)[-1] for p in services["haproxy"]["ports"]]
    assert published == [bind[1].rsplit(":", 1)[-1]]
    mounts = services["haproxy"]["volumes"] + gateway["volumes"]
    for mount in mounts:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (DEPLOY / source).is_file(), mount
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in services["haproxy"]["volumes"]
    assert f"./crmgraph.yaml:{CONFIG_IN_CONTAINER}:ro" in gateway["volumes"]
    # Every secret the config reads is passed in, from the shell (no value in the file).
    environment = gateway["environment"]
    assert set(environment) == secret_env_names()
    assert all(value == f"${{{name}:?set {name}}}" for name, value in environment.items())
    build = gateway["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_every_file_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
    copies = [shlex.split(args) for instruction, args in dockerfile() if instruction == "COPY"]
    assert copies
    kept = [
        line[1:].strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for copy in copies:
        for source in copy[:-1]:
            assert (ROOT / source).exists(), source
            assert source in kept, f"{source} is left out of the build context"


def test_the_dockerfile_builds_the_pinned_app_and_runs_it_unprivileged() -> None:
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    runs = " ".join(args for instruction, args in steps if instruction == "RUN")
    assert "pip install --no-deps -r requirements.lock" in runs
    pinned = re.findall(r"setuptools==([\d.]+)", runs)
    assert pinned
    assert f"setuptools=={pinned[0]}" in (ROOT / "requirements-dev.lock").read_text()
    (user,) = [args for instruction, args in steps if instruction == "USER"]
    assert user.split(":")[0] not in ("0", "root")
    (cmd,) = [args for instruction, args in steps if instruction == "CMD"]
    assert yaml.safe_load(cmd) == SERVE
    (health,) = [args for instruction, args in steps if instruction == "HEALTHCHECK"]
    assert f"127.0.0.1:{settings().server.port}/healthz" in health
    (exposed,) = [args for instruction, args in steps if instruction == "EXPOSE"]
    assert int(exposed) == settings().server.port
    copied = [shlex.split(args) for instruction, args in steps if instruction == "COPY"]
    assert ["deploy/crmgraph.yaml", CONFIG_IN_CONTAINER] in copied


def test_the_deployment_config_passes_config_check() -> None:
    env = {**os.environ, **{name: "not-a-real-secret" for name in secret_env_names()}}
    result = subprocess.run(
        [CRMGRAPH, "config", "check", "--config", str(DEPLOY / "crmgraph.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK (4 sources)" in result.stdout


@pytest.mark.parametrize("name", ["redis_url", "writes.backend"])
def test_the_deployment_config_shares_its_state_through_redis(name: str) -> None:
    """What ``crmgraph serve --workers N`` and several replicas need."""
    from app.cli import _unshared

    assert not [item for item in _unshared(settings()) if item.startswith(name)]
