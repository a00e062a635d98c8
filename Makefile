# zescrow — `make test` and `make demo` do all set-up themselves on a fresh
# Debian 12 machine, as root. Everything runs on the system interpreter
# /usr/bin/python3 (the one pam_exec runs the hook with), through a venv
# made with --system-site-packages so Debian's python3-* modules are seen.

PYTHON      := /usr/bin/python3
VENV        := .venv
VPY         := $(VENV)/bin/python
# Debian packages: the real components the tests drive, the client's runtime
# dependencies as Debian ships them, and the server's Debian 12 stack (the
# server tests run on it as well as on the venv's newer one from PyPI).
APT_PACKAGES := ecryptfs-utils gnupg keyutils libpam-python pamtester util-linux procps passwd \
	gcc libc6-dev libpam0g-dev \
	python3-gnupg python3-pydbus python3-systemd python3-requests python3-pycryptodome \
	python3-venv python3-pip \
	chromium libnss3-tools postgresql wrk curl haproxy \
	dunst xvfb dbus dbus-x11 libnotify-bin xdg-utils systemd tmux \
	debhelper dh-python python3-all python3-setuptools lintian fakeroot \
	python3-fastapi python3-sqlalchemy python3-alembic python3-authlib python3-uvicorn \
	gunicorn python3-psycopg2 python3-starlette python3-httpx python3-itsdangerous \
	python3-multipart python3-jinja2 python3-pydantic python3-cryptography
# From PyPI, into the venv only: test tools, and the server's stack (which
# Debian 12 ships too old or not at all: FastAPI, SQLAlchemy 2, Authlib 1.x).
PIP_PACKAGES := pytest hypothesis python-pam \
	fastapi uvicorn uvicorn-worker gunicorn sqlalchemy alembic "psycopg[binary]" authlib \
	jinja2 httpx itsdangerous python-multipart cryptography \
	schemathesis aiosmtpd playwright

.PHONY: all deps venv module test demo bench bench-server docs gallery clean

all: test

deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  echo "installing with apt-get: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.ready: setup.py Makefile
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check $(PIP_PACKAGES)
	# compat mode: a plain path entry instead of an import hook, which would
	# add ~7 ms to every zescrowctl start (and distort bench/unwrap).
	$(VPY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
	  --config-settings editable_mode=compat -e .
	touch $@

tests/oidc/node_modules/.ready: tests/oidc/package.json tests/oidc/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends nodejs npm; }
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error
	touch $@

venv: deps $(VENV)/.ready tests/oidc/node_modules/.ready

# pam_zescrow.so, the PAM module that starts the hook (build/pam/, ignored).
module: deps
	$(MAKE) -C pam_zescrow/module

# A test run leaves the work tree as it found it (git status before = after):
# anything it writes is either removed or ignored in .gitignore.
test: venv module
	@git status --porcelain 2>/dev/null > $(VENV)/tree-before || true
	ZESCROW_TESTONLY_REQUIRE_ALL=1 $(VPY) -m pytest $(PYTEST_ARGS)
	@git status --porcelain 2>/dev/null > $(VENV)/tree-after || true
	@diff -u --label before --label after $(VENV)/tree-before $(VENV)/tree-after \
	  || { echo "make test: the run changed the work tree (above); remove or ignore what it wrote"; exit 1; }

demo: venv module
	$(VPY) demo/demo.py

# The figures in docs/BENCHMARKS.md; bench/server (about 8 minutes) on its own.
bench: venv module
	$(VPY) bench/unwrap
	$(VPY) bench/login
	$(VPY) bench/daemon

bench-server: venv
	$(VPY) bench/server

docs: venv
	$(VPY) tools/errorlist.py > docs/errors.md

gallery: venv
	ZESCROW_TESTONLY_GALLERY=/tmp/zescrow-gallery.json $(VPY) -m pytest -q \
	  tests/daemon/test_zescrowctl.py -k every_state
	$(VPY) tools/gallery.py /tmp/zescrow-gallery.json > docs/zescrowctl.md

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
