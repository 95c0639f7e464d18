# SPDX-License-Identifier: GPL-2.0-or-later
"""One bad VM definition does not take the management commands down (issue 16).

A config with a bad value (`memory: lots`) or an empty one made `vmkit list`,
`list --all` and `start --autostart` die with SIGSEGV: a NULL error pointer
reached the message wrapper. Now the bad one is reported with its file and
line, shown as broken in `list --all`, and the others are listed and started.
"""


def write_def(vk, name: str, text: str) -> None:
    d = vk.home / "vms" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "config").write_text(text)


def test_bad_definitions_are_reported_not_fatal(vk, tmp_path):
    good = vk.name("good")
    kernel = tmp_path / "kernel"
    kernel.write_bytes(b"not started by this test")
    vk("create", "--name", good, "--kernel", str(kernel), "--memory", "64")
    write_def(vk, "lots", "memory: lots\ncores: 1\nkernel: /x\n")
    write_def(vk, "empty", "")

    for args in (["list"], ["list", "--all"]):
        r = vk(*args, check=False)
        assert r.returncode == 0, r.stderr
        assert "lots/config:1" in r.stderr and "memory" in r.stderr, r.stderr
    r = vk("list", "--all")
    rows = {l[:24].strip(): l[25:35].strip() for l in r.stdout.splitlines()[1:]}
    assert rows.get("lots") == "broken" and rows.get(good) == "shut off", r.stdout
    assert "empty" in rows, r.stdout

    # Autostart goes past the broken one (and fails for it), without a crash.
    r = vk("start", "--autostart", check=False)
    assert r.returncode not in (-11, 139), r.stderr
    assert "lots/config:1" in r.stderr, r.stderr
