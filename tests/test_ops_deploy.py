"""The container files: the baked config loads as the image and the compose file run it, the
compose topology is what the README's "Scaling out" section says, and the Dockerfile keeps
its promises (non-root, healthcheck on /healthz).
No Docker engine runs here, so nothing is built."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from selfmodel.cli import main
from selfmodel.config import load_config
from selfmodel.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return data


def test_the_baked_config_loads_for_a_lone_container_and_for_compose(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFMODEL_STORE_URL", f"sqlite:///{tmp_path / 'selfmodel.db'}")
    monkeypatch.setenv("SELFMODEL_WORKERS", "1")  # the Dockerfile's defaults
    monkeypatch.setenv("SELFMODEL_API_KEY", "sk-deploy-test")
    lone = load_config(str(DEPLOY / "config.yaml"))
    assert lone.observer.workers == 1 and lone.store_url().startswith("sqlite:///")
    assert main(["doctor", "--config", str(DEPLOY / "config.yaml")]) == 0
    for key, value in compose()["x-selfmodel"]["environment"].items():
        if not str(value).startswith("${"):
            monkeypatch.setenv(key, str(value))
    scaled = load_config(str(DEPLOY / "config.yaml"))
    assert scaled.observer.workers == 0
    assert scaled.store.url.startswith("postgresql://selfmodel:")
    assert scaled.store.url.endswith("@postgres:5432/selfmodel")


def test_the_shipped_deploy_files_require_a_key(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """The image binds 0.0.0.0: its config has a tenant whose key comes from the
    environment (no key, no start), and compose will not run without that variable."""
    monkeypatch.setenv("SELFMODEL_STORE_URL", f"sqlite:///{tmp_path / 'selfmodel.db'}")
    monkeypatch.setenv("SELFMODEL_WORKERS", "1")
    monkeypatch.delenv("SELFMODEL_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="SELFMODEL_API_KEY"):
        load_config(str(DEPLOY / "config.yaml"))
    monkeypatch.setenv("SELFMODEL_API_KEY", "sk-deploy-test")
    assert not load_config(str(DEPLOY / "config.yaml")).open_mode
    required = compose()["x-selfmodel"]["environment"]["SELFMODEL_API_KEY"]
    assert required.startswith("${SELFMODEL_API_KEY:?")


def test_compose_runs_postgres_migrate_two_gateways_and_a_worker_with_config_mounted() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", "gateway-1", "gateway-2", "worker"}
    assert services["postgres"]["volumes"][0].endswith(":/var/lib/postgresql/data")
    assert services["migrate"]["command"][0] == "migrate"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("gateway-1", "gateway-2", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully")
        service = services[name]
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        assert (DEPLOY / mounts["/etc/selfmodel/config.yaml"]).is_file()
        assert (DEPLOY / mounts["/etc/selfmodel/templates"] / "default.j2").is_file()
        assert int(service["stop_grace_period"].rstrip("s")) > 30  # > graceful_timeout
    assert services["worker"]["command"][0] == "worker"
    assert {services[g]["ports"][0] for g in ("gateway-1", "gateway-2")} == {"8001:8000",
                                                                               "8002:8000"}


def test_the_dockerfile_runs_as_a_numeric_non_root_user_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].isdigit() and users[-1] != "0"
    assert re.search(r"^HEALTHCHECK .*\n.*127\.0\.0\.1:8000/healthz", text, re.MULTILINE)
    assert "COPY deploy/config.yaml /etc/selfmodel/config.yaml" in text


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not installed")
def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(["hadolint", str(ROOT / "Dockerfile")], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
