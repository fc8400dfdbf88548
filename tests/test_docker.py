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


def test_every_service_builds_from_the_dockerfile_and_the_profiles_do_not_share_a_port() -> None:
    services = COMPOSE["services"]
    assert {"groundwork", "llamacpp", "groundwork-llamacpp", "weights"} <= set(services)
    for service in services.values():
        assert (ROOT / "docker" / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    by_profile: dict[str, list[str]] = {}
    for service in services.values():
        for profile in service["profiles"]:
            by_profile.setdefault(profile, []).extend(service.get("ports", []))
    for ports in by_profile.values():
        assert len(ports) == len(set(ports))


@pytest.mark.parametrize("name", ["groundwork", "groundwork-llamacpp"])
def test_the_environment_is_settings_groundwork_reads(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = COMPOSE["services"][name]["environment"]
    assert set(env) >= {"RAG_ADMIN_KEY"}
    for key, value in env.items():
        assert key.startswith("RAG_")
        monkeypatch.setenv(key, "admin-key" if key == "RAG_ADMIN_KEY" else str(value))
    settings = Settings()
    if name == "groundwork-llamacpp":
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
