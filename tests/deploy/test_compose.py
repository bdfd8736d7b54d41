"""docker-compose.yml cannot run here (no Docker daemon in CI); check its shape instead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_postgres_with_healthcheck_and_volume() -> None:
    pg = compose()["services"]["postgres"]
    assert pg["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert any(v.startswith("pgdata:") for v in pg["volumes"])
    assert "pgdata" in compose()["volumes"]


def test_two_replicas_on_postgres_behind_a_load_balancer() -> None:
    services = compose()["services"]
    replicas = [s for name, s in services.items() if name.startswith("nudgebot-")]
    assert len(replicas) == 2
    for service in replicas:
        assert service["build"] == "."
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        assert "./nudgebot.yaml:/config/nudgebot.yaml:ro" in service["volumes"]
        assert service["env_file"] == ".env"
    lb = services["lb"]
    assert lb["ports"] == ["8080:8080"]
    assert set(lb["depends_on"]) == {"nudgebot-1", "nudgebot-2"}
    conf_host_path = lb["volumes"][0].split(":")[0]
    conf = (REPO / conf_host_path).read_text(encoding="utf-8")
    assert {"nudgebot-1:8080", "nudgebot-2:8080"} <= set(re.findall(r"server (\S+)", conf))


def test_env_example_names_every_variable_the_compose_file_needs() -> None:
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    needed = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    assert needed and all(re.search(rf"^{name}=", example, re.M) for name in needed)


def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text(encoding="utf-8")


def documented_env() -> set[str]:
    """Variable names in the README's environment tables (the DESIGN's contract and more)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_replicas_match_the_image() -> None:
    image = dockerfile()
    # The image runs `nudgebot run` unless told otherwise; the replicas keep that.
    assert re.search(r'^ENTRYPOINT \["nudgebot"\]$', image, re.M)
    assert re.search(r'^CMD \["run"\]$', image, re.M)
    [exposed] = re.findall(r"^EXPOSE (\d+)$", image, re.M)
    assert re.search(rf"NUDGEBOT_PORT={exposed}\b", image)
    # Every package setuptools installs is copied into the build stage.
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    [include] = re.findall(r"^include = \[(.*)\]$", pyproject, re.M)
    for package in re.findall(r'"(\w+)\*"', include):
        assert re.search(rf"^COPY {package} \./{package}$", image, re.M), package
    services = compose()["services"]
    conf = (REPO / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    for name in ("nudgebot-1", "nudgebot-2"):
        service = services[name]
        env = service["environment"]
        assert "command" not in service and "entrypoint" not in service
        assert env["NUDGEBOT_PORT"] == exposed and env["NUDGEBOT_HOST"] == "0.0.0.0"
        health = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{exposed}/readyz" in health
        assert f"server {name}:{exposed} " in conf
        # The config file is mounted where NUDGEBOT_CONFIG points.
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        assert mounts[env["NUDGEBOT_CONFIG"]] == "./nudgebot.yaml"
        # psycopg (the URL's driver) is a runtime dependency, not only a dev one.
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert re.search(r'^\s+"psycopg\[binary\]', pyproject, re.M)


def test_every_variable_set_for_the_service_is_documented() -> None:
    known = documented_env()
    assert {"DATABASE_URL", "NUDGEBOT_API_TOKEN", "TELEGRAM_MODE"} <= known
    replica_env = set(compose()["services"]["nudgebot-1"]["environment"])
    image_env = set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", dockerfile().split("ENV", 1)[1]))
    image_env -= {"PATH", "PYTHONUNBUFFERED"}
    assert replica_env | image_env <= known, (replica_env | image_env) - known
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    set_in_example = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    assert set_in_example - {"POSTGRES_PASSWORD", "WEBHOOK_SECRET"} <= known
