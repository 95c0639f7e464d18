# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for the vmkit serve tests (a minimal stand-in, to be merged with
the one that starts the real server).

    serve_url       "https://127.0.0.1:PORT" of a running vmkit serve
    login_user      a user allowed to log in (root, or a member of group vmkit)
    login_password  that user's password
    vmkit_home      the VMKIT_HOME directory of that server
    guest_kernel    path of the project's guest kernel, or None
    have_kvm        whether /dev/kvm is usable

This version starts nothing: it takes a server already running from the
environment (VMKIT_SERVE_URL, VMKIT_SERVE_USER, VMKIT_SERVE_PASSWORD,
VMKIT_HOME) and skips when VMKIT_SERVE_URL is unset.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def serve_url():
    url = os.environ.get("VMKIT_SERVE_URL")
    if not url:
        pytest.skip("no vmkit serve to test: set VMKIT_SERVE_URL (and VMKIT_SERVE_USER/_PASSWORD)")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def login_user():
    return os.environ.get("VMKIT_SERVE_USER", "root")


@pytest.fixture(scope="session")
def login_password():
    return os.environ.get("VMKIT_SERVE_PASSWORD", "")


@pytest.fixture(scope="session")
def vmkit_home(tmp_path_factory):
    home = os.environ.get("VMKIT_HOME")
    return Path(home) if home else tmp_path_factory.mktemp("vmkit-home")


@pytest.fixture(scope="session")
def guest_kernel():
    k = REPO_ROOT / "build" / "guest" / "kernel"
    return str(k) if k.is_file() else None


@pytest.fixture(scope="session")
def have_kvm():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True
