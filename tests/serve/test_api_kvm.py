# SPDX-License-Identifier: GPL-2.0-or-later
"""The REST API driving running VMs (needs /dev/kvm): start, pause, resume,
reboot, stop and shutdown as tasks; live figures; the balloon; the serial
console over a WebSocket. Tiny guests from tests/guest keep it fast."""

from __future__ import annotations

import time

import pytest

import vmkit_harness as h
from wsclient import WebSocket


@pytest.fixture(autouse=True)
def needs_kvm():
    h.require_vmkit()


def create(api, name, guest, **kw):
    r = api.post("/api/vms", {"name": name, "kernel": str(h.guest(guest)), "memory": "64M", **kw})
    assert r.status == 200, r.body


def task_ok(api, r, timeout=120):
    t = api.wait_task(r.data, timeout)
    assert t["status"] == "OK", t
    return t


def state(api, name):
    return api.get(f"/api/vms/{name}/status/current").data["state"]


def test_lifecycle_and_live_figures(api):
    create(api, "life", "spin")
    task_ok(api, api.post("/api/vms/life/status/start"))
    cur = api.get("/api/vms/life/status/current").data
    assert cur["state"] == "running" and cur["pid"] > 0 and cur["mem_bytes"] > 0
    time.sleep(1)
    # spin keeps its vCPU busy: the monitor shows CPU use.
    assert api.get("/api/vms/life/status/current").data["cpu"] > 0.1
    t = api.wait_task(api.post("/api/vms/life/status/start").data)
    assert t["status"] != "OK"                      # already running
    task_ok(api, api.post("/api/vms/life/status/pause"))
    assert state(api, "life") == "paused"
    task_ok(api, api.post("/api/vms/life/status/resume"))
    task_ok(api, api.post("/api/vms/life/status/reboot"))
    assert state(api, "life") == "running"
    r = api.put("/api/vms/life/config", {"cpulimit": "0.5"})
    assert r.status == 200, r.body                # applied live, as `vmkit set`
    t = api.wait_task(api.delete("/api/vms/life").data)
    assert t["status"] != "OK" and "running" in t["status"]
    # spin ignores the power button: a timed-out shutdown says so, --force ends it.
    t = api.wait_task(api.post("/api/vms/life/status/shutdown", {"timeout": 1}).data)
    assert t["status"] != "OK" and state(api, "life") == "running"
    task_ok(api, api.post("/api/vms/life/status/shutdown", {"timeout": 1, "force": True}))
    assert state(api, "life") == "shutoff"
    task_ok(api, api.delete("/api/vms/life"))


def test_shutdown_presses_the_power_button(api):
    create(api, "pwr", "powerbtn")
    task_ok(api, api.post("/api/vms/pwr/status/start"))
    task_ok(api, api.post("/api/vms/pwr/status/shutdown", {"timeout": 120}), timeout=150)
    assert state(api, "pwr") == "shutoff"
    task_ok(api, api.delete("/api/vms/pwr"))


def test_stop(api):
    create(api, "stp", "spin")
    task_ok(api, api.post("/api/vms/stp/status/start"))
    task_ok(api, api.post("/api/vms/stp/status/stop"))
    assert state(api, "stp") == "shutoff"
    task_ok(api, api.delete("/api/vms/stp"))


def test_balloon(api):
    create(api, "bln", "virtio_balloon", memory="128M", balloon="64M")
    task_ok(api, api.post("/api/vms/bln/status/start"))
    assert api.post("/api/vms/bln/balloon", {"target": "96M"}).status == 200
    assert api.post("/api/vms/bln/balloon", {"target": "lots"}).status == 400
    task_ok(api, api.post("/api/vms/bln/status/stop"))
    task_ok(api, api.delete("/api/vms/bln"))


def test_console_over_websocket(api, serve):
    create(api, "con", "echo")
    task_ok(api, api.post("/api/vms/con/status/start"))
    ws = WebSocket(serve.port, "/api/vms/con/console", api.cookie)
    try:
        time.sleep(0.5)
        ws.send(b"hello-from-websocket\r")
        got = b""
        end = time.monotonic() + 30
        while b"hello-from-websocket" not in got and time.monotonic() < end:
            got += ws.recv()
        assert b"hello-from-websocket" in got, got
    finally:
        ws.close()
    # The echo guest reports the line it read and powers off: the VM stops by itself
    # (a stop after that is refused as "not running", which the first run under KVM hit).
    end = time.monotonic() + 30
    while api.get("/api/vms/con").data["status"]["state"] == "running" and time.monotonic() < end:
        time.sleep(0.2)
    assert api.get("/api/vms/con").data["status"]["state"] != "running"
    task_ok(api, api.delete("/api/vms/con"))
