// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Live migration's receiving end and its addresses (include/vmkit/migrate.h),
 * without KVM: streams built here go through a socket pair into a VM's RAM,
 * and the config in the stream is the one vm_state_capture writes for this
 * VM. The sender needs KVM's dirty log: tests/guest/test_migrate.py.
 */
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/migrate.h"
#include "vmkit/vm-state.h"
#include "vmkit/vm.h"

#define RAM	(1u << 20)
#define PAGE	4096u

static struct vm_config cfg = { .cpus = 1, .mem_bytes = RAM, .topo = { 1, 1, 1 } };
static struct vm vm;

static void make_vm(void)
{
	vm.cfg = &cfg;
	vm.kvm_fd = vm.vm_fd = vm.stop_efd = -1;
	vm.ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(vm.ram != MAP_FAILED);
	vm.ram_size = RAM;
	vm.mem[0] = (struct mem_region){ 0, RAM, vm.ram };
	vm.nr_mem = 1;
	pthread_mutex_init(&vm.slot_lock, NULL);
}

/* ---- a stream, built ---- */

struct buf {
	uint8_t *p;
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	b->p = realloc(b->p, b->n + n);
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void header(struct buf *b, uint64_t ram)
{
	struct vk_err err = { 0 };
	uint8_t *cfgs;
	size_t len;
	uint32_t v[2] = { htole32(1), 0 };
	uint64_t q[2];

	assert_int_equal(vm_state_capture(&vm, false, &cfgs, &len, &err), 0);
	put(b, "VMKITMIG", 8);
	put(b, v, 8);
	q[0] = htole64(ram);
	q[1] = htole64(len);
	put(b, q, 16);
	put(b, cfgs, len);
	free(cfgs);
}

static void rec(struct buf *b, uint32_t type, uint64_t a, uint64_t n, const void *data,
		size_t len)
{
	uint32_t t[2] = { htole32(type), 0 };
	uint64_t q[2] = { htole64(a), htole64(n) };

	put(b, t, 8);
	put(b, q, 16);
	if (len)
		put(b, data, len);
}

struct feed {
	int fd;
	struct buf *b;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;
	size_t off = 0;

	while (off < f->b->n) {
		ssize_t w = send(f->fd, f->b->p + off, f->b->n - off, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		off += w;
	}
	shutdown(f->fd, SHUT_WR);
	return NULL;
}

/* The stream into vm: 0 or the error, with err's line. */
static int receive(struct buf *b, uint8_t **state, size_t *len, struct vk_err *err)
{
	struct feed f = { .b = b };
	pthread_t t;
	int sv[2], r;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	f.fd = sv[1];
	pthread_create(&t, NULL, feeder, &f);
	r = vm_migrate_read(&vm, sv[0], state, len, err);
	close(sv[0]);
	pthread_join(t, NULL);
	close(sv[1]);
	return r;
}

/* ---- tests ---- */

static void test_pages_and_zeroes_land(void **st)
{
	struct vk_err err = { 0 };
	struct buf b = { 0 };
	uint8_t page[2 * PAGE], *state;
	size_t len;

	make_vm();
	memset(vm.ram + 8 * PAGE, 0x77, 3 * PAGE);	/* the destination's own bytes: zeroed */
	memset(page, 0x5a, sizeof(page));
	header(&b, RAM);
	rec(&b, 1, 2 * PAGE, sizeof(page), page, sizeof(page));
	rec(&b, 2, 8 * PAGE, 2 * PAGE, NULL, 0);
	rec(&b, 3, 5, 0, "state", 5);
	rec(&b, 4, 0, 0, NULL, 0);
	assert_int_equal(receive(&b, &state, &len, &err), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(state, "state", 5);
	free(state);
	assert_memory_equal(vm.ram + 2 * PAGE, page, sizeof(page));
	assert_int_equal(vm.ram[PAGE], 0);
	assert_int_equal(vm.ram[8 * PAGE], 0);
	assert_int_equal(vm.ram[9 * PAGE + PAGE - 1], 0);
	assert_int_equal(vm.ram[10 * PAGE], 0x77);	/* past the zero record: left alone */
	free(b.p);
}

static void test_refusals_name_the_problem(void **st)
{
	static const struct {
		uint32_t type;
		uint64_t a, n;
		const char *words;
	} bad[] = {
		{ 1, RAM, PAGE, "pages at 0x100000+0x1000" },
		{ 1, 1, PAGE, "pages at 0x1+0x1000" },
		{ 2, PAGE, ~0ull - PAGE + 1, "pages at 0x1000" },
		{ 4, 0, 0, "ended without the state" },
		{ 9, 0, 0, "record type 9" },
		/* disk records in a stream whose header did not say disks come */
		{ 6, 0, 512, "disk records unannounced" },
		{ 5, 0, 0, "disk records unannounced" },
	};
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vk_err err = { 0 };
		struct buf b = { 0 };
		uint8_t *state = (uint8_t *)&b;
		size_t len = 1;

		header(&b, RAM);
		rec(&b, bad[i].type, bad[i].a, bad[i].n, NULL, 0);
		assert_int_not_equal(receive(&b, &state, &len, &err), 0);
		assert_non_null(strstr(err.msg, bad[i].words));
		assert_null(state);
		free(b.p);
	}
	{	/* other RAM: refused before any page */
		struct vk_err err = { 0 };
		struct buf b = { 0 };
		uint8_t *state;
		size_t len;

		header(&b, 2 * RAM);
		assert_int_equal(receive(&b, &state, &len, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "the source has 2097152 bytes of RAM, this VM 1048576"));
		free(b.p);
	}
}

static void test_addresses(void **st)
{
	static const char *const good[] = { "tcp:127.0.0.1:4444", "tcp:[::1]:80", "tcp::1",
					     "tcp:0:65535" };
	static const struct {
		const char *uri, *words;
	} bad[] = {
		{ "tcp:localhost:1", "not an IP address" }, { "tcp:1.2.3.4", "no port" },
		{ "tcp:1.2.3.4:", "not a port number" }, { "tcp:1.2.3.4:65536", "not a port" },
		{ "tcp:[::1:1", "not an IP" }, { "file:x", "not tcp:ADDR:PORT" },
	};
	struct sockaddr_storage sa;
	unsigned int len, i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct vk_err err = { 0 };

		assert_int_equal(migrate_parse_tcp(good[i], &sa, &len, &err), 0);
	}
	assert_int_equal(migrate_parse_tcp("tcp:[::1]:80", &sa, &len, NULL) , 0);
	assert_int_equal(sa.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&sa)->sin6_port), 80);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vk_err err = { 0 };

		assert_int_equal(migrate_parse_tcp(bad[i].uri, &sa, &len, &err), -EINVAL);
		assert_non_null(strstr(err.msg, bad[i].words));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pages_and_zeroes_land),
		cmocka_unit_test(test_refusals_name_the_problem),
		cmocka_unit_test(test_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
