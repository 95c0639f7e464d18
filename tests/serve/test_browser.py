# SPDX-License-Identifier: GPL-2.0-or-later
"""The web interface of vmkit serve, driven in headless Chromium.

Fixtures (tests/serve/conftest.py):
    serve_url       "https://127.0.0.1:PORT" of the running vmkit serve
    login_user      a user allowed to log in
    login_password  that user's password
    vmkit_home      the VMKIT_HOME of that server
    guest_kernel    path of the project's guest kernel, or None
    have_kvm        bool: VMs can run here

Needs chromium, chromium-driver and python3-selenium (Debian); without them
the module is skipped, unless VMKIT_REQUIRE_BROWSER is set (then it fails).
The certificate is self-signed: Chromium runs with
--ignore-certificate-errors. A screenshot of every page lands in
build/screenshots/NAME.png.

The tests run in file order on one browser session: log in, create a VM
with the wizard, walk its pages, (with KVM) use its console, delete it,
then storage, networks, tasks, logout.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "display"))
SHOTS = REPO_ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python3-selenium is not installed"
    for p in (CHROMIUM, CHROMEDRIVER):
        if not os.access(p, os.X_OK):
            return f"{p} is missing (apt-get install chromium chromium-driver)"
    return None


_why = _missing()
if _why:
    if os.environ.get("VMKIT_REQUIRE_BROWSER"):
        raise RuntimeError(f"VMKIT_REQUIRE_BROWSER is set but {_why}")
    pytest.skip(_why, allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (NoAlertPresentException, NoSuchElementException,  # noqa: E402
                                        StaleElementReferenceException, TimeoutException)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.file_detector import UselessFileDetector  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

VM = f"webtest-{os.getpid()}"
TIMEOUT = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(argv, port, log, what):
    """Start a program that will listen on 127.0.0.1:port; wait until it does."""
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    end = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return p
        except OSError:
            if time.monotonic() > end or p.poll() is not None:
                p.kill()
                raise AssertionError(f"{what} did not start (see {log.name})")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    # Chromium and chromedriver are started here and reached at 127.0.0.1:
    # selenium's own Service, and chromedriver's own launch of the browser,
    # connect to "localhost", which a fresh Debian root without /etc/hosts
    # (CI's) cannot resolve.
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = open(SHOTS.parent / "chromium.log", "w")
    dbg, port = _free_port(), _free_port()
    args = [CHROMIUM, "--headless=new", "--ignore-certificate-errors", "--window-size=1280,800",
            "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            f"--remote-debugging-port={dbg}", "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with it
    browser = _start(args + ["about:blank"], dbg, log, "chromium")
    cd = _start([CHROMEDRIVER, f"--port={port}"], port, log, "chromedriver")
    opts = webdriver.ChromeOptions()
    opts.debugger_address = f"127.0.0.1:{dbg}"
    d = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=opts)
    # A local chromedriver reads files itself: no upload through a grid's se/file.
    d.file_detector = UselessFileDetector()
    d.set_page_load_timeout(30)
    yield d
    d.quit()
    for p in (cd, browser):
        p.terminate()
        p.wait(10)
    log.close()


def shot(d, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    d.save_screenshot(str(SHOTS / f"{name}.png"))


def wait(d, cond, timeout: float = TIMEOUT, msg: str = ""):
    try:
        # Pages redraw on every poll: an element read mid-redraw is asked again.
        return WebDriverWait(d, timeout, poll_frequency=0.2,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                             ).until(lambda _: cond())
    except TimeoutException:
        shot(d, "failure-" + (msg or "wait").replace(" ", "-").replace("/", "-")[:40])
        raise AssertionError(f"timed out after {timeout} s: {msg}\n{page_messages(d)}") from None


def page_messages(d) -> str:
    """The error lines and toasts on the page, for failure messages."""
    return d.execute_script(
        "return [...document.querySelectorAll('.form-error, .toast')]"
        ".map(e => e.textContent).filter(t => t).join('\\n')") or ""


def el(d, css: str):
    return d.find_element(By.CSS_SELECTOR, css)


def present(d, css: str):
    found = d.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found and found[0].is_displayed() else None


def go(d, serve_url, hash_: str, ready_css: str):
    if not d.current_url.startswith(serve_url):
        d.get(serve_url + "/")
    d.execute_script("location.hash = arguments[0]", hash_)
    return wait(d, lambda: present(d, ready_css), msg=f"{hash_}: {ready_css}")


def set_value(e, text: str) -> None:
    e.clear()
    e.send_keys(text)


def accept_confirm(d) -> None:
    def alert():
        try:
            return d.switch_to.alert
        except NoAlertPresentException:
            return None
    wait(d, alert, 5, "confirm dialog").accept()


def vm_row_state(d, name: str):
    rows = d.find_elements(By.CSS_SELECTOR, f'#vm-list tr[data-vm="{name}"]')
    return rows[0].get_attribute("data-state") if rows else None


def log_in(d, serve_url, user, password):
    d.get(serve_url + "/")
    wait(d, lambda: present(d, "#login-user") or present(d, "#app"), msg="login form or app")
    if present(d, "#app"):
        return
    set_value(el(d, "#login-user"), user)
    set_value(el(d, "#login-password"), password)
    el(d, "#login-submit").click()
    wait(d, lambda: present(d, "#app"), msg="app after login")


@pytest.fixture
def logged_in(driver, serve_url, login_user, login_password):
    log_in(driver, serve_url, login_user, login_password)
    return driver


def test_login_wrong_password(driver, serve_url, login_user):
    d = driver
    d.get(serve_url + "/")
    wait(d, lambda: present(d, "#login-user"), msg="login form")
    shot(d, "login")
    set_value(el(d, "#login-user"), login_user)
    set_value(el(d, "#login-password"), "certainly-not-the-password")
    el(d, "#login-submit").click()
    # Failures are answered more and more slowly: allow for it.
    wait(d, lambda: el(d, "#login-error").text.strip(), 30, "login error line")
    assert "authentication failure" in el(d, "#login-error").text
    assert not present(d, "#app")
    shot(d, "login-error")


def test_login_and_vm_list(driver, serve_url, login_user, login_password):
    d = driver
    log_in(d, serve_url, login_user, login_password)
    assert login_user.split("@")[0] in el(d, "#whoami").text
    go(d, serve_url, "#vms", "#vm-list")
    shot(d, "vm-list")
    go(d, serve_url, "#node", "#node-summary table")
    shot(d, "datacenter")


def test_create_vm_wizard(logged_in, serve_url, guest_kernel, have_kvm):
    d = logged_in
    kernel = guest_kernel or os.path.realpath(sys.executable)  # any existing file
    go(d, serve_url, "#create", "#wizard-name")
    shot(d, "wizard-general")
    set_value(el(d, "#wizard-name"), VM)
    set_value(el(d, "#wizard-description"), "made by test_browser")
    el(d, "#wizard-next").click()
    wait(d, lambda: present(d, "#wizard-kernel"), msg="OS step")
    set_value(el(d, "#wizard-kernel"), kernel)
    initrd = Path(kernel).parent / "initramfs.cpio"
    if guest_kernel and initrd.is_file():
        set_value(el(d, "#wizard-initrd"), str(initrd))  # its /init gives a shell
    set_value(el(d, "#wizard-cmdline"), "console=ttyS0")
    shot(d, "wizard-os")
    el(d, "#wizard-next").click()
    wait(d, lambda: present(d, "#wizard-disk-size"), msg="disk step")
    wait(d, lambda: el(d, "#wizard-disk-pool").get_attribute("value"), msg="pool choices")
    set_value(el(d, "#wizard-disk-size"), "64M")
    shot(d, "wizard-disks")
    el(d, "#wizard-next").click()
    wait(d, lambda: present(d, "#wizard-cores"), msg="CPU step")
    el(d, "#wizard-next").click()
    wait(d, lambda: present(d, "#wizard-memory"), msg="memory step")
    set_value(el(d, "#wizard-memory"), "128M")
    el(d, "#wizard-next").click()
    wait(d, lambda: present(d, "#wizard-net-mode"), msg="network step")
    el(d, "#wizard-next").click()
    wait(d, lambda: present(d, "#wizard-summary tr"), msg="confirm step")
    assert VM in el(d, "#wizard-summary").text
    shot(d, "wizard-confirm")
    el(d, "#wizard-finish").click()
    wait(d, lambda: present(d, "#vm-page"), msg="VM page after create")
    go(d, serve_url, "#vms", "#vm-list")
    wait(d, lambda: vm_row_state(d, VM) == "shutoff", msg=f"{VM} listed as shutoff")
    shot(d, "vm-list-created")


def test_create_installer_vm_from_iso(logged_in, serve_url, serve, vmkit_home, tmp_path):
    """Seed 000's walk-through: a VM made to install from an ISO, booting OVMF from the
    CD-ROM first: the wizard's choices become the definition's keys (no KVM to boot it)."""
    d = logged_in
    name, iso = f"inst-{os.getpid()}", f"inst-{os.getpid()}.iso"
    src = tmp_path / "cd"
    src.mkdir()
    (src / "README").write_text("installer\n")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(vmkit_home / "images" / iso), str(src)],
                   check=True, capture_output=True)
    go(d, serve_url, "#create", "#wizard-name")
    set_value(el(d, "#wizard-name"), name)
    el(d, "#wizard-next").click()
    wait(d, lambda: present(d, "#wizard-boot"), msg="OS step")
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, f'#wizard-iso option[value="local:{iso}"]'), msg="ISO listed")
    d.execute_script("arguments[0].value = 'ovmf'", el(d, "#wizard-boot"))
    d.execute_script(f"arguments[0].value = 'local:{iso}'", el(d, "#wizard-iso"))
    shot(d, "wizard-os-iso")
    for want in ("#wizard-disk-size", "#wizard-cores", "#wizard-memory", "#wizard-net-mode", "#wizard-summary tr"):
        el(d, "#wizard-next").click()
        wait(d, lambda: present(d, want), msg=want)
    assert "ide2" in el(d, "#wizard-summary").text or iso in el(d, "#wizard-summary").text
    el(d, "#wizard-finish").click()
    wait(d, lambda: present(d, "#vm-page"), msg="VM page after create")
    conf = serve.vmkit("dumpconfig", name).stdout
    for line in ("bios: ovmf", "vga: std", f"ide2: local:{iso},media=cdrom", "boot: order=ide2;virtio0;net0"):
        assert line in conf, conf
    assert (vmkit_home / "vms" / name / "efivars.fd").is_file(), "OVMF's variables beside the definition"
    serve.vmkit("delete", name, "--purge")
    assert (vmkit_home / "images" / iso).is_file(), "the ISO is shared, never purged with the VM"


def test_vm_pages(logged_in, serve_url):
    d = logged_in
    base = f"#vm/{VM}"
    go(d, serve_url, base + "/summary", "#vm-summary #vm-state")
    assert el(d, "#vm-state").text == "shutoff"
    shot(d, "vm-summary")

    go(d, serve_url, base + "/hardware", '#hw-list tr[data-key="memory"]')
    assert present(d, '#hw-list tr[data-key="virtio0"]'), "the wizard's disk is listed"
    shot(d, "vm-hardware")
    el(d, '#hw-list button[data-edit="cores"]').click()
    wait(d, lambda: present(d, "#hw-cores"), msg="processor form")
    set_value(el(d, "#hw-cores"), "2")
    el(d, "#hw-save").click()
    wait(d, lambda: "× 2 core" in el(d, '#hw-list tr[data-key="cores"]').text, msg="cores saved")
    # Display (Proxmox's vga and keyboard): a standard VGA, a German keymap; a bad layout refused.
    el(d, '#hw-list button[data-edit="vga"]').click()
    wait(d, lambda: present(d, "#hw-vga"), msg="display form")
    d.execute_script("arguments[0].value = 'std'", el(d, "#hw-vga"))
    set_value(el(d, "#hw-keyboard"), "de;x")
    el(d, "#hw-save").click()
    wait(d, lambda: "keyboard" in el(d, "#hw-error").text, msg="bad layout refused")
    set_value(el(d, "#hw-keyboard"), "de")
    d.execute_script("arguments[0].click()", el(d, "#hw-save"))   # the error's toast covers it
    wait(d, lambda: "Standard VGA, keyboard de" in el(d, '#hw-list tr[data-key="vga"]').text,
         msg="display saved")

    go(d, serve_url, base + "/options", "#opt-description")
    shot(d, "vm-options")
    set_value(el(d, "#opt-description"), "<b>x</b>")
    el(d, "#opt-save").click()
    wait(d, lambda: not el(d, "#opt-save").get_attribute("disabled"), msg="options saved")
    assert el(d, "#opt-error").text == ""

    # The description is the user's text, shown as typed: never markup.
    go(d, serve_url, base + "/summary", "#vm-summary #vm-state")
    wait(d, lambda: el(d, "#vm-description").text == "<b>x</b>", msg="description shown literally")
    assert not d.find_elements(By.CSS_SELECTOR, "#vm-description b")
    shot(d, "vm-summary-description")

    # A refused change shows the server's message by the form.
    go(d, serve_url, base + "/options", "#opt-kernel")
    set_value(el(d, "#opt-kernel"), "not/absolute")
    el(d, "#opt-save").click()
    wait(d, lambda: "absolute" in el(d, "#opt-error").text, msg="server's error shown")
    shot(d, "vm-options-error")

    go(d, serve_url, base + "/snapshots", "#snap-list")
    shot(d, "vm-snapshots")


def test_vm_display_refused(logged_in, serve_url):
    d = logged_in
    go(d, serve_url, f"#vm/{VM}/vnc", "#vnc-status")
    wait(d, lambda: el(d, "#vnc-status").get_attribute("data-state"), msg="VNC outcome")
    assert el(d, "#vnc-status").get_attribute("data-state") == "nodisplay"
    assert "no display" in el(d, "#vnc-status").text
    shot(d, "vm-display")


# noVNC's canvas at its own size (scaling is CSS), as base64 RGB bytes; null until it has
# the screen's size (arguments: width, height).
CANVAS_RGB = """
    const c = document.querySelector('#vnc-screen canvas');
    if (!c || c.width !== arguments[0] || c.height !== arguments[1]) return null;
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 0; i < px.length; i += 4)
        s += String.fromCharCode(px[i], px[i + 1], px[i + 2]);
    return btoa(s);"""


def test_vm_display_draws(logged_in, serve_url, screen, tmp_path):
    """noVNC in the browser, through serve's WebSocket, draws the VM's screen as it is."""
    import test_display as disp
    d = logged_in
    go(d, serve_url, "#vm/scr/vnc", "#vnc-status")
    wait(d, lambda: el(d, "#vnc-status").get_attribute("data-state") == "connected",
         msg="VNC connected")
    screen.cmd(f"dump {tmp_path / 'want.ppm'}")
    w, h_, want = disp.read_ppm(tmp_path / "want.ppm")
    assert len(set(want)) > 1, "a blank screen proves nothing"
    def same():
        b64 = d.execute_script(CANVAS_RGB, w, h_)
        return b64 is not None and base64.b64decode(b64) == want
    try:
        wait(d, same, msg="the canvas holds the screen")
    finally:
        shot(d, "vm-display-drawn")


def test_running_vm_screen_in_the_browser(logged_in, serve_url, serve, have_kvm, tmp_path):
    """A real VM (SeaBIOS on a standard VGA, nothing to boot), started from its page: the
    Display tab's noVNC canvas holds what the VM's own screendump (vmkit screenshot) holds."""
    if not have_kvm:
        pytest.skip("needs /dev/kvm: the VM cannot run here")
    import test_display as disp  # noqa: E402 (read_ppm)
    name = "fwscreen"
    serve.vmkit("create", "--name", name, "--memory", "64M", "--firmware", "bios")
    serve.vmkit("set", name, "vga=std")
    d = logged_in
    try:
        go(d, serve_url, f"#vm/{name}/summary", "#vm-start")
        # Made behind the page's back: Start stays disabled until the next poll lists it.
        wait(d, lambda: el(d, "#vm-start").is_enabled(), msg="Start enabled")
        el(d, "#vm-start").click()
        wait(d, lambda: el(d, "#vm-state-badge").get_attribute("data-state") == "running", 60,
             "VM running")
        go(d, serve_url, f"#vm/{name}/vnc", "#vnc-status")
        wait(d, lambda: el(d, "#vnc-status").get_attribute("data-state") == "connected",
             msg="VNC connected")
        ppm = tmp_path / "vm.ppm"

        def same():
            # SeaBIOS draws and then waits ("No bootable device"): a still screen to compare.
            serve.vmkit("screenshot", name, str(ppm))
            w, h_, want = disp.read_ppm(ppm)
            b64 = d.execute_script(CANVAS_RGB, w, h_)
            return b64 is not None and len(set(want)) > 1 and base64.b64decode(b64) == want
        try:
            wait(d, same, 180, "the canvas holds the VM's screen")
        finally:
            shot(d, "vm-display-running")
    finally:
        serve.vmkit("destroy", name, check=False)
        serve.vmkit("delete", name, check=False)


def terminal_lines(d) -> list[str]:
    return d.execute_script("""
        const t = window.vmkitTerminal; if (!t) return [];
        const b = t.buffer.active, out = [];
        for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
        return out;""")


def test_console(logged_in, serve_url, guest_kernel, have_kvm):
    if not have_kvm:
        pytest.skip("needs /dev/kvm: the VM cannot run here")
    if not guest_kernel:
        pytest.skip("needs the guest kernel (make guest)")
    d = logged_in
    go(d, serve_url, f"#vm/{VM}/summary", "#vm-start")
    el(d, "#vm-start").click()
    wait(d, lambda: el(d, "#vm-state-badge").get_attribute("data-state") == "running", 60, "VM running")
    go(d, serve_url, f"#vm/{VM}/console", "#console-term")
    wait(d, lambda: el(d, "#console-status").get_attribute("data-state") == "connected", msg="console connected")
    term = el(d, "#console-term .xterm-helper-textarea")
    # The initramfs shell comes up after the kernel's boot: poke until it answers.
    deadline = time.time() + 240
    while time.time() < deadline:
        term.send_keys("echo hello-from-xterm" + Keys.ENTER)
        try:
            wait(d, lambda: any(line.strip() == "hello-from-xterm" for line in terminal_lines(d)), 10, "echo")
            break
        except AssertionError:
            continue
    shot(d, "vm-console")
    # A VM that stopped (a crashed monitor) leaves a blank terminal: say so, not only the lines.
    assert any(line.strip() == "hello-from-xterm" for line in terminal_lines(d)), (
        f"VM {el(d, '#vm-state-badge').get_attribute('data-state')}, console {el(d, '#console-status').text}:\n"
        + "\n".join(terminal_lines(d)))

    # ACPI shutdown; the test guest's busybox shell may not heed the power
    # button, and powers off when its shell exits.
    go(d, serve_url, f"#vm/{VM}/summary", "#vm-shutdown")
    el(d, "#vm-shutdown").click()
    try:
        wait(d, lambda: el(d, "#vm-state-badge").get_attribute("data-state") == "shutoff", 20, "ACPI shutdown")
    except AssertionError:
        # xterm.js's textarea is never "displayed" (opacity 0, off screen): wait for the terminal.
        go(d, serve_url, f"#vm/{VM}/console", "#console-term")
        wait(d, lambda: el(d, "#console-status").get_attribute("data-state") == "connected", msg="console again")
        el(d, "#console-term .xterm-helper-textarea").send_keys("exit" + Keys.ENTER)
    wait(d, lambda: el(d, "#vm-state-badge").get_attribute("data-state") == "shutoff", 60, "VM shut off")


def test_delete_vm(logged_in, serve_url):
    d = logged_in
    go(d, serve_url, f"#vm/{VM}/summary", "#vm-delete")
    wait(d, lambda: el(d, "#vm-delete").is_enabled(), msg="delete enabled")
    el(d, "#vm-delete").click()
    wait(d, lambda: present(d, "#delete-dialog #delete-confirm"), msg="delete dialog")
    assert el(d, "#delete-purge").is_selected()
    shot(d, "vm-delete-dialog")
    el(d, "#delete-confirm").click()
    wait(d, lambda: d.execute_script("return location.hash") == "#vms", 60, "back to the list")
    wait(d, lambda: present(d, "#vm-list") and vm_row_state(d, VM) is None, 30, f"{VM} gone")


def test_storage_and_upload(logged_in, serve_url, tmp_path):
    d = logged_in
    go(d, serve_url, "#storage", '#pool-list tr[data-pool="local"]')
    shot(d, "storage")
    go(d, serve_url, "#storage/local", "#volume-list")
    name = f"upload-{os.getpid()}.iso"
    f = tmp_path / name
    f.write_bytes(os.urandom(256 * 1024))
    el(d, "#upload-file").send_keys(str(f))
    el(d, "#upload-submit").click()
    wait(d, lambda: el(d, "#upload-status").get_attribute("data-state") in ("done", "failed"), 60, "upload ends")
    shot(d, "storage-upload")
    assert el(d, "#upload-status").get_attribute("data-state") == "done", page_messages(d)
    assert float(el(d, "#upload-progress").get_attribute("value")) == 1.0
    wait(d, lambda: present(d, f'#volume-list tr[data-volume="{name}"]'), msg="uploaded volume listed")
    shot(d, "storage-pool")
    el(d, f'#volume-list button[data-volume-delete="{name}"]').click()
    accept_confirm(d)
    wait(d, lambda: not d.find_elements(By.CSS_SELECTOR, f'#volume-list tr[data-volume="{name}"]'), 30,
         "uploaded volume deleted")


def test_networks(logged_in, serve_url):
    d = logged_in
    go(d, serve_url, "#networks", "#net-list")
    shot(d, "networks")


def test_tasks_page(logged_in, serve_url):
    d = logged_in
    go(d, serve_url, "#tasks", "#task-list")
    wait(d, lambda: present(d, "#task-list tbody tr[data-task]"), msg="task rows")
    el(d, "#task-list tbody tr[data-task]").click()
    wait(d, lambda: el(d, "#task-log").text.strip(), msg="task log")
    shot(d, "tasks")


def test_logged_out_returns_to_login(logged_in, serve_url):
    """A 401 anywhere (here: the cookie gone) brings the login form back."""
    d = logged_in
    go(d, serve_url, "#vms", "#vm-list")
    d.delete_all_cookies()
    wait(d, lambda: present(d, "#login-user"), 10, "login form after 401")


def test_logout(logged_in, serve_url):
    d = logged_in
    el(d, "#logout").click()
    wait(d, lambda: present(d, "#login-user"), msg="login form after logout")
    d.refresh()
    wait(d, lambda: present(d, "#login-user"), msg="still logged out after reload")
