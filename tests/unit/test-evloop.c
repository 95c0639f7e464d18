// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The device loop's polling (vmm/core/evloop.c): work a source has is taken
 * by its poll function without any fd being signalled, the source is told
 * when polling starts and stops (on and off in turn), the window closes
 * while nothing comes, and a loop with no window never polls.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/evloop.h"

struct src {
	struct evloop *loop;
	int efd, stop_efd;
	int pending;			/* work a producer left (atomically) */
	unsigned int polled, woken;	/* taken by poll / by the fd */
	unsigned int mode_on, mode_off;
	bool on;
	bool mode_twice;		/* on after on, or off after off: a bug */
};

static bool src_poll(void *opaque)
{
	struct src *s = opaque;

	if (!__atomic_exchange_n(&s->pending, 0, __ATOMIC_ACQ_REL))
		return false;
	__atomic_add_fetch(&s->polled, 1, __ATOMIC_RELEASE);
	return true;
}

static void src_mode(void *opaque, bool on)
{
	struct src *s = opaque;

	if (s->on == on)
		s->mode_twice = true;
	s->on = on;
	if (on)
		s->mode_on++;
	else
		s->mode_off++;
}

static int on_fd(void *opaque, int fd, uint32_t events)
{
	struct src *s = opaque;
	eventfd_t v;

	eventfd_read(fd, &v);
	if (__atomic_exchange_n(&s->pending, 0, __ATOMIC_ACQ_REL))
		__atomic_add_fetch(&s->woken, 1, __ATOMIC_RELEASE);
	return 0;
}

static int on_stop(void *opaque, int fd, uint32_t events)
{
	return 1;
}

static void src_new(struct src *s, uint64_t poll_max_ns)
{
	*s = (struct src){ 0 };
	assert_int_equal(evloop_new(&s->loop), 0);
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(evloop_add(s->loop, s->efd, EPOLLIN, on_fd, s), 0);
	assert_int_equal(evloop_add(s->loop, s->stop_efd, EPOLLIN, on_stop, s), 0);
	assert_int_equal(evloop_set_poll(s->loop, s->efd, src_poll, src_mode), 0);
	evloop_set_poll_max(s->loop, poll_max_ns);
}

static void src_free(struct src *s)
{
	evloop_free(s->loop);
	close(s->efd);
	close(s->stop_efd);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Leave one piece of work; notify (write the fd) only if asked; wait until it is taken. */
static bool give(struct src *s, bool notify)
{
	unsigned int i;

	__atomic_store_n(&s->pending, 1, __ATOMIC_RELEASE);
	if (notify)
		eventfd_write(s->efd, 1);
	for (i = 0; i < 2000; i++) {
		if (!__atomic_load_n(&s->pending, __ATOMIC_ACQUIRE))
			return true;
		sleep_ms(1);
	}
	return false;
}

struct plan {
	struct src *s;
	unsigned int n, gap_ms;
	bool notify;
	unsigned int taken;
};

static void *producer(void *opaque)
{
	struct plan *p = opaque;
	unsigned int i;

	sleep_ms(20);
	for (i = 0; i < p->n; i++) {
		p->taken += give(p->s, p->notify);
		sleep_ms(p->gap_ms);
	}
	eventfd_write(p->s->stop_efd, 1);
	return NULL;
}

static void run_plan(struct plan *p)
{
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, producer, p), 0);
	assert_int_equal(evloop_run(p->s->loop), 1);
	pthread_join(t, NULL);
}

/* A wide window: work nobody notified of is taken, by the poll function. */
static void test_poll_takes_unnotified_work(void **state)
{
	struct src s;
	struct plan p = { &s, 5, 0, false, 0 };

	src_new(&s, 500 * 1000 * 1000ull);
	run_plan(&p);
	assert_int_equal(p.taken, 5);
	assert_int_equal(s.polled, 5);
	assert_int_equal(s.woken, 0);
	assert_true(s.mode_on >= 1);
	assert_false(s.mode_twice);
	src_free(&s);
}

static double secs_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * Sources that cannot be polled (the stop fd here; a thread pool's
 * completions, a tap in the VMM) are looked at while the loop spins: with
 * a 2 s window the stop must not wait for the window to end.
 */
static void test_fds_seen_while_polling(void **state)
{
	struct src s;
	struct plan p = { &s, 1, 0, false, 0 };
	struct timespec t0;

	src_new(&s, 2000 * 1000 * 1000ull);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run_plan(&p);
	assert_int_equal(s.polled, 1);
	assert_true(secs_since(&t0) < 0.5);
	src_free(&s);
}

/* No window (the default): the poll function never runs; notified work comes by the fd. */
static void test_no_window_no_poll(void **state)
{
	struct src s;
	struct plan p = { &s, 3, 1, true, 0 };

	src_new(&s, 0);
	run_plan(&p);
	assert_int_equal(p.taken, 3);
	assert_int_equal(s.polled, 0);
	assert_int_equal(s.woken, 3);
	assert_int_equal(s.mode_on, 0);
	src_free(&s);
}

/*
 * A small window and long gaps: the waits are longer than the window, so
 * it closes (the source is told: off) and work comes by the fd again; no
 * work is lost either way, and on and off alternate.
 */
static void test_window_closes_when_idle(void **state)
{
	struct src s;
	struct plan p = { &s, 4, 30, true, 0 };

	src_new(&s, 1000 * 1000);
	run_plan(&p);
	assert_int_equal(p.taken, 4);
	assert_int_equal(s.polled + s.woken, 4);
	assert_true(s.woken >= 2);
	assert_true(s.mode_off >= 1);
	assert_false(s.mode_twice);
	src_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poll_takes_unnotified_work),
		cmocka_unit_test(test_fds_seen_while_polling),
		cmocka_unit_test(test_no_window_no_poll),
		cmocka_unit_test(test_window_closes_when_idle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
