"""The man pages list what the programs accept: every option of zescrowd and
every command and option of zescrowctl, read from their argument parsers."""

import re

import pytest

from tests.conftest import ROOT


def _options(parser):
    return {s for action in parser._actions for s in action.option_strings
            if s.startswith("--")}


def _in_man(page, word):
    # roff writes a literal hyphen as "\-".
    return word.replace("-", "\\-") in page


def test_zescrowd_8_lists_every_option():
    from zescrowd.daemon import build_parser

    page = (ROOT / "debian" / "zescrowd.8").read_text()
    missing = sorted(o for o in _options(build_parser()) if not _in_man(page, o))
    assert not missing, "debian/zescrowd.8 does not describe " + ", ".join(missing)


@pytest.fixture(scope="module")
def zescrowctl_parsers():
    from zescrowd.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return parser, sub.choices


def test_zescrowctl_1_lists_every_command_and_option(zescrowctl_parsers):
    parser, commands = zescrowctl_parsers
    page = (ROOT / "debian" / "zescrowctl.1").read_text()
    missing = sorted(o for o in _options(parser) if not _in_man(page, o))
    for name, sub in commands.items():
        section = re.search(r"\.B[IR]? %s\b(.*?)(?=\n\.TP|\n\.SH)" % name, page, re.S)
        if section is None:
            missing.append(name)
            continue
        missing += ["%s %s" % (name, o) for o in sorted(_options(sub) - {"--help", "--format"})
                    if not _in_man(section.group(0), o)]
    assert not missing, "debian/zescrowctl.1 does not describe " + ", ".join(missing)
