// SPDX-License-Identifier: GPL-2.0-or-later
/* Console backends. See include/vmkit/console.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <termios.h>

#include "vmkit/console.h"
#include "vmkit/evloop.h"

#define CTRL_A 0x01
#define INPUT_CHUNK 256
/* While the device is full, how often to offer it the waiting input again. */
#define RETRY_NS (5 * 1000 * 1000)
/*
 * Guest output a socket client has not read yet (its socket buffer is full:
 * `vmkit serve` reads every 20 ms, the kernel's boot log comes in bursts).
 * Beyond this the client is taken for stuck and output is dropped, as a
 * disconnected one's is, rather than holding up the guest's vCPU.
 */
#define OUTQ_MAX (1 << 20)

struct console {
	enum console_kind kind;
	int in_fd, out_fd;	/* -1 when absent */
	int listen_fd;		/* socket: the listening socket */
	char *sock_path;
	bool escape;		/* stdio: the previous byte was Ctrl-A */
	pthread_mutex_t lock;	/* out_fd of a socket client changes under it */
	struct console_sink sink;
	/*
	 * Input read but not yet taken by the device. While there is some, the
	 * input fd is out of the event loop (so the kernel's pipe, tty or socket
	 * buffer holds back the sender) and a timer offers it again every
	 * RETRY_NS: at most 64 bytes per 5 ms for a UART, faster than 115200 baud.
	 */
	uint8_t pend[INPUT_CHUNK];
	size_t pend_off, pend_len;
	int retry_fd;		/* timerfd, -1 until first needed */
	bool input_paused;	/* in_fd taken out of the event loop */
	/*
	 * Socket client output waiting for room, a ring of OUTQ_MAX bytes
	 * under lock. out_fd is then a dup of in_fd, watched for EPOLLOUT only
	 * while the ring holds something (epoll tells the two fds apart).
	 */
	uint8_t *outq;
	size_t outq_head, outq_len;
};

/* The terminal's state before we made it raw; restored on every exit path. */
static struct termios saved_tty;
static int saved_tty_fd = -1;

static void tty_restore(void)
{
	if (saved_tty_fd >= 0)
		tcsetattr(saved_tty_fd, TCSANOW, &saved_tty);
}

static void fatal_signal(int sig)
{
	tty_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Raw input as QEMU sets it: no echo, no line editing, no signals; output still cooked. */
static void tty_make_raw(int fd)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE };
	struct termios t;
	unsigned int i;

	if (!isatty(fd) || tcgetattr(fd, &saved_tty) < 0)
		return;
	saved_tty_fd = fd;
	atexit(tty_restore);
	for (i = 0; i < ARRAY_SIZE(fatal); i++)
		signal(fatal[i], fatal_signal);
	t = saved_tty;
	t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_oflag |= OPOST;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	tcsetattr(fd, TCSANOW, &t);
}

static int open_socket(struct console *c, const char *path, struct vk_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return vk_fail(err, -ENAMETOOLONG, "console socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->listen_fd < 0)
		return vk_fail(err, -errno, "console socket: %s", strerror(errno));
	unlink(path);
	if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(c->listen_fd, 1) < 0)
		return vk_fail(err, -errno, "console socket %s: %s", path, strerror(errno));
	c->sock_path = strdup(path);
	return 0;
}

static int open_backend(struct console *c, const char *path, struct vk_err *err)
{
	switch (c->kind) {
	case CONSOLE_STDIO:
		c->in_fd = STDIN_FILENO;
		c->out_fd = STDOUT_FILENO;
		tty_make_raw(STDIN_FILENO);
		return 0;
	case CONSOLE_NONE:
		return 0;
	case CONSOLE_FILE:
		c->out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
		if (c->out_fd < 0)
			return vk_fail(err, -errno, "console file %s: %s", path, strerror(errno));
		return 0;
	case CONSOLE_SOCKET:
		return open_socket(c, path, err);
	}
	return -EINVAL;
}

int console_open(struct console **out, enum console_kind kind, const char *path,
		 struct vk_err *err)
{
	struct console *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return vk_fail(err, -ENOMEM, "out of memory");
	c->kind = kind;
	c->in_fd = c->out_fd = c->listen_fd = c->retry_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	r = open_backend(c, path, err);
	if (r) {
		console_close(c);
		return r;
	}
	*out = c;
	return 0;
}

/* Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A, as in QEMU's stdio mux. */
static size_t filter_escapes(struct console *c, uint8_t *buf, size_t n, bool *quit)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		uint8_t ch = buf[i];

		if (c->escape) {
			c->escape = false;
			if (ch == 'x' || ch == 'X') {
				*quit = true;
				return o;
			}
			if (ch != CTRL_A)
				continue;	/* unknown escape: dropped */
		} else if (ch == CTRL_A) {
			c->escape = true;
			continue;
		}
		buf[o++] = ch;
	}
	return o;
}

static void drop_client(struct console *c, struct evloop *l)
{
	pthread_mutex_lock(&c->lock);
	if (c->in_fd >= 0) {
		if (!c->input_paused)
			evloop_del(l, c->in_fd);
		close(c->in_fd);
	}
	if (c->out_fd >= 0) {
		evloop_del(l, c->out_fd);
		close(c->out_fd);
	}
	c->in_fd = c->out_fd = -1;
	c->input_paused = false;
	c->outq_head = c->outq_len = 0;
	pthread_mutex_unlock(&c->lock);
}

static struct evloop *attached_loop;

static int on_input(void *opaque, int fd, uint32_t events);
static int on_retry(void *opaque, int fd, uint32_t events);

static void set_retry(struct console *c, bool on)
{
	struct itimerspec its = { 0 };

	if (c->retry_fd < 0) {
		if (!on)
			return;
		c->retry_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (c->retry_fd < 0 || evloop_add(attached_loop, c->retry_fd, EPOLLIN, on_retry, c)) {
			/* No timer: the rest of this chunk is lost, as a UART overruns. */
			c->pend_off = c->pend_len = 0;
			return;
		}
	}
	if (on) {
		its.it_value.tv_nsec = RETRY_NS;
		its.it_interval.tv_nsec = RETRY_NS;
	}
	timerfd_settime(c->retry_fd, 0, &its, NULL);
}

/* Offer the waiting input to the device; stop or resume reading accordingly. */
static void push_pending(struct console *c)
{
	if (c->pend_off < c->pend_len && c->sink.input)
		c->pend_off += c->sink.input(c->sink.opaque, c->pend + c->pend_off,
					     c->pend_len - c->pend_off);
	if (!c->sink.input)
		c->pend_off = c->pend_len;	/* nobody to take it */
	if (c->pend_off < c->pend_len) {
		if (!c->input_paused && c->in_fd >= 0) {
			evloop_del(attached_loop, c->in_fd);
			c->input_paused = true;
		}
		set_retry(c, true);
		return;
	}
	c->pend_off = c->pend_len = 0;
	set_retry(c, false);
	if (c->input_paused) {
		c->input_paused = false;
		if (c->in_fd >= 0)
			evloop_add(attached_loop, c->in_fd, EPOLLIN, on_input, c);
	}
}

static int on_retry(void *opaque, int fd, uint32_t events)
{
	uint64_t ticks;

	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return 0;
	push_pending(opaque);
	return 0;
}

static int on_input(void *opaque, int fd, uint32_t events)
{
	struct console *c = opaque;
	uint8_t *buf = c->pend;
	bool quit = false;
	ssize_t n;

	if (c->pend_off < c->pend_len)
		return 0;	/* still delivering the previous chunk */
	n = read(fd, buf, INPUT_CHUNK);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		/* EOF: stdin closed or the socket client went away. */
		if (c->kind == CONSOLE_SOCKET)
			drop_client(c, attached_loop);
		else
			evloop_del(attached_loop, fd);
		return 0;
	}
	if (c->kind == CONSOLE_STDIO && isatty(fd))
		n = filter_escapes(c, buf, n, &quit);
	c->pend_off = 0;
	c->pend_len = n;
	push_pending(c);
	if (quit && c->sink.quit)
		c->sink.quit(c->sink.opaque);
	return 0;
}

/* Send what the ring holds; called with c->lock held. Returns -1 if the client is gone. */
static int flush_outq(struct console *c)
{
	while (c->outq_len) {
		size_t n = c->outq_len;
		ssize_t w;

		if (c->outq_head + n > OUTQ_MAX)
			n = OUTQ_MAX - c->outq_head;
		w = send(c->out_fd, c->outq + c->outq_head, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		c->outq_head = (c->outq_head + w) % OUTQ_MAX;
		c->outq_len -= w;
	}
	c->outq_head = 0;
	return 0;
}

static int on_output(void *opaque, int fd, uint32_t events)
{
	struct console *c = opaque;
	bool gone;

	pthread_mutex_lock(&c->lock);
	gone = c->out_fd != fd || (events & (EPOLLHUP | EPOLLERR)) || flush_outq(c) < 0;
	if (!gone && c->outq_len == 0)
		evloop_mod(attached_loop, fd, 0);
	pthread_mutex_unlock(&c->lock);
	/* epoll reports a hang-up even unasked: drop the client, or this spins. */
	if (gone && c->out_fd == fd)
		drop_client(c, attached_loop);
	return 0;
}

static int on_accept(void *opaque, int fd, uint32_t events)
{
	struct console *c = opaque;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), ofd;

	if (cfd < 0)
		return 0;
	if (c->in_fd >= 0) {
		/* One client at a time, as QEMU's socket chardev. */
		close(cfd);
		return 0;
	}
	ofd = fcntl(cfd, F_DUPFD_CLOEXEC, 0);
	if (ofd < 0 || evloop_add(attached_loop, ofd, 0, on_output, c)) {
		if (ofd >= 0)
			close(ofd);
		close(cfd);
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	c->in_fd = cfd;
	c->out_fd = ofd;
	c->outq_head = c->outq_len = 0;
	pthread_mutex_unlock(&c->lock);
	evloop_add(attached_loop, cfd, EPOLLIN, on_input, c);
	return 0;
}

int console_attach(struct console *c, struct evloop *l, const struct console_sink *sink)
{
	c->sink = *sink;
	pthread_mutex_lock(&c->lock);
	attached_loop = l;
	if (c->kind == CONSOLE_SOCKET && c->out_fd >= 0)
		evloop_add(l, c->out_fd, c->outq_len ? EPOLLOUT : 0, on_output, c);
	pthread_mutex_unlock(&c->lock);
	if (c->kind == CONSOLE_SOCKET) {
		if (c->in_fd >= 0)
			evloop_add(l, c->in_fd, EPOLLIN, on_input, c);
		return evloop_add(l, c->listen_fd, EPOLLIN, on_accept, c);
	}
	/* epoll refuses regular files and /dev/null: such stdin gives no input. */
	if (c->in_fd >= 0 && evloop_add(l, c->in_fd, EPOLLIN, on_input, c) == -EPERM)
		return 0;
	return 0;
}

void console_detach(struct console *c, struct evloop *l)
{
	if (c->listen_fd >= 0)
		evloop_del(l, c->listen_fd);
	if (c->in_fd >= 0 && !c->input_paused)
		evloop_del(l, c->in_fd);
	pthread_mutex_lock(&c->lock);
	if (c->out_fd >= 0 && c->kind == CONSOLE_SOCKET)
		evloop_del(l, c->out_fd);	/* the ring keeps its output for the next loop */
	attached_loop = NULL;
	pthread_mutex_unlock(&c->lock);
	/* Input the device had no room for is dropped with the device. */
	if (c->retry_fd >= 0) {
		evloop_del(l, c->retry_fd);
		close(c->retry_fd);
		c->retry_fd = -1;
	}
	c->input_paused = false;
	c->pend_off = c->pend_len = 0;
	memset(&c->sink, 0, sizeof(c->sink));
}

/* Queue what the socket client has no room for; called with c->lock held. */
static void socket_write(struct console *c, const uint8_t *buf, size_t len)
{
	bool was_empty = c->outq_len == 0;
	ssize_t w = 0;
	size_t tail;

	if (was_empty) {
		do
			w = send(c->out_fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN)
			return;	/* gone: dropped until the next client */
		if (w < 0)
			w = 0;
		if ((size_t)w == len)
			return;
		buf += w;
		len -= w;
	}
	if (!c->outq && !(c->outq = malloc(OUTQ_MAX)))
		return;
	if (len > OUTQ_MAX - c->outq_len)
		len = OUTQ_MAX - c->outq_len;	/* a stuck client: the rest is lost */
	tail = (c->outq_head + c->outq_len) % OUTQ_MAX;
	while (len) {
		size_t n = len < OUTQ_MAX - tail ? len : OUTQ_MAX - tail;

		memcpy(c->outq + tail, buf, n);
		c->outq_len += n;
		buf += n;
		len -= n;
		tail = 0;
	}
	if (was_empty && c->outq_len && attached_loop)
		evloop_mod(attached_loop, c->out_fd, EPOLLOUT);
}

void console_write(struct console *c, const void *buf, size_t len)
{
	ssize_t r;

	if (c->out_fd < 0)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->out_fd >= 0 && c->kind == CONSOLE_SOCKET) {
		socket_write(c, buf, len);
	} else if (c->out_fd >= 0) {
		r = vk_write_full(c->out_fd, buf, len);
		/* stdio or a file that fails: nothing better to do with the output. */
		(void)r;
	}
	pthread_mutex_unlock(&c->lock);
}

void console_close(struct console *c)
{
	if (!c)
		return;
	tty_restore();
	if (c->kind == CONSOLE_FILE && c->out_fd >= 0)
		close(c->out_fd);
	if (c->kind == CONSOLE_SOCKET) {
		if (c->in_fd >= 0)
			close(c->in_fd);
		if (c->out_fd >= 0)
			close(c->out_fd);
		if (c->listen_fd >= 0)
			close(c->listen_fd);
		if (c->sock_path)
			unlink(c->sock_path);
		free(c->sock_path);
	}
	pthread_mutex_destroy(&c->lock);
	free(c->outq);
	free(c);
}
