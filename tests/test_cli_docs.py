"""Every CLI command is documented: in --help with an example, and in the README."""

import argparse

import pytest

from bot.cli import build_parser
from tests.helpers import REPO


def _commands(
    parser: argparse.ArgumentParser, prefix: str = "newsbot"
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((f"{prefix} {name}", sub))
                found.extend(_commands(sub, f"{prefix} {name}"))
    return found


COMMANDS = _commands(build_parser())


def test_there_are_commands() -> None:
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize(("command", "parser"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_command_is_in_readme_and_has_an_example(
    command: str, parser: argparse.ArgumentParser
) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    words = command.split()
    # Nested actions may be documented together, e.g. "newsbot sources remove|pause|resume".
    documented = command in readme or any(
        f"{' '.join(words[:-1])} " in line and words[-1] in line for line in readme.splitlines()
    )
    assert documented, f"{command} is missing from README.md"
    assert parser.epilog and "example:" in parser.epilog
