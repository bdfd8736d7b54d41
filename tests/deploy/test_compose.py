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
