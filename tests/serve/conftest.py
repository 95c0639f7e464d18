# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for the `vmkit serve` tests: a running server on a free port with a
private $VMKIT_HOME, a host user allowed to log in (made for the session and
removed after), and an HTTPS client.

    serve        the Server (url, home, process)
    serve_url    "https://127.0.0.1:PORT"
    login_user / login_password   a PAM user in the group vmkit
    vmkit_home   the server's VMKIT_HOME
    guest_kernel the project's Linux guest kernel (build/guest/vmlinux, PVH) or None
    have_kvm     /dev/kvm usable
    api          an Api client already logged in (cookie + CSRF token)
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
import vmkit_harness as h  # noqa: E402

SERVE = h.VMKIT.parent / "vmkit-serve"
TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Reply:
    def __init__(self, status: int, body: bytes, headers):
        self.status = status
        self.body = body
        self.headers = headers
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def data(self):
        assert self.status == 200, f"{self.status}: {self.body[:300]!r}"
        return self.json["data"]

    @property
    def message(self) -> str:
        return self.json["message"]


class Api:
    """A small HTTPS client: JSON in and out, the cookie and CSRF token when logged in."""

    def __init__(self, url: str):
        self.url = url
        self.cookie: str | None = None
        self.csrf: str | None = None
        self.token: str | None = None

    def request(self, method: str, path: str, body=None, raw: bytes | None = None,
                headers: dict | None = None, csrf: bool = True, timeout: float = 60) -> Reply:
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if self.cookie:
            hdrs["Cookie"] = f"VMKitAuthCookie={self.cookie}"
        if self.token:
            hdrs["Authorization"] = self.token
        if csrf and self.csrf and method != "GET":
            hdrs["CSRFPreventionToken"] = self.csrf
        if data is None and method in ("POST", "PUT"):
            data = b""
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, context=TLS, timeout=timeout) as r:
                return Reply(r.status, r.read(), r.headers)
        except urllib.error.HTTPError as e:
            return Reply(e.code, e.read(), e.headers)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def login(self, user: str, password: str) -> Reply:
        r = self.post("/api/access/ticket", {"username": user, "password": password})
        if r.status == 200:
            self.cookie = r.json["data"]["ticket"]
            self.csrf = r.json["data"]["CSRFPreventionToken"]
        return r

    def wait_task(self, tid: str, timeout: float = 120) -> dict:
        end = time.time() + timeout
        while time.time() < end:
            t = self.get(f"/api/tasks/{tid}").data
            if t["endtime"] is not None:
                return t
            time.sleep(0.1)
        raise AssertionError(f"task {tid} did not end in {timeout} s")


class Server:
    def __init__(self, home: Path):
        self.home = home
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.env = dict(os.environ, VMKIT_HOME=str(home))
        self.log = open(home / "serve.log", "a")   # appended to; read by path
        self.proc = subprocess.Popen([str(SERVE), "serve", "--listen", f"127.0.0.1:{self.port}"],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        end = time.time() + 20
        while time.time() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise AssertionError(f"vmkit serve did not start: {(home / 'serve.log').read_text()}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def vmkit(self, *args, check=True) -> subprocess.CompletedProcess:
        r = subprocess.run([str(h.VMKIT), *args], env=self.env, capture_output=True, text=True,
                           timeout=120)
        if check and r.returncode:
            raise AssertionError(f"vmkit {args}: {r.stderr}")
        return r


@pytest.fixture(scope="session")
def pam_user():
    """A host user in the group vmkit, with a random password, for PAM logins."""
    if os.geteuid() != 0:
        pytest.skip("making a PAM test user needs root")
    # Random, not the pid: two runs at once (or one killed, its user left) must not collide.
    name = f"vmkt{secrets.token_hex(4)}"
    password = secrets.token_hex(12)
    subprocess.run(["groupadd", "-f", "vmkit"], check=True)
    subprocess.run(["useradd", "-M", "-N", "-G", "vmkit", "-s", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
    yield name, password
    subprocess.run(["userdel", name], capture_output=True)


@pytest.fixture(scope="session")
def login_user(pam_user):
    return pam_user[0]


@pytest.fixture(scope="session")
def login_password(pam_user):
    return pam_user[1]


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    if not SERVE.is_file():
        pytest.skip(f"{SERVE} does not exist: build it first (make build)")
    home = tmp_path_factory.mktemp("serve-home")
    s = Server(home)
    yield s
    # VMs a test started must not outlive it.
    for run in (home / "vms").glob("*/run/pid"):
        s.vmkit("destroy", run.parent.parent.name, check=False)
    s.stop()


@pytest.fixture(scope="module")
def serve_url(serve):
    return serve.url


@pytest.fixture(scope="module")
def vmkit_home(serve):
    return serve.home


@pytest.fixture(scope="session")
def guest_kernel():
    k = h.BUILD_DIR / "guest" / "vmlinux"
    return str(k) if k.is_file() else None


@pytest.fixture(scope="session")
def have_kvm():
    return h.kvm_usable()


@pytest.fixture
def api(serve, pam_user):
    a = Api(serve.url)
    r = a.login(f"{pam_user[0]}@pam", pam_user[1])
    assert r.status == 200, r.body
    return a


def _starttime(pid):
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[19])


@pytest.fixture
def screen(serve, vmkit_home, tmp_path):
    """VM 'scr' with vga: std whose 'monitor' is tests/display's vga-harness (the real VGA
    in text mode with a Debian console font, and the real VNC helper) on its run/vnc.sock,
    recorded in run/pid as `vmkit serve` reads it: a VM with a screen, without KVM."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "display"))
    import test_display as disp
    disp.need(disp.HARNESS)
    disp.need(disp.FONT)
    disp.need(disp.BUILD / "vmkit-vnc")
    serve.vmkit("create", "--name", "scr", "--kernel", "/etc/hostname")
    serve.vmkit("set", "scr", "vga=std")
    run = vmkit_home / "vms" / "scr" / "run"
    run.mkdir(parents=True, exist_ok=True)
    s = disp.Served("text", f"unix:{run / 'vnc.sock'}", tmp_path)
    pidfile = run / "pid"
    pidfile.write_text(f"{s.p.pid} {_starttime(s.p.pid)}\n")
    yield s
    pidfile.unlink()
    s.close()
    serve.vmkit("delete", "scr")
