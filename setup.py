"""zescrow: automatic, verified escrow of eCryptfs keys at login.

Runtime dependencies are Debian bookworm packages; `install_requires`
names them for pip users, with the bound each needs. AES comes from the
OpenSSL libcrypto that python3 itself links (pam_zescrow/openssl_aes.py).
"""

import re

from setuptools import find_packages, setup


def version():
    with open("pam_zescrow/__init__.py") as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


setup(
    name="zescrow",
    version=version(),
    description="Escrow the key of an eCryptfs encrypted home, automatically at login",
    license="GPL-2.0-or-later",
    python_requires=">=3.11",  # Debian 12's /usr/bin/python3
    packages=find_packages(include=["pam_zescrow", "pam_zescrow.*", "zescrow_core",
                                    "zescrow_core.*", "zescrowd", "zescrowd.*",
                                    "zescrow_server", "zescrow_server.*"]),
    install_requires=[
        "python-gnupg>=0.4.9",  # bookworm's python3-gnupg: encrypt_file(extra_args=)
    ],
    package_data={
        "zescrow_server": ["templates/*.html", "migrations/*.py", "migrations/*.mako",
                           "migrations/versions/*.py"],
        "pam_zescrow": ["pam-configs/*"],
    },
    entry_points={
        "console_scripts": [
            "zescrowctl = zescrowd.cli:run",
            "zescrowd = zescrowd.daemon:run",
            "zescrow-server = zescrow_server.cli:run",
        ],
    },
)
