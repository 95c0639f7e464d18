# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration over TLS (issue 15): --tls-creds DIR, migrate-set-parameters tls-creds.

The credentials are made here with Debian's openssl, in the layout QEMU's
tls-creds-x509 and libvirt use: a CA, a server certificate for the
destination (its IP address in subjectAltName), a client certificate for
the source. A second CA signs a rogue client certificate. Each refusal
must leave the source running and say why in one line.
"""
import shutil
import subprocess
import time

import pytest

import vmkit_harness as h
from qmp_client import QMP, QMPError
from test_migrate import (destination, free_port, quit, rounds, still_running,
                          wait_migration)
from test_migrate import source as migrate_source


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}-key.pem", "-out", f"{name}-cert.pem", "-days", "2",
            "-subj", f"/CN={name}", cwd=d)


def make_cert(d, ca, out, cn, san=None, usage="serverAuth"):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{out}-key.pem", "-out", f"{out}.csr", "-subj", f"/CN={cn}", cwd=d)
    ext = d / f"{out}.ext"
    ext.write_text(f"extendedKeyUsage={usage}\n" + (f"subjectAltName={san}\n" if san else ""))
    openssl("x509", "-req", "-in", f"{out}.csr", "-CA", f"{ca}-cert.pem", "-CAkey",
            f"{ca}-key.pem", "-CAcreateserial", "-out", f"{out}-cert.pem", "-days", "2",
            "-extfile", ext.name, cwd=d)


def creds_dir(d, ca, client, server="server"):
    """A --tls-creds directory: ca-cert.pem, server-*.pem, client-*.pem."""
    d.mkdir()
    for src, dst in ((f"{ca}-cert.pem", "ca-cert.pem"),
                     (f"{server}-cert.pem", "server-cert.pem"),
                     (f"{server}-key.pem", "server-key.pem"),
                     (f"{client}-cert.pem", "client-cert.pem"),
                     (f"{client}-key.pem", "client-key.pem")):
        shutil.copy(d.parent / src, d / dst)
    return d


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("needs Debian's openssl")
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "rogue-ca")
    make_cert(d, "ca", "server", "dest.example", "IP:127.0.0.1,DNS:dest.example")
    make_cert(d, "ca", "client", "source.example", usage="clientAuth")
    make_cert(d, "rogue-ca", "rogue", "source.example", usage="clientAuth")
    return {"good": creds_dir(d / "good", "ca", "client"),
            # trusts the real CA, but shows a certificate the rogue CA signed
            "rogue": creds_dir(d / "rogue", "ca", "rogue")}


def source(tmp_path, creds):
    """test_migrate's source (the dirtier guest), with these credentials if any."""
    return migrate_source(tmp_path, extra=["--tls-creds", str(creds)] if creds else [])


def errors(m):
    return [l for l in m.stderr().splitlines() if l.startswith("vmkit: ") and "PVM" not in l]


def test_migrates_over_tls(tmp_path, pki):
    port = free_port()
    uri = f"tcp:127.0.0.1:{port}"
    dst, dsock = destination(tmp_path, uri, extra=["--tls-creds", str(pki["good"])])
    src, q = source(tmp_path, pki["good"])
    try:
        q.cmd("migrate-set-parameters", {"tls-creds": "tls0", "downtime-limit": 500})
        p = q.cmd("query-migrate-parameters")
        assert p["tls-creds"] == "tls0" and p["tls-hostname"] == "", p
        q.cmd("migrate", {"uri": uri})
        r = wait_migration(q)
        assert r["status"] == "completed", r
        assert r["ram"]["normal-bytes"] >= 32 << 20, r
        last = rounds(src.stdout())[-1]
        assert dst.wait_output("round=", 30), dst.describe()
        end = time.monotonic() + 20
        while time.monotonic() < end and len(rounds(dst.stdout())) < 5:
            time.sleep(0.05)
        after = rounds(dst.stdout())
        assert len(after) >= 5 and after[0] > last, dst.describe()
        assert "dirtier_boot" not in dst.stdout() and "stale" not in dst.stdout(), dst.describe()
        qd = QMP(dsock)
        qd.negotiate()
        assert qd.cmd("query-status")["status"] == "running"
        quit(dst, qd)
    finally:
        quit(src, q)
        dst.close()


def test_the_name_checked_is_tls_hostname(tmp_path, pki):
    """The certificate names dest.example and 127.0.0.1: another name is refused."""
    port = free_port()
    uri = f"tcp:127.0.0.1:{port}"
    dst, _ = destination(tmp_path, uri, extra=["--tls-creds", str(pki["good"])])
    src, q = source(tmp_path, pki["good"])
    try:
        q.cmd("migrate-set-parameters", {"tls-creds": "tls0", "tls-hostname": "other.example"})
        q.cmd("migrate", {"uri": uri})
        r = wait_migration(q)
        assert r["status"] == "failed", r
        assert "the destination's certificate: hostname mismatch" in r["error-desc"], r
        still_running(src, q, "after a certificate naming another host")
        assert dst.wait(15) not in (None, 0), dst.describe()
        # the name it does carry goes through, to a new destination
        port = free_port()
        (tmp_path / "b").mkdir()
        dst2, _ = destination(tmp_path / "b", f"tcp:127.0.0.1:{port}",
                              extra=["--tls-creds", str(pki["good"])])
        q.cmd("migrate-set-parameters", {"tls-hostname": "dest.example"})
        q.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        assert wait_migration(q)["status"] == "completed"
        assert dst2.wait_output("round=", 30), dst2.describe()
        dst2.close()
    finally:
        quit(src, q)
        dst.close()


def test_a_source_the_ca_did_not_sign_is_refused(tmp_path, pki):
    port = free_port()
    uri = f"tcp:127.0.0.1:{port}"
    dst, _ = destination(tmp_path, uri, extra=["--tls-creds", str(pki["good"])])
    src, q = source(tmp_path, pki["rogue"])
    try:
        q.cmd("migrate-set-parameters", {"tls-creds": "tls0"})
        q.cmd("migrate", {"uri": uri})
        r = wait_migration(q)
        assert r["status"] == "failed", r
        assert "TLS handshake with the destination" in r["error-desc"], r
        assert "alert" in r["error-desc"], r
        still_running(src, q, "after the destination refused its certificate")
        assert dst.wait(15) not in (None, 0), dst.describe()
        errs = errors(dst)
        assert len(errs) == 1 and "the source's certificate" in errs[0], dst.describe()
    finally:
        quit(src, q)
        dst.close()


def test_plain_and_tls_do_not_meet(tmp_path, pki):
    """A plain source at a TLS destination, and a TLS source at a plain one: both refused."""
    port = free_port()
    uri = f"tcp:127.0.0.1:{port}"
    dst, _ = destination(tmp_path, uri, extra=["--tls-creds", str(pki["good"])])
    src, q = source(tmp_path, pki["good"])
    try:
        q.cmd("migrate", {"uri": uri})
        r = wait_migration(q)
        assert r["status"] == "failed", r
        assert "takes migrations over TLS only" in r["error-desc"], r
        still_running(src, q, "after a plain migration to a TLS destination")
        assert dst.wait(15) not in (None, 0), dst.describe()

        port = free_port()
        (tmp_path / "plain").mkdir()
        dst2, _ = destination(tmp_path / "plain", f"tcp:127.0.0.1:{port}")
        q.cmd("migrate-set-parameters", {"tls-creds": "tls0"})
        q.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        r = wait_migration(q)
        assert r["status"] == "failed", r
        assert "TLS handshake with the destination" in r["error-desc"], r
        still_running(src, q, "after a TLS migration to a plain destination")
        assert dst2.wait(15) not in (None, 0), dst2.describe()
        assert "the source speaks TLS" in dst2.stderr(), dst2.describe()
        dst2.close()
    finally:
        quit(src, q)
        dst.close()


def test_tls_parameters_without_credentials(tmp_path, pki):
    src, q = source(tmp_path, None)
    try:
        with pytest.raises(QMPError, match="start the VM with --tls-creds"):
            q.cmd("migrate-set-parameters", {"tls-creds": "tls0"})
        assert q.cmd("query-migrate-parameters")["tls-creds"] == ""
        q.cmd("migrate-set-parameters", {"tls-creds": ""})   # off is always fine
    finally:
        quit(src, q)
    (tmp_path / "b").mkdir()
    src, q = source(tmp_path / "b", pki["good"])
    try:
        with pytest.raises(QMPError, match="No TLS credentials with id 'x'"):
            q.cmd("migrate-set-parameters", {"tls-creds": "x"})
        with pytest.raises(QMPError, match="tls-hostname"):
            q.cmd("migrate-set-parameters", {"tls-hostname": "h" * 300})
    finally:
        quit(src, q)


@pytest.mark.parametrize("case, words", [
    ("missing", "No such file or directory"),
    ("no-ca", "no ca-cert.pem"),
    ("no-certs", "neither server-cert.pem"),
    ("garbage-cert", "server-cert.pem: "),
    ("other-key", "server-key.pem: "),
])
def test_bad_credentials_directory(tmp_path, pki, case, words):
    h.require_vmkit()
    d = tmp_path / "creds"
    if case != "missing":
        shutil.copytree(pki["good"], d)
    if case == "no-ca":
        (d / "ca-cert.pem").unlink()
    elif case == "no-certs":
        for f in ("server-cert.pem", "client-cert.pem"):
            (d / f).unlink()
    elif case == "garbage-cert":
        (d / "server-cert.pem").write_text("-----BEGIN CERTIFICATE-----\nxyz\n")
    elif case == "other-key":
        shutil.copy(d / "client-key.pem", d / "server-key.pem")
    r = h.run_argv(h.vmkit_argv(h.guest("counter"), memory="64", extra_args=[
        "--incoming", f"tcp:127.0.0.1:{free_port()}", "--tls-creds", str(d)]), timeout=20)
    assert r.returncode == 2, r.describe()
    errs = [l for l in r.stderr.splitlines() if l.startswith("vmkit: ") and "PVM" not in l]
    assert len(errs) == 1 and words in errs[0] and "--tls-creds" in errs[0], r.describe()


@pytest.mark.parametrize("junk", [b"\x16\x03", b"GET / HTTP/1.0\r\n\r\n" + b"\0" * 64])
def test_junk_into_a_tls_destination(tmp_path, pki, junk):
    """A few bytes then a close, or something not TLS at all: one line, no VM runs."""
    import socket
    port = free_port()
    dst, _ = destination(tmp_path, f"tcp:127.0.0.1:{port}", guest="counter", mem="64",
                         extra=["--tls-creds", str(pki["good"])])
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(junk)
            time.sleep(0.3)
        assert dst.wait(20) not in (None, 0), dst.describe()
        errs = errors(dst)
        assert len(errs) == 1 and "TLS handshake with the source" in errs[0], dst.describe()
        assert "count=" not in dst.stdout(), dst.describe()
    finally:
        dst.close()
