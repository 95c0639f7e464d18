// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit-vnc: the VNC server of one VM's display, started by the monitor
 * (vmm/display/vnc-link.c) with the control socket on fd 3 and the
 * framebuffer memfd on fd 4 (vmm/display/vnc-proto.h). libvncserver does
 * the protocol, encodings, VNC authentication, desktop resize and the
 * WebSocket transport (detected on any connection: a browser speaks
 * first); this file listens where asked (TCP, or a unix socket it accepts
 * on itself), applies what the monitor says, and sends back input as
 * evdev key codes. One thread: rfbProcessEvents (which also wakes for the
 * monitor's socket), then the monitor's messages and the extra listeners,
 * in a loop; new damage is sent to the clients at once.
 *
 * --sandbox=on (the default; issue 16): once the keymap is compiled, the
 * framebuffer mapped and every listener bound, and before READY, the
 * helper drops what it no longer needs (include/vmkit/sandbox.h), as
 * vmkit-slirp does: as root, a private mount namespace whose root is an
 * empty read-only tmpfs (it opens no file after start-up), the user vmkit
 * (or nobody), no capabilities; always PR_SET_NO_NEW_PRIVS and the
 * seccomp allow-list of sandbox.c. A forbidden call kills it with one line
 * naming the call on stderr (the monitor's). What cannot be dropped: the
 * listening sockets, the monitor's socket and the memfd (its job), and a
 * unix socket's file, which stays where it was bound (the helper can no
 * longer see it to remove it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/input-event-codes.h>
#include <netinet/in.h>
#include <poll.h>
#include <rfb/rfb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmkit/sandbox.h"
#include "vmm/display/vnc-proto.h"
#include "vnc.h"

#define CTL_FD		3
#define SHM_FD		4
#define LOOP_USEC	10000

static rfbScreenInfoPtr screen;
static char *fb;
static char password[VNC_TEXT_MAX];
static bool password_on;
static unsigned int clients;
static int extra_fd = -1;		/* unix socket or websocket listener */
static bool shift_down, altgr_down;
static bool resized;			/* a RESIZE message was applied */

static void ctl_send(const struct vnc_msg *m)
{
	/* Blocking: the monitor's reader always drains; a dead monitor ends us below. */
	if (send(CTL_FD, m, sizeof(*m), MSG_NOSIGNAL) != sizeof(*m))
		exit(0);
}

static void __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	struct vnc_msg m = { .type = VNC_MSG_ERROR };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	ctl_send(&m);
	exit(1);
}

static void quiet_log(const char *fmt, ...)
{
}

/*
 * VMKIT_VNC_DEBUG: libvncserver's messages, without its default logger's
 * local time (which reads /etc/localtime, out of reach in the sandbox).
 */
static void debug_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* ---- input ---- */

static void key(unsigned int code, bool down)
{
	struct vnc_msg m = { .type = VNC_MSG_KEY, .a = code, .b = down };

	ctl_send(&m);
}

/* Press (or release) the key for sym, adding the Shift/AltGr its level needs. */
static void kbd_event(rfbBool down, rfbKeySym sym, rfbClientPtr cl)
{
	unsigned int code, level;
	bool shift, altgr;

	if (!keymap_lookup(sym, &code, &level))
		return;		/* no key of this layout makes it */
	if (code == KEY_LEFTSHIFT || code == KEY_RIGHTSHIFT)
		shift_down = down;
	if (code == KEY_RIGHTALT)
		altgr_down = down;
	shift = down && (level & 1) && !shift_down;
	altgr = down && (level & 2) && !altgr_down;
	if (shift)
		key(KEY_LEFTSHIFT, true);
	if (altgr)
		key(KEY_RIGHTALT, true);
	key(code, down);
	if (altgr)
		key(KEY_RIGHTALT, false);
	if (shift)
		key(KEY_LEFTSHIFT, false);
}

static void ptr_event(int mask, int x, int y, rfbClientPtr cl)
{
	struct vnc_msg m = { .type = VNC_MSG_POINTER, .a = MAX(x, 0), .b = MAX(y, 0),
			     .c = mask & 0x1f };

	ctl_send(&m);
	rfbDefaultPtrAddEvent(mask, x, y, cl);
}

/* ---- clients and authentication ---- */

static void clients_msg(void)
{
	struct vnc_msg m = { .type = VNC_MSG_CLIENTS, .a = clients };

	ctl_send(&m);
}

static void client_gone(rfbClientPtr cl)
{
	clients--;
	clients_msg();
}

static bool ctl_messages(void);

/*
 * The first client makes the monitor start refreshing: wait for the size
 * it then sends, so that this client's ServerInit already has it.
 */
static void wait_resize(void)
{
	struct pollfd p = { .fd = CTL_FD, .events = POLLIN };
	int i;

	for (i = 0; i < 50 && !resized; i++) {
		if (poll(&p, 1, 10) == 1)
			ctl_messages();
	}
}

static enum rfbNewClientAction new_client(rfbClientPtr cl)
{
	cl->clientGoneHook = client_gone;
	clients++;
	clients_msg();
	if (clients == 1) {
		resized = false;
		wait_resize();
	}
	return RFB_CLIENT_ACCEPT;
}

/* VNC authentication against the password the monitor set; none set refuses all. */
static rfbBool check_password(rfbClientPtr cl, const char *response, int len)
{
	unsigned char expect[CHALLENGESIZE];

	if (!password[0] || len != CHALLENGESIZE)
		return FALSE;
	memcpy(expect, cl->authChallenge, CHALLENGESIZE);
	rfbEncryptBytes(expect, password);
	return memcmp(expect, response, CHALLENGESIZE) == 0;
}

/* ---- the monitor's messages ---- */

static void resize(unsigned int w, unsigned int h)
{
	if (!w || !h || w > DISPLAY_MAX_WIDTH || h > DISPLAY_MAX_HEIGHT)
		return;
	resized = true;
	if ((int)w != screen->width || (int)h != screen->height)
		rfbNewFramebuffer(screen, fb, w, h, 8, 3, 4);
	else
		rfbMarkRectAsModified(screen, 0, 0, w, h);
}

static void damage(const struct vnc_msg *m)
{
	uint64_t x2 = (uint64_t)m->a + m->c, y2 = (uint64_t)m->b + m->d;

	if (x2 > (uint64_t)screen->width || y2 > (uint64_t)screen->height)
		return;
	rfbMarkRectAsModified(screen, m->a, m->b, x2, y2);
}

/* Apply what the monitor sent; true if the picture changed. */
static bool ctl_messages(void)
{
	struct vnc_msg m, ack = { .type = VNC_MSG_PASSWORD_SET };
	bool changed = false;
	ssize_t n;

	for (;;) {
		n = recv(CTL_FD, &m, sizeof(m), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return changed;
		if (n <= 0)
			exit(0);	/* the monitor closed: the VM is gone */
		if (n != sizeof(m))
			continue;
		changed |= m.type == VNC_MSG_RESIZE || m.type == VNC_MSG_DAMAGE;
		switch (m.type) {
		case VNC_MSG_RESIZE: resize(m.a, m.b); break;
		case VNC_MSG_DAMAGE: damage(&m); break;
		case VNC_MSG_PASSWORD:
			memcpy(password, m.text, sizeof(password));
			password[sizeof(password) - 1] = 0;
			ctl_send(&ack);
			break;
		}
	}
}

/* ---- listening ---- */

static int listen_unix(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path))
		fail("unix:%s: %s", path, fd < 0 ? strerror(errno) : "path too long");
	strcpy(a.sun_path, path);
	unlink(path);		/* a stale socket of an earlier run */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0)
		fail("unix:%s: %s", path, strerror(errno));
	return fd;
}

static int listen_tcp(const char *host, unsigned int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1)
		fail("websocket: %s is not an IPv4 address", host);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0)
		fail("websocket port %u on %s: %s", port, host, strerror(errno));
	return fd;
}

static void accept_extra(void)
{
	struct pollfd p = { .fd = extra_fd, .events = POLLIN };
	int fd;

	if (extra_fd < 0 || poll(&p, 1, 0) != 1)
		return;
	fd = accept4(extra_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0 && !rfbNewClient(screen, fd))
		close(fd);	/* refused (a failed WebSocket handshake): libvncserver said why */
}

struct opts {
	char host[64];
	unsigned int port, websocket;
	const char *unix_path, *keymap;
	bool sandbox;
};

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' }, { "unix", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'p' },
		{ "websocket", required_argument, NULL, 'w' },
		{ "keymap", required_argument, NULL, 'k' },
		{ "sandbox", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 },
	};
	char *colon;
	int c;

	memset(o, 0, sizeof(*o));
	o->keymap = "en-us";
	o->sandbox = true;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'l':
			snprintf(o->host, sizeof(o->host), "%s", optarg);
			colon = strrchr(o->host, ':');
			if (!colon)
				fail("--listen %s: expected HOST:PORT", optarg);
			*colon = 0;
			o->port = atoi(colon + 1);
			break;
		case 'u': o->unix_path = optarg; break;
		case 'p': password_on = !strcmp(optarg, "on"); break;
		case 'w': o->websocket = atoi(optarg); break;
		case 'k': o->keymap = optarg; break;
		case 's':
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				fail("--sandbox=%s: expected on or off", optarg);
			o->sandbox = !strcmp(optarg, "on");
			break;
		default: fail("vmkit-vnc: bad arguments");
		}
	}
}

static void setup_screen(const struct opts *o)
{
	int argc = 1;
	char *argv[] = { (char *)VNC_HELPER, NULL };

	rfbLog = rfbErr = getenv("VMKIT_VNC_DEBUG") ? debug_log : quiet_log;
	screen = rfbGetScreen(&argc, argv, 640, 480, 8, 3, 4);
	if (!screen)
		fail("libvncserver: cannot make a screen");
	screen->frameBuffer = fb;
	screen->cursor = NULL;			/* the guest draws its own: none drawn into fb */
	screen->desktopName = "vmkit";
	screen->alwaysShared = TRUE;		/* several viewers at once */
	screen->kbdAddEvent = kbd_event;
	screen->ptrAddEvent = ptr_event;
	screen->newClientHook = new_client;
	screen->ipv6port = 0;
	screen->httpPort = 0;
	if (password_on) {
		screen->authPasswdData = (void *)password;	/* offers VNC authentication */
		screen->passwordCheck = check_password;
	}
	if (o->unix_path) {
		screen->port = 0;			/* no TCP listener of libvncserver's */
	} else {
		screen->port = o->port;
		if (inet_pton(AF_INET, o->host, &screen->listenInterface) != 1)
			fail("%s: not an IPv4 address", o->host);
	}
	/*
	 * The monitor sends a refresh's damage once it has copied the pixels
	 * (a few messages a refresh), and copies the next refresh's over them
	 * 33 ms later: send at once rather than after libvncserver's 5 ms of
	 * gathering, and wake for the monitor's socket too (its select ignores
	 * an fd it does not know), or pixels of the next refresh go out in
	 * this one's update and again in their own.
	 */
	screen->deferUpdateTime = 0;
	rfbInitServer(screen);
	if (!o->unix_path && screen->listenSock == RFB_INVALID_SOCKET)
		fail("cannot listen on %s:%u (port in use?)", o->host, o->port);
	FD_SET(CTL_FD, &screen->allFds);
	screen->maxFd = MAX(screen->maxFd, CTL_FD);
}

/*
 * The first VNC authentication initializes libvncserver's crypto library,
 * which reads its configuration files and may syslog a warning: do it
 * now, while files and sockets can still be opened.
 */
static void warm_up_crypto(void)
{
	unsigned char challenge[CHALLENGESIZE] = { 0 };

	rfbEncryptBytes(challenge, "vmkit");
}

static void enter_sandbox(void)
{
	struct sandbox_jail jail = { 0 };	/* an empty root: no file is needed */
	struct vk_err err = { 0 };
	bool dropped;

	warm_up_crypto();
	if (sandbox_drop(&jail, &dropped, &err) < 0 || sandbox_install(&vnc_sandbox_kind, &err) < 0)
		fail("%s", err.msg);
}

int main(int argc, char **argv)
{
	struct vnc_msg ready = { .type = VNC_MSG_READY };
	char errbuf[VNC_TEXT_MAX];
	bool changed = false;
	struct opts o;

	parse(argc, argv, &o);
	if (keymap_load(o.keymap, errbuf, sizeof(errbuf)))
		fail("%s", errbuf);
	fb = mmap(NULL, VNC_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, SHM_FD, 0);
	if (fb == MAP_FAILED)
		fail("framebuffer: %s", strerror(errno));
	setup_screen(&o);
	if (o.unix_path)
		extra_fd = listen_unix(o.unix_path);
	else if (o.websocket)
		extra_fd = listen_tcp(o.host, o.websocket);
	if (o.sandbox)
		enter_sandbox();
	snprintf(ready.text, sizeof(ready.text), "%s", o.unix_path ? o.unix_path : o.host);
	ctl_send(&ready);
	for (;;) {
		/* New damage: the clients' updates now, not after the next wait. */
		rfbProcessEvents(screen, changed ? 0 : LOOP_USEC);
		changed = ctl_messages();
		accept_extra();
	}
}
