// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The console backend holds back typed input the guest's device cannot take
 * yet (a full UART FIFO) instead of dropping it: a client pastes 20,000
 * bytes into a socket console whose device takes 64 bytes at a time at most, and
 * every byte arrives, in order. And guest output a slow client has no room
 * for yet waits for it: 600 KiB written while the client reads nothing (its
 * socket buffer holds a fraction of that) all arrive, in order. No VM needed.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/console.h"
#include "vmkit/evloop.h"

#define TOTAL 20000

struct fake_uart {
	uint8_t got[TOTAL];
	size_t n;
	unsigned int calls;
	int done_efd;
};

/* Takes at most 64 bytes a call (a UART FIFO), and nothing every other call (still full). */
static size_t take(void *opaque, const uint8_t *buf, size_t len)
{
	struct fake_uart *u = opaque;
	size_t k = (u->calls++ % 2) ? 0 : (len < 64 ? len : 64);

	if (k > TOTAL - u->n)
		k = TOTAL - u->n;
	memcpy(u->got + u->n, buf, k);
	u->n += k;
	if (u->n == TOTAL) {
		uint64_t one = 1;

		assert_int_equal(write(u->done_efd, &one, sizeof(one)), sizeof(one));
	}
	return k;
}

static int on_done(void *opaque, int fd, uint32_t events)
{
	return 1;
}

struct paster {
	const char *path;
	int stop_efd;	/* the test says when the loop has read it all */
};

static void *paste(void *arg)
{
	struct paster *p = arg;
	const char *path = p->path;
	uint64_t v;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t buf[TOTAL];
	int fd, i;

	for (i = 0; i < TOTAL; i++)
		buf[i] = (uint8_t)(i * 7 + i / 251);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	for (i = 0; i < 200 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0; i++)
		usleep(10000);
	for (i = 0; i < TOTAL;) {
		ssize_t w = write(fd, buf + i, TOTAL - i);

		if (w <= 0)
			break;
		i += w;
	}
	/* Stay connected until the loop has read it all. */
	if (read(p->stop_efd, &v, sizeof(v)) < 0)
		perror("read");
	close(fd);
	return NULL;
}

static void test_paste_is_not_lost(void **state)
{
	char path[] = "/tmp/vmkit-test-console-XXXXXX";
	char sock[64];
	struct console *c;
	struct evloop *l;
	struct vk_err err = { 0 };
	struct fake_uart u = { 0 };
	struct console_sink sink = { .input = take, .opaque = &u };
	struct paster p = { .path = sock };
	uint64_t one = 1;
	pthread_t t;
	int i;

	assert_non_null(mkdtemp(path));
	snprintf(sock, sizeof(sock), "%s/con", path);
	assert_int_equal(console_open(&c, CONSOLE_SOCKET, sock, &err), 0);
	assert_int_equal(evloop_new(&l), 0);
	u.done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(u.done_efd >= 0);
	assert_int_equal(evloop_add(l, u.done_efd, EPOLLIN, on_done, NULL), 0);
	assert_int_equal(console_attach(c, l, &sink), 0);
	p.stop_efd = eventfd(0, EFD_CLOEXEC);
	assert_true(p.stop_efd >= 0);
	assert_int_equal(pthread_create(&t, NULL, paste, &p), 0);
	alarm(25);	/* a lost byte would leave the loop waiting forever */
	assert_int_equal(evloop_run(l), 1);
	alarm(0);
	assert_int_equal(u.n, TOTAL);
	for (i = 0; i < TOTAL; i++)
		if (u.got[i] != (uint8_t)(i * 7 + i / 251))
			fail_msg("byte %d differs", i);
	console_detach(c, l);
	console_close(c);
	evloop_free(l);
	assert_int_equal(write(p.stop_efd, &one, sizeof(one)), sizeof(one));
	pthread_join(t, NULL);
	close(p.stop_efd);
	rmdir(path);
}

#define OUT_TOTAL (600 * 1024)

static size_t signal_connected(void *opaque, const uint8_t *buf, size_t len)
{
	uint64_t one = 1;

	assert_int_equal(write(*(int *)opaque, &one, sizeof(one)), sizeof(one));
	return len;
}

static void *run_loop(void *l)
{
	evloop_run(l);
	return NULL;
}

static uint8_t out_byte(size_t i)
{
	return (uint8_t)(i * 13 + i / 509);
}

static void test_slow_reader_gets_all_output(void **state)
{
	char path[] = "/tmp/vmkit-test-console-XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static uint8_t got[OUT_TOTAL];
	struct vk_err err = { 0 };
	int connected = eventfd(0, EFD_CLOEXEC), stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct console_sink sink = { .input = signal_connected, .opaque = &connected };
	uint64_t v = 1;
	struct console *c;
	struct evloop *l;
	size_t i, n = 0;
	pthread_t t;
	int fd;

	assert_non_null(mkdtemp(path));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/con", path);
	assert_int_equal(console_open(&c, CONSOLE_SOCKET, sa.sun_path, &err), 0);
	assert_int_equal(evloop_new(&l), 0);
	assert_int_equal(evloop_add(l, stop, EPOLLIN, on_done, NULL), 0);
	assert_int_equal(console_attach(c, l, &sink), 0);
	assert_int_equal(pthread_create(&t, NULL, run_loop, l), 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* Input reaches the sink only once the console has taken the client. */
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(read(connected, &v, sizeof(v)), sizeof(v));
	alarm(25);
	/* As the UART writes: a byte at a time, from a vCPU thread (this one). */
	for (i = 0; i < OUT_TOTAL; i++) {
		uint8_t b = out_byte(i);

		console_write(c, &b, 1);
	}
	while (n < OUT_TOTAL) {
		ssize_t r = read(fd, got + n, OUT_TOTAL - n);

		if (r <= 0)
			fail_msg("console socket ended after %zu of %d bytes", n, OUT_TOTAL);
		n += r;
	}
	alarm(0);
	for (i = 0; i < OUT_TOTAL; i++)
		if (got[i] != out_byte(i))
			fail_msg("output byte %zu differs", i);
	assert_int_equal(write(stop, &v, sizeof(v)), sizeof(v));
	pthread_join(t, NULL);
	console_detach(c, l);
	console_close(c);
	evloop_free(l);
	close(fd);
	close(connected);
	close(stop);
	rmdir(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paste_is_not_lost),
		cmocka_unit_test(test_slow_reader_gets_all_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
