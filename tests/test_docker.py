"""docker/ as far as it can be checked without a Docker engine: the compose file parses, its
settings are real Settings, the commands it runs exist with the flags it passes, and the
Dockerfile copies what exists and pins what the Makefile pins."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rag.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()


# Services that run images of their own (the machine's engines), not the Dockerfile.
ENGINES = {"postgres", "redis"}


def test_every_service_builds_from_the_dockerfile_and_the_profiles_do_not_share_a_port() -> None:
    services = COMPOSE["services"]
    assert {"groundwork", "llamacpp", "groundwork-llamacpp", "weights", "api-1", "api-2", "worker"} <= set(services)
    for name, service in services.items():
        if name in ENGINES:
            assert service["image"] in ("postgres:15", "redis:7") and "healthcheck" in service
            continue
        assert (ROOT / "docker" / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    by_profile: dict[str, list[str]] = {}
    for service in services.values():
        for profile in service["profiles"]:
            by_profile.setdefault(profile, []).extend(service.get("ports", []))
    for ports in by_profile.values():
        assert len(ports) == len(set(ports))


@pytest.mark.parametrize("name", ["groundwork", "groundwork-llamacpp", "api-1", "api-2", "worker"])
def test_the_environment_is_settings_groundwork_reads(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = COMPOSE["services"][name]["environment"]
    assert set(env) >= {"RAG_ADMIN_KEY"}
    for key, value in env.items():
        assert key.startswith("RAG_")
        monkeypatch.setenv(key, "admin-key" if key == "RAG_ADMIN_KEY" else str(value))
    settings = Settings()
    if name in ("api-1", "api-2", "worker"):
        assert settings.database_url is not None and settings.queue_url is not None
        assert settings.database_url.get_secret_value().startswith("postgresql://groundwork:groundwork@postgres:5432/")
        assert settings.queue_url.get_secret_value() == "redis://redis:6379/0"
        assert settings.llm.backend == "auto"
    elif name == "groundwork-llamacpp":
        assert settings.llm.backend == "openai" and settings.llm.base_url == "http://llamacpp:8080/v1"
        assert settings.llm.engine_options == {"top_k": 1, "repeat_penalty": 1.0}
        assert settings.llm.prompt_style == "compact"
    else:
        assert settings.llm.backend == "auto"


def test_the_llama_server_takes_the_flags_compose_passes() -> None:
    command = COMPOSE["services"]["llamacpp"]["command"]
    assert command[:3] == ["python", "-m", "llama_cpp.server"]
    usage = subprocess.run([sys.executable, "-m", "llama_cpp.server", "--help"], capture_output=True, text=True,
                           timeout=120).stdout
    for flag in (arg for arg in command if arg.startswith("--")):
        assert flag in usage, flag
    # The weights it loads are the ones `rag engine weights` prints (a command that exists).
    assert "rag engine weights" in " ".join(COMPOSE["services"]["weights"]["command"])
    from rag.cli.engine import weights  # noqa: F401


def test_the_dockerfile_copies_what_exists_and_pins_what_the_makefile_pins() -> None:
    for source in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
    makefile = (ROOT / "Makefile").read_text()
    for pin in re.findall(r"[\w-]+==[\d.]+", makefile):
        assert pin in DOCKERFILE, pin
    assert "HF_HUB_OFFLINE=1" in DOCKERFILE and "DO_NOT_TRACK=true" in DOCKERFILE


def test_the_scaled_topology_agrees_with_itself() -> None:
    services = COMPOSE["services"]
    scaled = {n: s for n, s in services.items() if "scaled" in s.get("profiles", [])}
    assert set(scaled) == {"postgres", "redis", "api-1", "api-2", "worker"}
    pg, redis = services["postgres"]["environment"], services["redis"]
    for name in ("api-1", "api-2", "worker"):
        service = scaled[name]
        env = service["environment"]
        # The store and the queue they name are the services of the profile, with its credentials.
        assert env["RAG_DATABASE_URL"] == (f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}"
                                           f"@postgres:5432/{pg['POSTGRES_DB']}")
        assert env["RAG_QUEUE_URL"].startswith("redis://redis:6379/") and "redis-server" in redis["command"]
        assert set(service["depends_on"]) == {"postgres", "redis"}
        # Every process reads and writes the same originals.
        mounts = dict(v.split(":")[::-1] for v in service["volumes"])
        assert mounts[env["RAG_FILES_DIR"]] == "originals"
    # The API replicas each keep their own /data (a FAISS copy each) on their own port.
    assert scaled["api-1"]["volumes"][0] != scaled["api-2"]["volumes"][0]
    ports = [p for n in ("api-1", "api-2") for p in scaled[n]["ports"]]
    assert len(ports) == len(set(ports)) and all(p.endswith(":8000") for p in ports)
    declared = set(COMPOSE["volumes"])
    for service in scaled.values():
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in declared, volume


def test_every_command_is_a_real_rag_command() -> None:
    from typer.main import get_command

    from rag.cli import app

    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    assert {"serve", "worker"} <= commands
    for name, service in COMPOSE["services"].items():
        command = service.get("command")
        if command and command[0] == "rag":
            assert command[1] in commands, (name, command)
    assert re.search(r'^CMD \["rag", "serve"', DOCKERFILE, re.M)
    # What the worker needs to start: a queue URL (else it refuses, saying why).
    from typer.testing import CliRunner

    refused = CliRunner().invoke(app, ["worker"], env={"RAG_QUEUE_URL": None})
    assert refused.exit_code != 0 and "RAG_QUEUE_URL" in refused.output


def test_the_image_runs_as_a_user_of_its_own_with_a_health_check() -> None:
    assert re.search(r"^USER groundwork$", DOCKERFILE, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", DOCKERFILE, re.M)
    assert "llama-cpp-python" in (ROOT / "pyproject.toml").read_text() and '".[engine]"' in DOCKERFILE
