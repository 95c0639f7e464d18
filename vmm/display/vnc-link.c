// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The monitor's side of the VNC server (include/vmkit/vnc.h): start the
 * vmkit-vnc helper with a socketpair and the framebuffer memfd, be a
 * display listener while it has clients (copy changed pixels into the
 * memfd, send the rectangle), and pass the keys and pointer events it
 * sends to the display's VM. A thread of its own reads the helper.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmkit/display.h"
#include "vmkit/vmm-sandbox.h"
#include "vmkit/vnc.h"
#include "vnc-proto.h"

#define START_TIMEOUT_MS 10000
#define PASSWORD_TIMEOUT_S 5

struct vnc {
	struct display *display;
	struct vnc_opts opts;
	int fd, shm_fd;
	uint32_t *fb;			/* the memfd, VNC_SHM_SIZE bytes */
	pid_t pid;
	pthread_t reader;
	bool reader_started;
	pthread_mutex_t lock;		/* below */
	pthread_cond_t cond;
	unsigned int clients;
	bool listening;			/* registered as a display listener */
	unsigned int pw_acks;		/* PASSWORD_SET replies seen */
	char where[VNC_TEXT_MAX];	/* what READY said */
	unsigned int width;		/* the framebuffer's current width (stride) */
	/* The refresh thread's alone (the display's lock): */
	bool size_lost;			/* a RESIZE did not fit: send the size again */
	bool lost;			/* damage did not fit: the whole screen is damaged */
	bool debug;			/* VMKIT_VNC_DEBUG: the counts below at the end */
	uint64_t sent, refused;		/* messages to the helper, and those that did not fit */
};

static int send_msg(struct vnc *v, const struct vnc_msg *m)
{
	ssize_t n = send(v->fd, m, sizeof(*m), MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n != sizeof(*m)) {
		v->refused++;
		return -EAGAIN;
	}
	v->sent++;
	return 0;
}

/* ---- listener: runs on the refresh thread with the display's lock held ---- */

static void link_resize(void *l, unsigned int w, unsigned int h)
{
	struct vnc *v = l;
	struct vnc_msg m = { .type = VNC_MSG_RESIZE, .a = w, .b = h };

	memset(v->fb, 0, (size_t)w * h * 4);
	v->width = w;
	/* The helper marks the whole screen at a RESIZE: earlier losses are moot. */
	v->size_lost = v->lost = send_msg(v, &m) != 0;
}

/*
 * Pixels go to the helper as libvncserver's default 32-bit format wants
 * them: red in the low byte (0x00BBGGRR), so no server format is set up.
 */
static void copy_row(uint32_t *dst, const uint32_t *src, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		dst[i] = (src[i] & 0xff00) | (src[i] >> 16 & 0xff) | (src[i] & 0xff) << 16;
}

/*
 * After a message that did not fit (the helper stops reading its socket
 * while it encodes, and the socket holds some 160 messages), tell it the
 * size again if that was lost and mark the whole screen: its pixels are
 * already in the memfd, as every update copies its rectangle whatever
 * becomes of the message. Nothing is sent while the socket stays full.
 */
static int link_recover(struct vnc *v, const struct display_surface *s)
{
	struct vnc_msg r = { .type = VNC_MSG_RESIZE, .a = s->width, .b = s->height };
	struct vnc_msg m = { .type = VNC_MSG_DAMAGE, .c = s->width, .d = s->height };

	if (v->size_lost) {
		if (send_msg(v, &r))
			return -EAGAIN;
		v->size_lost = false;
	}
	if (send_msg(v, &m))
		return -EAGAIN;
	v->lost = false;
	return 0;
}

static void link_update(void *l, const struct display_surface *s, unsigned int x,
			unsigned int y, unsigned int w, unsigned int h)
{
	struct vnc *v = l;
	struct vnc_msg m = { .type = VNC_MSG_DAMAGE, .a = x, .b = y, .c = w, .d = h };
	unsigned int row;

	if (s->width != v->width)
		return;		/* a resize is on its way */
	for (row = y; row < y + h; row++)
		copy_row(v->fb + (size_t)row * s->width + x, s->pixels + (size_t)row * s->width + x,
			 w);
	if (v->lost)
		link_recover(v, s);	/* the whole screen covers this rectangle too */
	else if (send_msg(v, &m))
		v->lost = true;
}

static const struct display_listener_ops link_ops = {
	.resize = link_resize,
	.update = link_update,
};

/* ---- the reader thread ---- */

static void clients_changed(struct vnc *v, unsigned int n)
{
	bool want = n > 0;

	pthread_mutex_lock(&v->lock);
	v->clients = n;
	pthread_mutex_unlock(&v->lock);
	/* Listen (and so refresh) only while someone looks. */
	if (want && !v->listening)
		v->listening = !display_add_listener(v->display, &link_ops, v);
	else if (!want && v->listening) {
		display_remove_listener(v->display, v);
		v->listening = false;
	}
}

static void handle(struct vnc *v, const struct vnc_msg *m)
{
	switch (m->type) {
	case VNC_MSG_KEY:
		display_key(v->display, m->a, m->b);
		break;
	case VNC_MSG_POINTER:
		display_pointer(v->display, (int)MIN(m->a, (uint32_t)INT_MAX),
				(int)MIN(m->b, (uint32_t)INT_MAX), m->c);
		break;
	case VNC_MSG_CLIENTS:
		clients_changed(v, m->a);
		break;
	case VNC_MSG_PASSWORD_SET:
		pthread_mutex_lock(&v->lock);
		v->pw_acks++;
		pthread_cond_broadcast(&v->cond);
		pthread_mutex_unlock(&v->lock);
		break;
	}
}

static void *reader(void *opaque)
{
	struct vnc *v = opaque;
	struct vnc_msg m;
	ssize_t n;

	/* It calls into devices (input) as the event loop does. */
	vmm_sandbox_enter(&vmm_sandbox_devices);
	for (;;) {
		n = recv(v->fd, &m, sizeof(m), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* the helper is gone (or vnc_close shut the socket) */
		if (n == sizeof(m))
			handle(v, &m);
	}
	clients_changed(v, 0);
	return NULL;
}

/* ---- starting and stopping the helper ---- */

static int helper_path(char *buf, size_t len, struct vk_err *err)
{
	const char *env = getenv("VMKIT_VNC_HELPER");	/* tests run from build/tests/ */

	if (env && *env)
		return snprintf(buf, len, "%s", env) < (int)len ? 0 :
			vk_fail(err, -ENAMETOOLONG, "%s: path too long", env);
	return vk_sibling_path(VNC_HELPER, buf, len, err);
}

/* In the child between fork and exec: async-signal-safe calls only. */
static void __attribute__((noreturn))
child(const char *path, char *const argv[], int sock, int shm, pid_t parent)
{
	int r = vk_child_prepare(sock, shm, parent);

	if (r)
		_exit(r == -ESRCH ? 1 : 126);
	execv(path, argv);
	_exit(127);
}

static int wait_ready(struct vnc *v, struct vk_err *err)
{
	struct pollfd p = { .fd = v->fd, .events = POLLIN };
	struct vnc_msg m;
	ssize_t n;
	int r;

	for (;;) {
		r = poll(&p, 1, START_TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return vk_fail(err, -ETIMEDOUT, "%s: did not start in %d s", VNC_HELPER,
				       START_TIMEOUT_MS / 1000);
		n = recv(v->fd, &m, sizeof(m), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(m))
			return vk_fail(err, -EIO, "%s: exited before it listened (is it installed next to vmkit?)",
				       VNC_HELPER);
		m.text[VNC_TEXT_MAX - 1] = 0;
		if (m.type == VNC_MSG_ERROR)
			return vk_fail(err, -EADDRINUSE, "--vnc: %s", m.text);
		if (m.type == VNC_MSG_READY) {
			memcpy(v->where, m.text, sizeof(v->where));
			return 0;
		}
	}
}

static void build_argv(const struct vnc_opts *o, char args[5][160], char *argv[7])
{
	unsigned int n = 0;

	argv[n++] = (char *)VNC_HELPER;
	if (o->unix_path[0])
		snprintf(args[0], 160, "--unix=%s", o->unix_path);
	else
		snprintf(args[0], 160, "--listen=%s:%u", o->host, VNC_PORT_BASE + o->display);
	argv[n++] = args[0];
	snprintf(args[1], 160, "--password=%s", o->password ? "on" : "off");
	argv[n++] = args[1];
	snprintf(args[2], 160, "--websocket=%u", o->websocket);
	argv[n++] = args[2];
	snprintf(args[3], 160, "--keymap=%s", o->keymap[0] ? o->keymap : "en-us");
	argv[n++] = args[3];
	/* Confined unless vmkit run --sandbox off (issue 16), as vmkit-slirp. */
	snprintf(args[4], 160, "--sandbox=%s", o->sandbox_off ? "off" : "on");
	argv[n++] = args[4];
	argv[n] = NULL;
}

static int spawn(struct vnc *v, struct vk_err *err)
{
	char path[PATH_MAX], args[5][160], *argv[7];
	pid_t self = getpid();
	int sv[2], r;

	r = helper_path(path, sizeof(path), err);
	if (r)
		return r;
	build_argv(&v->opts, args, argv);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return vk_fail(err, -errno, "socketpair: %s", strerror(errno));
	v->pid = fork();
	if (v->pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return vk_fail(err, -errno, "fork: %s", strerror(errno));
	}
	if (v->pid == 0)
		child(path, argv, sv[1], v->shm_fd, self);
	close(sv[1]);
	v->fd = sv[0];
	return wait_ready(v, err);
}

int vnc_spawn(struct vnc **out, struct display *d, const struct vnc_opts *o, struct vk_err *err)
{
	struct vnc *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return vk_fail(err, -ENOMEM, "vnc: out of memory");
	v->display = d;
	v->opts = *o;
	v->fd = -1;
	v->debug = getenv("VMKIT_VNC_DEBUG") != NULL;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	v->shm_fd = memfd_create("vmkit-vnc-fb", MFD_CLOEXEC);
	if (v->shm_fd < 0 || ftruncate(v->shm_fd, VNC_SHM_SIZE) < 0) {
		r = vk_fail(err, -errno, "vnc: framebuffer memfd: %s", strerror(errno));
		goto fail;
	}
	v->fb = mmap(NULL, VNC_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, v->shm_fd, 0);
	if (v->fb == MAP_FAILED) {
		v->fb = NULL;
		r = vk_fail(err, -errno, "vnc: framebuffer mapping: %s", strerror(errno));
		goto fail;
	}
	r = spawn(v, err);
	if (r)
		goto fail;
	*out = v;
	return 0;
fail:
	vnc_close(v);
	return r;
}

int vnc_start(struct vnc *v, struct vk_err *err)
{
	int r = pthread_create(&v->reader, NULL, reader, v);

	if (r)
		return vk_fail(err, -r, "vnc: thread: %s", strerror(r));
	v->reader_started = true;
	return 0;
}

int vnc_open(struct vnc **out, struct display *d, const struct vnc_opts *o, struct vk_err *err)
{
	int r = vnc_spawn(out, d, o, err);

	if (!r && (r = vnc_start(*out, err))) {
		vnc_close(*out);
		*out = NULL;
	}
	return r;
}

void vnc_close(struct vnc *v)
{
	int i;

	if (!v)
		return;
	if (v->fd >= 0)
		shutdown(v->fd, SHUT_RDWR);	/* the helper sees EOF; the reader ends */
	if (v->reader_started)
		pthread_join(v->reader, NULL);
	if (v->listening)
		display_remove_listener(v->display, v);
	if (v->debug)
		vk_msg("vnc: %" PRIu64 " messages to %s, %" PRIu64 " did not fit", v->sent,
		       VNC_HELPER, v->refused);
	if (v->fd >= 0)
		close(v->fd);
	for (i = 0; v->pid > 0 && i < 100; i++) {
		if (waitpid(v->pid, NULL, WNOHANG) != 0) {
			v->pid = 0;
			break;
		}
		usleep(1000 * (i < 10 ? 1 : 10));
	}
	if (v->pid > 0) {
		kill(v->pid, SIGKILL);
		waitpid(v->pid, NULL, 0);
	}
	if (v->fb)
		munmap(v->fb, VNC_SHM_SIZE);
	if (v->shm_fd >= 0)
		close(v->shm_fd);
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

int vnc_set_password(struct vnc *v, const char *password, struct vk_err *err)
{
	struct vnc_msg m = { .type = VNC_MSG_PASSWORD };
	struct timespec until;
	unsigned int want;
	int r = 0;

	if (strlen(password) >= sizeof(m.text))
		return vk_fail(err, -EINVAL, "vnc: password too long");
	strcpy(m.text, password);
	pthread_mutex_lock(&v->lock);
	want = v->pw_acks + 1;
	if (send(v->fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m)) {
		pthread_mutex_unlock(&v->lock);
		return vk_fail(err, -EIO, "vnc: the server is gone");
	}
	/* Applied before we answer, so a client connecting next sees it. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += PASSWORD_TIMEOUT_S;
	while (v->pw_acks < want && !r)
		r = pthread_cond_timedwait(&v->cond, &v->lock, &until);
	pthread_mutex_unlock(&v->lock);
	return r ? vk_fail(err, -ETIMEDOUT, "vnc: the server did not take the password") : 0;
}

void vnc_query(struct vnc *v, struct vnc_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->host, sizeof(info->host), "%s", v->opts.host);
	if (!v->opts.unix_path[0])
		snprintf(info->service, sizeof(info->service), "%u",
			 VNC_PORT_BASE + v->opts.display);
	snprintf(info->unix_path, sizeof(info->unix_path), "%s", v->opts.unix_path);
	info->websocket = v->opts.websocket;
	info->password = v->opts.password;
	pthread_mutex_lock(&v->lock);
	info->clients = v->clients;
	pthread_mutex_unlock(&v->lock);
}
