# SPDX-License-Identifier: GPL-2.0-or-later
"""`vmkit serve` and `vmkit token` as commands: options, bad input, a port in use,
--cert/--key, and the self-signed certificate made on first start."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess

import pytest

from conftest import SERVE, Server, free_port
import vmkit_harness as h


def vk(home, *args, timeout=20):
    return subprocess.run([str(h.VMKIT), *args], env=dict(os.environ, VMKIT_HOME=str(home)),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(autouse=True)
def built():
    if not SERVE.is_file():
        pytest.skip(f"{SERVE} does not exist: build it first (make build)")


@pytest.mark.parametrize("args,msg", [
    (["--listen", "nope"], "--listen 'nope': expected ADDR:PORT"),
    (["--listen", "127.0.0.1:99999"], "expected ADDR:PORT"),
    (["--bogus"], "unknown option '--bogus'"),
    (["--listen"], "--listen needs a value"),
    (["--cert", "/x.pem"], "--cert and --key go together"),
    (["extra"], "unexpected argument 'extra'"),
])
def test_bad_options(tmp_path, args, msg):
    r = vk(tmp_path, "serve", *args)
    assert r.returncode == 2
    assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_port_in_use(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = vk(tmp_path, "serve", "--listen", f"127.0.0.1:{port}")
    assert r.returncode == 1 and f"127.0.0.1:{port}" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_missing_cert_file(tmp_path):
    r = vk(tmp_path, "serve", "--cert", str(tmp_path / "c.pem"), "--key", str(tmp_path / "k.pem"),
           "--listen", f"127.0.0.1:{free_port()}")
    assert r.returncode == 1 and "c.pem" in r.stderr


def test_self_signed_certificate_is_kept(tmp_path):
    srv = Server(tmp_path)
    try:
        pem = ssl.get_server_certificate(("127.0.0.1", srv.port))
    finally:
        srv.stop()
    saved = (tmp_path / "serve" / "cert.pem").read_text()
    assert pem.strip() == saved.strip()
    assert oct((tmp_path / "serve" / "key.pem").stat().st_mode & 0o777) == "0o600"
    srv = Server(tmp_path)            # a restart keeps the certificate (no browser warning anew)
    try:
        assert ssl.get_server_certificate(("127.0.0.1", srv.port)).strip() == saved.strip()
    finally:
        srv.stop()


def test_given_certificate(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", "/CN=given", "-days", "1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    port = free_port()
    p = subprocess.Popen([str(SERVE), "serve", "--listen", f"127.0.0.1:{port}", "--cert", str(cert),
                          "--key", str(key)], env=dict(os.environ, VMKIT_HOME=str(tmp_path)),
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith(f"vmkit serve: https://127.0.0.1:{port}/")
        assert ssl.get_server_certificate(("127.0.0.1", port)).strip() == cert.read_text().strip()
    finally:
        p.terminate()
        p.wait(10)
    assert not (tmp_path / "serve" / "cert.pem").exists()


def test_token_command_errors(tmp_path):
    r = vk(tmp_path, "token", "add", "root@pam")
    assert r.returncode == 2 and "usage" in r.stderr
    r = vk(tmp_path, "token", "add", "root@pam", "bad/id")
    assert r.returncode == 2 and "token name" in r.stderr
    assert vk(tmp_path, "token", "add", "root@pam", "t1").returncode == 0
    r = vk(tmp_path, "token", "add", "root@pam", "t1")
    assert r.returncode == 1 and "exists" in r.stderr
    r = vk(tmp_path, "token", "remove", "root@pam", "t2")
    assert r.returncode == 1 and "does not exist" in r.stderr
    assert vk(tmp_path, "token", "list").stdout.split() == ["root@pam!t1"]
