"""Exit codes and slugs are a contract: unique, in range, documented."""

import subprocess
import sys

from pam_zescrow.errors import ZescrowError, all_error_classes
from tests.conftest import ROOT


def test_codes_are_unique_and_in_range():
    sys.path.insert(0, str(ROOT / "tools"))
    import errorlist

    classes = all_error_classes()
    assert errorlist.duplicates(classes) == []
    for cls in classes:
        if cls is not ZescrowError:
            assert 3 <= cls.exit_code <= 99, cls
            assert cls.code != ZescrowError.code and cls.hint, cls


def test_every_message_template_is_filled_without_secrets():
    for cls in all_error_classes():
        assert "password}" not in cls.message and "passphrase}" not in cls.message, cls


def test_docs_errors_md_is_up_to_date():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "errorlist.py")],
                         capture_output=True, text=True, check=True).stdout
    assert (ROOT / "docs" / "errors.md").read_text() == out, "run: make docs"


def test_docs_errors_md_lists_every_error_the_client_can_raise():
    """Every error class in the client's packages, wherever it is defined, has its row."""
    import importlib
    import pkgutil

    import pam_zescrow
    import zescrowd

    for package in (pam_zescrow, zescrowd):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    text = (ROOT / "docs" / "errors.md").read_text()
    missing = ["%s (%d, %s)" % (cls.__name__, cls.exit_code, cls.code)
               for cls in all_error_classes() if cls.exit_code >= 3
               and "| %d | `%s` |" % (cls.exit_code, cls.code) not in text]
    assert not missing, "not in docs/errors.md: " + ", ".join(missing)
