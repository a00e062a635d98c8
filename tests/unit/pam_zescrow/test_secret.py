"""Secrets never show themselves, and can be wiped."""

import pickle

import pytest

from pam_zescrow.secret import Secret


def test_repr_and_str_hide_the_value():
    secret = Secret(b"hunter2-canary")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)
    assert "14 bytes" in repr(secret)


def test_wipe_zeroes_and_empties():
    secret = Secret(b"abcdef")
    buf = secret._buf
    secret.wipe()
    assert len(secret) == 0 and buf == bytearray()
    secret.wipe()  # idempotent


def test_wipe_with_a_live_view_still_zeroes():
    secret = Secret(b"abcdef")
    view = secret.reveal()
    secret.wipe()
    assert bytes(view) == b"\0" * 6


def test_context_manager_wipes():
    with Secret(b"abcdef") as secret:
        pass
    assert len(secret) == 0


def test_cannot_be_pickled():
    with pytest.raises(TypeError):
        pickle.dumps(Secret(b"abcdef"))


def test_constant_time_equals():
    assert Secret(b"abc").equals(b"abc") and not Secret(b"abc").equals(Secret(b"abd"))
