"""Every `facemask` command in the README's shell blocks names a real subcommand and real flags."""

import argparse
import re
import shlex

from facemask_rcnn.cli import build_parser
from tests.conftest import ROOT


def readme_commands() -> list[list[str]]:
    """``facemask ...`` lines (and ``-m facemask_rcnn.cli ...``) of the README's bash blocks."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if "facemask_rcnn.cli" in words:
                words = ["facemask", *words[words.index("facemask_rcnn.cli") + 1 :]]
            if words and words[0] == "facemask":
                commands.append(words[1:])
    return commands


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices if actions else {}


def test_readme_commands_use_real_subcommands_and_flags():
    commands = readme_commands()
    assert len(commands) >= 20
    seen = set()
    for words in commands:
        parser, path = build_parser(), []
        while words and words[0] in subparsers(parser):
            path.append(words[0])
            parser, words = subparsers(parser)[words[0]], words[1:]
        assert path and not subparsers(parser), f"facemask {' '.join(path)}: not a command"
        known = {o for action in parser._actions for o in action.option_strings}
        for word in words:
            if word.startswith("--"):
                flag = word.split("=")[0]
                assert flag in known, f"facemask {' '.join(path)}: no flag {flag}"
        seen.add(" ".join(path))
    assert {"train", "evaluate", "predict", "serve", "export", "data check"} <= seen
