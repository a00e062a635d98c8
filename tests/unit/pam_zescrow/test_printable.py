import logging

from pam_zescrow.printable import EscapingFilter, printable


def test_control_characters_become_visible_escapes():
    assert printable("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert printable("\x1b]0;owned\x07title") == "\\x1b]0;owned\\x07title"
    assert printable("\x9b31m") == "\\x9b31m"  # C1 CSI
    assert printable("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert printable(b"caf\xc3\xa9 \xff") == "café \\xff"
    assert printable("plain text, ünïcode") == "plain text, ünïcode"


def test_the_logging_filter_escapes_the_final_text(caplog):
    log = logging.getLogger("zescrow.test.printable")
    log.addFilter(EscapingFilter())
    with caplog.at_level(logging.INFO, logger="zescrow.test.printable"):
        log.info("server said %s", "ok\nforged line")
    assert "ok\\nforged line" in caplog.text and "\nforged" not in caplog.text
