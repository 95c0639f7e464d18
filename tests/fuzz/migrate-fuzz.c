// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for live migration's receiving end (issue 15): what a
 * `vmkit run --incoming tcp:` reads from whoever connects. The input is
 * the stream (include/vmkit/migrate.h), fed through a socket pair as a
 * source would send it; a VM without KVM with 1 MiB of RAM between guard
 * pages takes it. Whatever comes, nothing is written outside RAM, nothing
 * leaks, and a refusal is one line.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmkit/migrate.h"
#include "vmkit/util.h"
#include "vmkit/vm.h"

#define RAM_SIZE	(1u << 20)

static struct vm_config cfg = { .cpus = 1, .mem_bytes = RAM_SIZE, .topo = { 1, 1, 1 } };
static struct vm vm;

static void setup(void)
{
	uint8_t *p = mmap(NULL, RAM_SIZE + 8192, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		abort();
	mprotect(p, 4096, PROT_NONE);		/* guard pages: nothing writes past RAM */
	mprotect(p + 4096 + RAM_SIZE, 4096, PROT_NONE);
	vm.cfg = &cfg;
	vm.kvm_fd = vm.vm_fd = vm.stop_efd = -1;
	vm.ram = p + 4096;
	vm.ram_size = RAM_SIZE;
	vm.mem[0] = (struct mem_region){ 0, RAM_SIZE, vm.ram };
	vm.nr_mem = 1;
	pthread_mutex_init(&vm.slot_lock, NULL);
}

struct feed {
	int fd;
	const uint8_t *data;
	size_t len;
};

/* The source's side: the input, then the end of the stream. */
static void *feed(void *arg)
{
	struct feed *f = arg;
	size_t off = 0;

	while (off < f->len) {
		ssize_t w = send(f->fd, f->data + off, f->len - off, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		off += w;
	}
	shutdown(f->fd, SHUT_WR);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct vk_err err = { 0 };
	struct feed f = { .data = data, .len = size };
	uint8_t *state;
	size_t len;
	pthread_t t;
	int sv[2];

	if (!ready) {
		setup();
		ready = true;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	f.fd = sv[1];
	pthread_create(&t, NULL, feed, &f);
	if (!vm_migrate_read(&vm, sv[0], &state, &len, &err))
		free(state);
	else if (!err.msg[0] || strchr(err.msg, '\n'))
		abort();	/* a refusal is one line */
	close(sv[0]);	/* the feeder's send fails from here: it ends */
	pthread_join(t, NULL);
	close(sv[1]);
	return 0;
}
