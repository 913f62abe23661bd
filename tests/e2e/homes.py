"""Throwaway HOMEs for the real CLIs: pointed at the fake model server, kept off the internet.

Each builder writes the CLI's config files under ``home`` with every first-run question
answered in advance (onboarding, theme, API-key approval, trust, model migration), and returns
the environment variables to give the CLI. Start from :func:`base_env` rather than
``os.environ`` so no real key, config dir or proxy setting of the developer leaks in.

Every returned environment routes outside traffic to the refusing proxy (``HTTPS_PROXY`` and
friends) and keeps 127.0.0.1 direct (``NO_PROXY``), and points the XDG folders inside the
throwaway HOME.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

Cli = Literal["claude", "codex", "gemini"]

ANTHROPIC_KEY = "sk-ant-api03-fake-e2e-key-0123456789abcdefghij"
OPENAI_KEY_VAR = "CODER_TUI_FAKE_OPENAI_KEY"
OPENAI_KEY = "sk-fake-e2e-openai-key"
GEMINI_KEY = "fake-e2e-gemini-key"
CODEX_MODEL = "gpt-5.5"
GEMINI_MODEL = "gemini-2.5-pro"


def base_env() -> dict[str, str]:
    """The few variables a CLI needs from the parent: where node lives, locale, terminal."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
    }


def _common(home: Path, proxy_url: str) -> dict[str, str]:
    """HOME, XDG folders inside it, and the refusing proxy for everything but 127.0.0.1."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        env[name] = proxy_url
    return env


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def claude_home(
    home: Path,
    server_url: str,
    project_dir: Path,
    *,
    proxy_url: str,
    trust_project: bool = True,
) -> dict[str, str]:
    """Claude Code starts at the prompt: onboarding done, key approved, project trusted.

    Without ``theme`` Claude runs an online connectivity check and exits; without the key in
    ``customApiKeyResponses.approved`` its custom-key dialog defaults to "No".
    ``trust_project=False`` leaves the trust dialog for the test (or coder-tui) to answer.
    """
    config: dict[str, Any] = {
        "hasCompletedOnboarding": True,
        "theme": "dark",
        "customApiKeyResponses": {"approved": [ANTHROPIC_KEY[-20:]], "rejected": []},
    }
    if trust_project:
        config["projects"] = {str(project_dir.resolve()): {"hasTrustDialogAccepted": True}}
    _write_json(home / ".claude.json", config)
    _write_json(home / ".claude" / "settings.json", {"skipDangerousModePermissionPrompt": True})
    return {
        **_common(home, proxy_url),
        "ANTHROPIC_BASE_URL": server_url,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
    }


def _toml_str(value: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML escapes)."""
    return json.dumps(value)


def codex_home(
    home: Path,
    server_url: str,
    project_dir: Path,
    *,
    proxy_url: str,
    trust_project: bool = True,
) -> dict[str, str]:
    """Codex starts at the prompt with a keyed custom provider: no login, no update check.

    The features turned off would otherwise call out (plugins, apps) or leave a background
    app-server daemon running after the TUI exits (``daemon_auto_start``). Retries are off so
    a fake-server mistake fails at once instead of after several back-offs.
    ``trust_project=False`` leaves the trust question (asked inside a git repo) to the test.
    """
    codex_dir = home / ".codex"
    codex_dir.mkdir(parents=True, exist_ok=True)
    trust = [f"[projects.{_toml_str(str(project_dir.resolve()))}]", 'trust_level = "trusted"']
    (codex_dir / "config.toml").write_text(
        "\n".join(
            [
                f"model = {_toml_str(CODEX_MODEL)}",
                'model_provider = "fake"',
                "check_for_update_on_startup = false",
                "",
                "[model_providers.fake]",
                'name = "fake"',
                f"base_url = {_toml_str(server_url + '/v1')}",
                f"env_key = {_toml_str(OPENAI_KEY_VAR)}",
                'wire_api = "responses"',
                "request_max_retries = 0",
                "stream_max_retries = 0",
                "",
                "[analytics]",
                "enabled = false",
                "",
                "[features]",
                "plugins = false",
                "remote_plugin = false",
                "apps = false",
                "daemon_auto_start = false",
                "",
                "[notice.model_migrations]",
                f'{_toml_str(CODEX_MODEL)} = "gpt-6-sol"',
                "",
                *(trust if trust_project else []),
                "",
            ]
        )
    )
    return {
        **_common(home, proxy_url),
        "CODEX_HOME": str(codex_dir),
        OPENAI_KEY_VAR: OPENAI_KEY,
    }


def gemini_home(
    home: Path,
    server_url: str,
    project_dir: Path,
    *,
    proxy_url: str,
    trust_folder: bool = False,
) -> dict[str, str]:
    """Gemini starts with API-key auth on a fixed model (no routing call), nothing phoning home.

    Folder trust is left on by default because coder-tui is meant to answer it per launch;
    ``trust_folder=True`` turns the check off for tests that are not about it.
    """
    del project_dir  # Gemini keeps no per-project state that needs answering in advance.
    settings: dict[str, Any] = {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "model": {"name": GEMINI_MODEL},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    }
    if trust_folder:
        settings["security"]["folderTrust"] = {"enabled": False}
    _write_json(home / ".gemini" / "settings.json", settings)
    return {
        **_common(home, proxy_url),
        "GEMINI_API_KEY": GEMINI_KEY,
        "GOOGLE_GEMINI_BASE_URL": server_url,
        "COLORTERM": "truecolor",
    }


def cli_home(
    cli: Cli,
    home: Path,
    server_url: str,
    project_dir: Path,
    *,
    proxy_url: str,
    trust_project: bool = True,
    trust_folder: bool = False,
) -> dict[str, str]:
    """Dispatch to the builder for ``cli``, for tests parametrized over the three CLIs.

    ``trust_project`` is for Claude and Codex, ``trust_folder`` for Gemini (see each builder).
    """
    if cli == "claude":
        return claude_home(
            home, server_url, project_dir, proxy_url=proxy_url, trust_project=trust_project
        )
    if cli == "codex":
        return codex_home(
            home, server_url, project_dir, proxy_url=proxy_url, trust_project=trust_project
        )
    return gemini_home(
        home, server_url, project_dir, proxy_url=proxy_url, trust_folder=trust_folder
    )
