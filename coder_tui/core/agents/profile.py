"""Agent profiles: what coder-tui knows about one agent CLI, as data.

What differs between Claude Code, Codex, Gemini CLI and any other command (how to start it,
what its screen looks like when busy, idle or asking for approval, how long to wait between a
paste and Enter, how to resume) lives in a YAML profile, not in code. What takes code (adding
its hooks for one launch without touching the user's config, reading their payloads and its
transcript) is the CLI's adapter, which the profile's ``hooks:`` names. Built-in profiles ship
in ``coder_tui/data/agents/``; users add or override them in ``<config>/agents/*.yaml`` and
``.coder-tui/agents/*.yaml`` of a project.
"""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coder_tui import paths
from coder_tui.core.agents.adapters.base import CliAdapter
from coder_tui.core.agents.adapters.registry import NO_HOOKS, adapter_for, adapter_names
from coder_tui.core.yamlfile import ConfigError, ConfigProblem, load_yaml_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScreenRules(_Strict):
    """Regexes matched against the agent's screen, a fallback for hooks and the only source
    for agents without them. ``busy`` and ``approval`` are searched above the input box."""

    busy: list[str] = Field(default_factory=list)
    idle: list[str] = Field(default_factory=list)
    approval: list[str] = Field(default_factory=list)
    approval_edit: list[str] = Field(default_factory=list)  # approvals that are file edits
    # Transcript lines that are the CLI's own, not the model's (a turn's time summary): left
    # out of a reply read from the screen.
    not_reply: list[str] = Field(default_factory=list)
    input_box: str | None = None  # first line of the input box: the region above is output
    # The box's bottom border, where it also matches ``input_box`` (Claude draws the box as two
    # equal rules): the box then starts at the rule above it, not at the bottom one.
    input_box_bottom: str | None = None
    # Rows right above the input box where the CLI draws its spinner (Codex leaves two blank
    # rows between; Gemini a rule, a mode hint and the box's border).
    status_rows_above: int = Field(default=2, ge=1, le=8)
    # Last non-empty rows that make the footer (Claude's wraps onto a second row in a narrow
    # pane: its mode, then "● high · /effort").
    footer_rows: int = Field(default=1, ge=1, le=4)
    quiescence: float = Field(default=1.5, gt=0)  # seconds without screen change that mean "idle"
    # A side panel the CLI may open beside its transcript (Claude Code 2.1.332's diff panel in
    # panes of 144+ columns): a regex that tells it is open. Rows split by its divider are
    # read up to the divider only, so the panel is neither a status nor part of a reply.
    side_panel: str | None = None
    side_panel_divider: str = Field(default="│", min_length=1, max_length=1)
    # The CLI writes only its own text, never pads a row with spaces: the spaces it wrote at a
    # line's end, and lines of only spaces, are then part of a reply read off the screen (the
    # emulator tells a written space from an empty cell). Off for CLIs that pad rows.
    trailing_spaces_are_text: bool = False

    @field_validator("busy", "idle", "approval", "approval_edit", "not_reply")
    @classmethod
    def _regexes_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _compile(pattern)
        return patterns

    @field_validator("input_box", "input_box_bottom", "side_panel")
    @classmethod
    def _box_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            _compile(pattern)
        return pattern


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None


class SessionArgs(_Strict):
    """Arguments for a fresh session with an id chosen at launch, and for resuming one.
    ``{session_id}`` is replaced. Empty ``new`` means the CLI picks its own id."""

    new: list[str] = Field(default_factory=list)
    resume: list[str] = Field(default_factory=list)
    resume_is_subcommand: bool = False  # codex: `codex resume ID` instead of a flag


class ApprovalKeys(_Strict):
    """The keys the CLI expects at its permission prompt (escapes allowed, e.g. "\\r")."""

    approve: str = "1"
    approve_always: str | None = "2"
    deny: str = "\x1b"


class StartupAnswer(_Strict):
    """A dialog the CLI may show before its prompt, and the keys that answer it safely (never
    an answer that writes the user's config or lowers a permission)."""

    screen: str  # regex that identifies the dialog on screen
    keys: str  # escapes allowed, e.g. "\x1b"
    why: str = ""  # what the answer does, for the log

    @field_validator("screen")
    @classmethod
    def _screen_compiles(cls, pattern: str) -> str:
        _compile(pattern)
        return pattern


class PasteChunks(_Strict):
    """Deliver a prompt as several bracketed pastes, each within these limits. Claude Code
    collapses one paste of over 800 characters or with 3+ newlines into "[Pasted text #N]"
    and hands it to the model wrapped as third-party content; smaller pastes are typed text."""

    max_newlines: int = Field(ge=0)
    max_length: int = Field(gt=0)  # in UTF-16 code units, as a JavaScript CLI counts


class PromptGuard(_Strict):
    """Characters that, first in a prompt, make the CLI do something else than send it to the
    model (Claude Code: `!` runs the text in bash, `/` as a slash command; leading white space
    does not stop it). A prompt that starts with one gets ``escape`` in front."""

    starts: list[str] = Field(min_length=1)
    escape: str = Field(min_length=1)


class CheckedVersions(_Strict):
    """The CLI versions this profile was checked against (its screens recorded, the e2e tier
    green): outside the range the profile may no longer fit, and coder-tui says so."""

    min: str = Field(pattern=r"^\d+(?:\.\d+)+$")
    max: str = Field(pattern=r"^\d+(?:\.\d+)+$")


class AgentProfile(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str = ""
    command: list[str] = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    # Variables removed from the CLI's environment, e.g. ones that switch it to headless mode
    # (Gemini CLI runs headless, and exits, whenever CI=true: a pane is always interactive).
    env_unset: list[str] = Field(default_factory=list)
    install: str = ""  # the exact command that installs the CLI, shown when it is missing
    version_args: list[str] = Field(default_factory=lambda: ["--version"])
    first_prompt_args: list[str] | None = None  # e.g. ["{prompt}"]; None: deliver after start
    # The CLI's adapter (coder_tui/core/agents/adapters), which adds its hooks per launch and
    # reads their events; "none": screen rules only.
    hooks: str = NO_HOOKS
    screen: ScreenRules = ScreenRules()
    paste_enter_delay: float = Field(default=0.1, ge=0, le=5)  # seconds between paste end and Enter
    paste_chunks: PasteChunks | None = None  # None: the whole prompt in one paste
    prompt_guard: PromptGuard | None = None
    submit_key: str = "\r"
    submit_retries: int = Field(default=3, ge=0, le=10)  # Enter re-sent alone, never the text
    submit_proof_timeout: float = Field(default=2.0, gt=0)  # seconds to see proof before re-sending
    session: SessionArgs = SessionArgs()
    skip_approval_args: list[str] = Field(default_factory=list)  # used only when asked
    # Arguments that make the CLI ask before it edits or runs anything, so that coder-tui (the
    # user, or the policy the user chose) decides: given on every launch unless approvals are
    # skipped. They override a permission mode chosen in the user's own CLI settings.
    ask_approval_args: list[str] = Field(default_factory=list)
    # Values of a hook payload's ``permission_mode`` under which the CLI asks; any other mode
    # reported while approvals are not skipped raises a visible warning.
    asking_modes: list[str] = Field(default_factory=list)
    checked_versions: CheckedVersions | None = None
    # Tool names (as the CLI's hooks report them) that only edit files: the approve-edits
    # policy approves these when every file they touch is inside the working folder.
    edit_tools: list[str] = Field(default_factory=list)
    approval_keys: ApprovalKeys = ApprovalKeys()
    startup_answers: list[StartupAnswer] = Field(default_factory=list)
    startup_timeout: float = Field(default=30.0, gt=0)
    turn_timeout: float | None = Field(default=None, gt=0)  # interrupt a turn running longer
    interrupt_key: str = "\x1b"  # stops a running turn (Esc in all three CLIs)
    exit_keys: str = "\x03\x03"  # how to ask the CLI to quit politely

    @field_validator("hooks")
    @classmethod
    def _adapter_exists(cls, name: str) -> str:
        if name != NO_HOOKS and name not in adapter_names():
            known = ", ".join([NO_HOOKS, *adapter_names()])
            raise ValueError(f"no agent CLI adapter {name!r} (known: {known})")
        return name

    @property
    def adapter(self) -> CliAdapter | None:
        """The CLI's adapter, or None for a profile without hooks."""
        return None if self.hooks == NO_HOOKS else adapter_for(self.hooks)

    @property
    def executable(self) -> str:
        return self.command[0]

    def resolve_executable(self, path: str | None = None) -> str | None:
        """The full path of the CLI, or None when it is not installed."""
        return shutil.which(self.executable, path=path)

    def missing_message(self) -> str:
        hint = f" Install it with: {self.install}" if self.install else ""
        return (
            f"{self.title or self.name}: '{self.executable}' is not installed or not on PATH.{hint}"
        )


BUILTIN_RESOURCE = "data/agents"  # inside the coder_tui package, in a wheel as in a checkout


def builtin_profile_files() -> list[Path]:
    folder = resources.files("coder_tui").joinpath(BUILTIN_RESOURCE)
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def profile_dirs(project: Path | None = None) -> list[Path]:
    """Where user profiles come from, lowest precedence first (built-ins come before all)."""
    dirs = [paths.config_dir() / "agents"]
    project_dir = project if project is not None else paths.project_dir()
    if project_dir is not None:
        dirs.append(project_dir / "agents")
    return dirs


def load_profiles(project: Path | None = None) -> dict[str, AgentProfile]:
    """All profiles by name; a user or project file overrides a built-in of the same name.

    Every broken file is reported at once (file, line, field), not only the first.
    """
    files = builtin_profile_files()
    for folder in profile_dirs(project):
        if folder.is_dir():
            files += sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    profiles: dict[str, AgentProfile] = {}
    problems: list[ConfigProblem] = []
    for file in files:
        try:
            profile = load_yaml_model(file, AgentProfile)
        except ConfigError as exc:
            problems += exc.problems
            continue
        profiles[profile.name] = profile
    if problems:
        raise ConfigError(problems)
    return profiles
