"""Every `featurizer` / `exprnet` command shown in README.md and docs/ exists as written.

Commands in code blocks are parsed in full by the CLIs' own parsers (options, types, required
arguments; nothing runs); commands quoted inline must name a real sub-command and real options.
So the docs cannot describe a command or option that does not exist.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.main import get_command

try:  # typer >= 0.2x vendors click as typer._click; the CLIs' parsers raise its exceptions
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import UsageError

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOOLS = ("featurizer", "exprnet")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"`((?:featurizer|exprnet) [^`]+)`")


def _apps() -> dict[str, object]:
    from exprnet.cli import app as exprnet_app
    from featurizer.cli import app as featurizer_app

    return {"featurizer": get_command(featurizer_app), "exprnet": get_command(exprnet_app)}


def _words(line: str) -> list[str] | None:
    """A shell line as argv starting at the tool, or None if it does not run one of ours."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    while words and (re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]) or words[0] in ("uv", "run", "$", "--frozen")):
        words = words[1:]  # VAR=value, `uv run`, a prompt
    if words and (words[0] in TOOLS or (words[0].endswith(TOOLS) and "/bin/" in words[0])):
        return [Path(words[0]).name, *words[1:]]
    return None


def block_commands() -> list[tuple[str, int, list[str]]]:
    out = []
    for doc in DOCS:
        text = doc.read_text()
        for m in _FENCE.finditer(text):
            start = text[: m.start()].count("\n") + 2
            lines = m.group(1).replace("\\\n", " ").splitlines()
            for k, line in enumerate(lines):
                words = _words(line)
                if words:
                    out.append((f"{doc.name}:{start + k}", k, words))
    return out


def inline_commands() -> list[tuple[str, list[str]]]:
    out = []
    for doc in DOCS:
        for lineno, line in enumerate(doc.read_text().splitlines(), 1):
            for m in _INLINE.finditer(line):
                words = _words(m.group(1))
                if words:
                    out.append((f"{doc.name}:{lineno}", words))
    return out


def _sub(apps: dict[str, object], words: list[str]) -> tuple[object, list[str]]:
    group = apps[words[0]]
    if len(words) < 2 or words[1] not in group.commands:
        raise AssertionError(f"{' '.join(words[:2])}: no such command (have {', '.join(sorted(group.commands))})")
    return group.commands[words[1]], words[2:]


def test_docs_show_commands():
    assert len(block_commands()) >= 10, "the docs' command examples were not found"


@pytest.mark.parametrize("where,_k,words", block_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_block_command_parses(where, _k, words):
    cmd, args = _sub(_apps(), words)
    try:
        cmd.make_context(f"{words[0]} {words[1]}", list(args), resilient_parsing=False)
    except typer.Exit:
        pass  # --help
    except UsageError as e:
        raise AssertionError(f"{where}: `{' '.join(words)}` does not parse: {e.format_message()}") from None


@pytest.mark.parametrize("where,words", inline_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_inline_command_names_real_options(where, words):
    apps = _apps()
    if len(words) == 1:
        return
    for name in words[1].split("|"):  # `exprnet train|cv|predict` names several commands
        cmd, args = _sub(apps, [words[0], name, *words[2:]])
        known = {"--help", *(o for p in cmd.params for o in (*p.opts, *p.secondary_opts))}
        for w in args:
            if w.startswith("--"):
                opt = w.split("=", 1)[0]
                assert opt in known, f"{where}: `{' '.join(words)}`: {name} has no option {opt}"


def test_a_made_up_option_is_caught():
    with pytest.raises(AssertionError, match="does not parse"):
        test_block_command_parses("x", 0, ["exprnet", "train", "--no-such-flag", "1"])
    with pytest.raises(AssertionError, match="has no option --nope"):
        test_inline_command_names_real_options("x", ["featurizer", "extract", "--nope"])
