# SPDX-License-Identifier: GPL-2.0-or-later
"""The REST API of `vmkit serve` over HTTPS (serve/API.md): authentication,
every endpoint with good and bad input, tasks, uploads, concurrency. What
needs a running VM is in test_api_kvm.py."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import secrets
import socket
import ssl
import subprocess
import time

import pytest

from conftest import SERVE, TLS, Api


@pytest.fixture
def kernel(tmp_path):
    # Definitions need an absolute kernel path; nothing here boots it.
    k = tmp_path / "bzImage"
    k.write_bytes(b"\0" * 4096)
    return str(k)


def new_vm(api, name, kernel, **kw):
    body = {"name": name, "kernel": kernel, "memory": "128M", **kw}
    return api.post("/api/vms", body)


# ---- authentication ----

def test_unauthenticated_gets_401_without_detail(serve):
    a = Api(serve.url)
    for path in ("/api/vms", "/api/pools", "/api/networks", "/api/node/status", "/api/tasks",
                 "/api/vms/x", "/api/access/ticket"):
        r = a.get(path)
        assert r.status == 401, path
        assert r.json == {"message": "authentication required"}
    r = a.post("/api/vms", {"name": "x"})
    assert r.status == 401


def test_login_wrong_password_and_unknown_user(serve, login_user):
    a = Api(serve.url)
    for user, pw in ((f"{login_user}@pam", "wrong"), ("nosuchuser@pam", "x"),
                     (f"{login_user}@pve", "x"), ("", "")):
        r = a.login(user, pw)
        assert r.status in (400, 401), (user, r.body)
        assert "ticket" not in r.body.decode()
        assert not r.headers.get("Set-Cookie")


def test_login_gives_cookie_and_csrf(serve, login_user, login_password):
    a = Api(serve.url)
    r = a.login(login_user, login_password)        # bare name means @pam
    assert r.status == 200, r.body
    d = r.json["data"]
    assert d["username"] == f"{login_user}@pam"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("VMKitAuthCookie=" + d["ticket"])
    for attr in ("Secure", "HttpOnly", "SameSite=Strict"):
        assert attr in cookie
    assert a.get("/api/access/ticket").data["username"] == f"{login_user}@pam"


def test_user_outside_group_vmkit_cannot_log_in(serve):
    name = f"vmkn{secrets.token_hex(4)}"
    subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", name], check=True)
    try:
        subprocess.run(["chpasswd"], input=f"{name}:pw-{name}\n", text=True, check=True)
        assert Api(serve.url).login(f"{name}@pam", f"pw-{name}").status == 401
    finally:
        subprocess.run(["userdel", name])


def test_forged_and_tampered_tickets_are_refused(api, serve):
    good = api.cookie
    user, rest = good.split(":", 1)[1].split(":", 1)
    for bad in ("VMKIT:root@pam:00000000::AAAA", good[:-2] + "xx",
                good.replace(user, "root@pam"), "garbage", ""):
        a = Api(serve.url)
        a.cookie = bad
        assert a.get("/api/vms").status == 401, bad


def test_write_without_csrf_token_is_403(api):
    r = api.post("/api/pools", {"name": "p", "path": "/tmp"}, csrf=False)
    assert r.status == 403
    saved = api.csrf
    api.csrf = "00000000:forged"
    try:
        assert api.put("/api/vms/x/config", {"a": "b"}).status == 403
    finally:
        api.csrf = saved


def test_logout_clears_cookie(api):
    r = api.post("/api/access/logout")
    assert r.status == 200
    assert "Max-Age=0" in r.headers["Set-Cookie"]


def test_failed_logins_are_slowed(serve, login_user):
    a = Api(serve.url)
    times = []
    for _ in range(5):
        t = time.monotonic()
        assert a.login(f"{login_user}@pam", "wrong").status == 401
        times.append(time.monotonic() - t)
    # After three failures the server holds its answer back (1 s, then 2 s).
    assert times[4] >= 1.0, times


def test_api_token(serve, login_user):
    r = subprocess.run([str(SERVE), "token", "add", f"{login_user}@pam", "ci"], env=serve.env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tokid, secret = r.stdout.strip().split("=", 1)
    assert tokid == f"{login_user}@pam!ci"
    a = Api(serve.url)
    a.token = f"VMKitAPIToken={tokid}={secret}"
    assert a.get("/api/vms").status == 200
    # Tokens need no CSRF header (scripts are not browsers).
    assert a.post("/api/pools", {"name": "bad name", "path": "/x"}).status == 400
    wrong = secret[:-1] + ("1" if secret[-1] == "0" else "0")
    a.token = f"VMKitAPIToken={tokid}={wrong}"
    assert a.get("/api/vms").status == 401
    listed = subprocess.run([str(SERVE), "token", "list"], env=serve.env, capture_output=True,
                            text=True).stdout
    assert tokid in listed and secret not in listed
    assert subprocess.run([str(SERVE), "token", "remove", f"{login_user}@pam", "ci"],
                          env=serve.env).returncode == 0
    a.token = f"VMKitAPIToken={tokid}={secret}"
    assert a.get("/api/vms").status == 401
    bad = subprocess.run([str(SERVE), "token", "add", "x@ldap", "ci"], env=serve.env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "realm" in bad.stderr


# ---- protocol ----

def test_bad_requests(api):
    assert api.get("/api/nosuch").status == 404
    assert api.delete("/api/tasks").status == 405
    r = api.request("POST", "/api/vms", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400 and "JSON" in r.message
    r = api.post("/api/vms", ["a", "list"])
    assert r.status == 400
    r = api.request("POST", "/api/vms", raw=b"[" * (1024 * 1024 + 10))
    assert r.status == 413


def test_names_with_traversal_never_reach_a_handler(api):
    for path in ("/api/vms/..%2F..%2Fetc", "/api/vms/.hidden", "/api/pools/local/volumes/..%2F..%2Fx",
                 "/api/vms/" + "a" * 64, "/api/vms/a%00b"):
        try:
            r = api.get(path)
        except ConnectionError:
            continue        # libwebsockets drops a request with a NUL in its path
        assert r.status in (400, 404), (path, r.status)
    # Dot segments are resolved first (as browsers do): they never leave /api.
    assert api.get("/api/pools/local/volumes/../../../../etc/passwd").status == 404


def test_https_only_and_tls(serve):
    with socket.create_connection(("127.0.0.1", serve.port)) as s:
        s.sendall(b"GET /api/vms HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        try:
            data = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            data = b""
    assert not data.startswith(b"HTTP/1.1 200")
    cert = serve.home / "serve" / "cert.pem"
    key = serve.home / "serve" / "key.pem"
    assert cert.is_file() and (key.stat().st_mode & 0o777) == 0o600


def test_static_files_and_headers(api):
    r = api.get("/index.html")
    if r.status == 404:
        pytest.skip("the web root is not built (scripts/web-vendor.sh)")
    assert r.status == 200
    assert "content-security-policy" in {k.lower() for k in r.headers.keys()}
    assert api.get("/../../etc/passwd").status == 404


def test_openapi(serve):
    doc = Api(serve.url).get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert "post" in doc["paths"]["/api/vms"]
    assert "/api/vms/{p1}/status/{p2}" in doc["paths"]


def test_node_status(api):
    d = api.get("/api/node/status").data
    assert d["cpus"] >= 1 and d["memory"]["total"] > 0 and len(d["loadavg"]) == 3
    assert isinstance(d["kvm"], bool)


# ---- VMs ----

def test_vm_create_show_set_delete(api, kernel, vmkit_home):
    r = new_vm(api, "web1", kernel, cpus=2, disks=["size=64M,format=qcow2,cache=none"],
               nets=["virtio,user"], config={"description": "first", "cpu": "host"})
    assert r.data == "web1"
    vm = api.get("/api/vms/web1").data
    assert vm["status"]["state"] == "shutoff"
    cfg = vm["config"]
    assert cfg["memory"] == "128" or cfg["memory"].startswith("128")
    assert cfg["description"] == "first" and cfg["cpu"] == "host"
    assert cfg["virtio0"].startswith("local:web1-disk0")
    assert (vmkit_home / "images" / "web1-disk0.qcow2").is_file() or \
        any((vmkit_home / "images").glob("web1-disk0*"))
    listed = {v["name"]: v for v in api.get("/api/vms").data}
    assert listed["web1"]["state"] == "shutoff" and listed["web1"]["vcpus"] == 2

    # The same validation and one-line errors as the CLI; nothing half-written.
    before = (vmkit_home / "vms" / "web1" / "config").read_text()
    r = api.put("/api/vms/web1/config", {"memory": "lots", "description": "x"})
    assert r.status == 400 and "memory" in r.message and "\n" not in r.message
    assert (vmkit_home / "vms" / "web1" / "config").read_text() == before
    r = api.put("/api/vms/web1/config", {"nosuchkey": "1"})
    assert r.status == 400

    html = '<img src=x onerror="alert(1)"><b>x</b>'
    assert api.put("/api/vms/web1/config", {"description": html, "cpu": None}).status == 200
    cfg = api.get("/api/vms/web1").data["config"]
    assert cfg["description"] == html and "cpu" not in cfg
    # JSON carries it as data; the page must show it as text (tests/serve/test_browser.py).
    assert api.get("/api/vms").headers["Content-Type"].startswith("application/json")

    assert new_vm(api, "web1", kernel).status == 409
    assert new_vm(api, "bad/name", kernel).status == 400
    assert new_vm(api, "x1", "relative/kernel").status == 400
    assert api.post("/api/vms", {"kernel": kernel}).status == 400
    assert new_vm(api, "x2", kernel, disks=["size=lots"]).status == 400
    r = new_vm(api, "x3", kernel, memroy="1G")
    assert r.status == 400 and r.message == "memroy: unknown field"
    assert new_vm(api, "x4", 5).status == 400
    assert new_vm(api, "x5", kernel, disks="size=1M").status == 400
    assert new_vm(api, "x6", kernel, memory=256).data == "x6"
    assert api.get("/api/vms/x6").data["config"]["memory"] == "256"
    api.wait_task(api.delete("/api/vms/x6").data)
    assert not (vmkit_home / "vms" / "x2").exists()

    t = api.wait_task(api.delete("/api/vms/web1?purge=1").data)
    assert t["status"] == "OK", t
    assert api.get("/api/vms/web1").status == 404
    assert not any((vmkit_home / "images").glob("web1-disk0*"))
    assert api.delete("/api/vms/web1").status == 404


def test_broken_definition_is_listed_not_dropped(api, kernel, vmkit_home):
    assert new_vm(api, "brk", kernel).status == 200
    cfg = vmkit_home / "vms" / "brk" / "config"
    cfg.write_text(cfg.read_text().replace("memory: 128", "memory: lots"))
    listed = {v["name"]: v for v in api.get("/api/vms").data}
    assert listed["brk"]["state"] == "broken" and "memory" in listed["brk"]["error"]
    r = api.get("/api/vms/brk")
    assert r.status == 400 and "memory" in r.message
    api.wait_task(api.delete("/api/vms/brk").data)


def test_start_without_kvm_fails_as_a_task(api, kernel, have_kvm):
    if have_kvm:
        pytest.skip("this host has KVM: tests/serve/test_api_kvm.py starts VMs")
    new_vm(api, "nokvm", kernel)
    t = api.wait_task(api.post("/api/vms/nokvm/status/start").data)
    assert t["status"] != "OK" and t["type"] == "vmstart"
    assert any("nokvm" in line for line in t["log"])
    assert api.get("/api/vms/nokvm").data["status"]["state"] != "running"
    for action in ("shutdown", "pause", "resume", "reboot", "stop"):
        t = api.wait_task(api.post(f"/api/vms/nokvm/status/{action}").data)
        assert t["status"] != "OK" and "running" in t["status"], (action, t)
    assert api.post("/api/vms/nokvm/status/explode").status == 404
    assert api.post("/api/vms/nosuchvm/status/start").status == 404
    api.wait_task(api.delete("/api/vms/nokvm").data)


def test_clone_template_snapshots(api, kernel, vmkit_home):
    new_vm(api, "base", kernel, disks=["size=32M"])
    t = api.wait_task(api.post("/api/vms/base/snapshots", {"name": "s1"}).data)
    assert t["status"] == "OK", t
    snaps = api.get("/api/vms/base/snapshots").data
    assert [s["name"] for s in snaps] == ["s1"] and snaps[0]["disk"] == "virtio0"
    assert api.post("/api/vms/base/snapshots", {"name": "bad name"}).status == 400
    t = api.wait_task(api.post("/api/vms/base/snapshots/s1/rollback").data)
    assert t["status"] == "OK", t
    t = api.wait_task(api.post("/api/vms/base/snapshots/nosuch/rollback").data)
    assert t["status"] != "OK"
    t = api.wait_task(api.delete("/api/vms/base/snapshots/s1").data)
    assert t["status"] == "OK", t
    assert api.get("/api/vms/base/snapshots").data == []

    r = api.post("/api/vms/base/template")
    assert r.status == 200, r.body
    assert api.get("/api/vms/base").data["template"] is True
    t = api.wait_task(api.post("/api/vms/base/clone", {"newname": "linked"}).data)
    assert t["status"] == "OK", t
    cfg = api.get("/api/vms/linked").data["config"]
    assert cfg["virtio0"].startswith("local:linked")
    assert api.post("/api/vms/base/clone", {"newname": "linked"}).status in (200, 409)
    assert api.post("/api/vms/base/clone", {"newname": "../x"}).status == 400
    # The template's disk is the clone's base: deleting it with its volumes is refused.
    t = api.wait_task(api.delete("/api/vms/base?purge=1").data)
    assert t["status"] != "OK" and "linked" in t["status"], t
    for vm in ("linked", "base"):
        t = api.wait_task(api.delete(f"/api/vms/{vm}?purge=1").data)
        assert t["status"] == "OK", t


def test_tasks_list(api, kernel):
    new_vm(api, "tk", kernel)
    tid = api.delete("/api/vms/tk").data
    api.wait_task(tid)
    tasks = api.get("/api/tasks").data
    assert tasks[0]["id"] == tid and tasks[0]["type"] == "vmdestroy" and tasks[0]["target"] == "tk"
    assert tasks[0]["user"].endswith("@pam")
    assert api.get("/api/tasks/task-nosuch").status == 404


def test_twenty_clients_at_once_leave_consistent_definitions(api, kernel, vmkit_home):
    for i in range(4):
        assert new_vm(api, f"c{i}", kernel).status == 200

    def change(i):
        a = Api(api.url)
        a.cookie, a.csrf = api.cookie, api.csrf
        vm = f"c{i % 4}"
        r1 = a.put(f"/api/vms/{vm}/config", {"description": f"writer {i}", "cores": str(1 + i % 2)})
        r2 = new_vm(a, f"n{i}", kernel)
        return r1.status, r2.status

    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        results = list(ex.map(change, range(20)))
    assert all(r == (200, 200) for r in results), results
    for i in range(4):
        cfg = api.get(f"/api/vms/c{i}").data["config"]
        assert cfg["description"].startswith("writer ")
        writer = int(cfg["description"].split()[1])
        assert writer % 4 == i and cfg["cores"] == str(1 + writer % 2)
    names = {v["name"] for v in api.get("/api/vms").data}
    assert {f"n{i}" for i in range(20)} <= names
    assert not list((vmkit_home / "vms").glob("*/.*tmp*"))
    for n in [f"c{i}" for i in range(4)] + [f"n{i}" for i in range(20)]:
        api.wait_task(api.delete(f"/api/vms/{n}").data)


# ---- storage ----

def test_pools_and_volumes(api, tmp_path, kernel):
    pools = {p["name"]: p for p in api.get("/api/pools").data}
    assert pools["local"]["active"] and pools["local"]["avail_bytes"] > 0
    d = tmp_path / "pool2"
    d.mkdir()
    assert api.post("/api/pools", {"name": "p2", "path": str(d)}).data == "p2"
    assert api.post("/api/pools", {"name": "p2", "path": str(d)}).status == 409
    assert api.post("/api/pools", {"name": "p3", "path": str(tmp_path / "missing")}).status in (400, 404)
    assert api.post("/api/pools", {"name": "p4"}).status == 400
    assert api.get("/api/pools/p2").data["path"] == str(d)

    assert api.post("/api/pools/p2/volumes", {"name": "v1.qcow2", "size": "16M"}).data == "v1.qcow2"
    assert api.post("/api/pools/p2/volumes", {"name": "v1.qcow2", "size": "16M"}).status == 409
    assert api.post("/api/pools/p2/volumes", {"name": "v2", "size": "huge"}).status == 400
    assert api.post("/api/pools/p2/volumes", {"name": "../v3", "size": "1M"}).status == 400
    vols = {v["name"]: v for v in api.get("/api/pools/p2/volumes").data}
    assert vols["v1.qcow2"]["format"] == "qcow2" and vols["v1.qcow2"]["size"] == 16 << 20
    assert vols["v1.qcow2"]["in_use_by"] is None

    new_vm(api, "user1", kernel, disks=["p2:v1.qcow2"])
    vols = {v["name"]: v for v in api.get("/api/pools/p2/volumes").data}
    assert vols["v1.qcow2"]["in_use_by"] == "user1"
    r = api.delete("/api/pools/p2/volumes/v1.qcow2")
    assert r.status == 409 and "user1" in r.message
    r = api.delete("/api/pools/p2")
    assert r.status == 409
    api.wait_task(api.delete("/api/vms/user1").data)
    assert api.delete("/api/pools/p2/volumes/v1.qcow2").status == 200
    assert api.delete("/api/pools/p2/volumes/v1.qcow2").status == 404
    assert api.post("/api/pools/p2/stop").status == 200
    assert api.get("/api/pools/p2").data["active"] is False
    assert api.post("/api/pools/p2/start").status == 200
    assert api.delete("/api/pools/p2").status == 200
    assert api.get("/api/pools/p2").status == 404
    assert api.delete("/api/pools/local").status in (400, 409)


def test_upload(api, vmkit_home):
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = api.post("/api/pools/local/upload?filename=up.iso", raw=data,
                 headers={"Content-Type": "application/octet-stream"})
    t = api.wait_task(r.data)
    assert t["status"] == "OK" and t["progress"] == 1 and t["type"] == "upload"
    f = vmkit_home / "images" / "up.iso"
    assert hashlib.sha256(f.read_bytes()).digest() == hashlib.sha256(data).digest()
    # No replacing, no names that leave the pool.
    r = api.post("/api/pools/local/upload?filename=up.iso", raw=b"x")
    assert r.status == 409
    for name in ("../escape", ".hidden", "a/b", ""):
        r = api.post(f"/api/pools/local/upload?filename={name}", raw=b"x")
        assert r.status == 400, name
    assert api.post("/api/pools/nosuch/upload?filename=a", raw=b"x").status == 404
    assert not list((vmkit_home / "images").glob(".*upload*"))
    assert not (vmkit_home.parent / "escape").exists()


def test_upload_broken_off_leaves_nothing(api, serve, vmkit_home):
    raw = socket.create_connection(("127.0.0.1", serve.port))
    s = TLS.wrap_socket(raw, server_hostname="localhost")
    s.sendall(b"POST /api/pools/local/upload?filename=half.iso HTTP/1.1\r\nHost: x\r\n"
              b"Cookie: VMKitAuthCookie=" + api.cookie.encode() + b"\r\n"
              b"CSRFPreventionToken: " + api.csrf.encode() + b"\r\n"
              b"Content-Length: 10000000\r\n\r\n" + b"y" * 300000)
    time.sleep(0.5)
    s.close()
    end = time.time() + 10
    while time.time() < end and list((vmkit_home / "images").glob(".half*")):
        time.sleep(0.1)
    assert not list((vmkit_home / "images").glob("*half*"))
    ups = [t for t in api.get("/api/tasks").data if t["target"] == "local:half.iso"]
    assert ups and ups[0]["status"] == "upload broken off"


# ---- networks ----

def test_networks(api):
    assert api.get("/api/networks").data == []
    r = api.post("/api/networks", {"name": "lan", "bridge": "vkbrtest0", "address": "10.99.0.1/24"})
    assert r.data == "lan"
    nets = api.get("/api/networks").data
    assert nets[0]["bridge"] == "vkbrtest0" and nets[0]["active"] is False
    assert api.post("/api/networks", {"name": "lan2", "bridge": "vkbrtest0"}).status in (400, 409)
    assert api.post("/api/networks", {"name": "lan3", "bridge": "vkbrtest1",
                                      "address": "not-an-address"}).status == 400
    assert api.post("/api/networks", {"name": "lan4", "mtu": "9"}).status == 400
    assert api.delete("/api/networks/lan").status == 200
    assert api.delete("/api/networks/lan").status == 404


# ---- consoles ----

def test_console_websocket_refusals(api, serve, kernel):
    from wsclient import HandshakeRefused, WebSocket
    new_vm(api, "wsvm", kernel)
    # Not logged in, a forged ticket, a VM that is not running, no such VM, a path that is no console.
    for path, cookie in (("/api/vms/wsvm/console", None), ("/api/vms/wsvm/console", "VMKIT:x::y"),
                         ("/api/vms/wsvm/console", api.cookie),
                         ("/api/vms/nosuch/console", api.cookie),
                         ("/api/vms/wsvm/vnc", api.cookie), ("/api/vms", api.cookie)):
        with pytest.raises(HandshakeRefused):
            WebSocket(serve.port, path, cookie)
    # A console route asked for without an upgrade is an error, not a crash.
    assert api.get("/api/vms/wsvm/console").status == 400
    api.wait_task(api.delete("/api/vms/wsvm").data)


def test_tasks_survive_a_restart(tmp_path, pam_user):
    from conftest import Server
    srv = Server(tmp_path)
    try:
        a = Api(srv.url)
        assert a.login(*pam_user).status == 200
        tid = a.post("/api/pools/local/upload?filename=f.bin", raw=b"abc").data
        assert a.wait_task(tid)["status"] == "OK"
    finally:
        srv.stop()
    srv = Server(tmp_path)
    try:
        a = Api(srv.url)
        assert a.login(*pam_user).status == 200
        t = a.get(f"/api/tasks/{tid}").data
        assert t["status"] == "OK" and t["type"] == "upload" and t["log"][-1] == "TASK OK"
        assert a.get("/api/tasks").data[0]["id"] == tid
    finally:
        srv.stop()


def test_refused_upload_with_a_body_closes_cleanly(api, serve):
    r = api.post("/api/pools/local/upload?filename=../x", raw=b"z" * 100000)
    assert r.status == 400
    assert api.get("/api/node/status").status == 200     # the server goes on


def test_migrate_validation(api, kernel):
    """POST /api/vms/NAME/migrate: the target is a host, never an ssh option;
    a VM that is not running cannot move (the move itself: tests/mgmt/test_migrate_vm.py)."""
    new_vm(api, "mv", kernel)
    assert api.post("/api/vms/mv/migrate", {}).status == 400
    for bad in ("-oProxyCommand=touch /tmp/x", "a b", "", "x" * 300, "host;rm"):
        r = api.post("/api/vms/mv/migrate", {"target": bad})
        assert r.status == 400 and b"host name or address" in r.body, (bad, r.body)
    assert api.post("/api/vms/nosuch/migrate", {"target": "10.0.0.1"}).status == 404
    t = api.wait_task(api.post("/api/vms/mv/migrate", {"target": "10.0.0.1"}).data)
    assert t["status"] != "OK" and "not running" in t["status"], t
    assert t["type"] == "qmigrate"


def test_backup_and_restore(api, kernel, vmkit_home):
    """POST /api/vms/NAME/backup into a pool's dump/, GET its list, POST /api/backups/restore:
    named by pool and backup name only (the backups themselves: tests/mgmt/test_backup_vm.py)."""
    assert new_vm(api, "bk", kernel, disks=["size=16M,format=qcow2"]).status == 200
    assert api.post("/api/vms/bk/backup", {}).status == 400
    for body in ({"storage": "../etc"}, {"storage": "nopool"},
                 {"storage": "local", "mode": "often"}, {"storage": "local", "bwlimit": -1},
                 {"storage": "local", "compress": "lzo"}):
        r = api.post("/api/vms/bk/backup", body)
        assert r.status in (400, 404), (body, r.status, r.body)
    assert api.post("/api/vms/nosuch/backup", {"storage": "local"}).status == 404
    t = api.wait_task(api.post("/api/vms/bk/backup", {"storage": "local", "bwlimit": 1024}).data)
    assert t["status"] == "OK" and t["type"] == "vzdump", t
    names = api.get("/api/pools/local/backups").data
    assert len(names) == 1 and names[0].startswith("vzdump-vmkit-bk-"), names
    assert (vmkit_home / "images" / "dump" / names[0] / "index.json").is_file()
    for body in ({"storage": "local", "backup": "../../etc"},
                 {"storage": "local", "backup": "vzdump-vmkit-x/../../y"},
                 {"storage": "local", "backup": names[0], "name": "a/b"},
                 {"storage": "local", "backup": names[0], "target": "../x"}):
        r = api.post("/api/backups/restore", body)
        assert r.status in (400, 404), (body, r.status, r.body)
    t = api.wait_task(api.post("/api/backups/restore", {"storage": "local", "backup": names[0],
                                                         "name": "bk2"}).data)
    assert t["status"] == "OK" and t["type"] == "qmrestore", t
    cfg = api.get("/api/vms/bk2").data
    assert "local:bk2-virtio0.qcow2" in json.dumps(cfg), cfg
    t = api.wait_task(api.post("/api/backups/restore", {"storage": "local",
                                                         "backup": names[0]}).data)
    assert t["status"] != "OK" and "already exists" in t["status"], t
