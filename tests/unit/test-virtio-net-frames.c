// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-net on a bare-frame backend (needs /dev/kvm; skipped without it):
 * the kind of backend a user-mode network helper hands the device, one
 * SOCK_SEQPACKET message per Ethernet frame and no virtio-net header
 * (hdr_len 0). The backend here is the test's own, built on the public
 * interface of vmkit/net.h over a socketpair; the VM is real and runs
 * tests/guest/virtio_net.c, which sends 8 frames and checks 8 it receives.
 * This side checks the frames byte for byte (no header may lead them) and
 * writes the ones the guest expects.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/console.h"
#include "vmkit/net.h"
#include "vmkit/vm.h"

#define FRAMES 8

static const char *guest_elf;
static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void frames_close(struct net_backend *nb)
{
	close(nb->fd[0]);
	free(nb);
}

static const struct net_backend_ops frames_ops = { .name = "frames", .close = frames_close };

/* The guest's frame (q 0, seq), as tests/guest/virtio_net.c builds it. */
static size_t tx_frame(uint8_t *f, unsigned int seq)
{
	size_t len = 60 + (seq * 97) % 1455, i;

	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	memcpy(f + 14, "VMKITNET", 8);
	f[22] = 0;
	f[23] = seq >> 8;
	f[24] = seq;
	for (i = 25; i < len; i++)
		f[i] = (i * 7 + seq * 13) & 0xff;
	return len;
}

/* What the guest expects as seq: IPv4/UDP to port 9999 with its pattern. */
static size_t rx_frame(uint8_t *f, unsigned int seq)
{
	size_t plen = 16 + (seq * 37) % 1000, j;

	memset(f, 0, 42);
	memcpy(f, mac, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01\x08\x00", 8);
	f[14] = 0x45;
	f[16] = (20 + 8 + plen) >> 8;
	f[17] = 20 + 8 + plen;
	f[22] = 64;
	f[23] = 17;
	f[36] = 9999 >> 8;
	f[37] = 9999 & 0xff;
	f[38] = (8 + plen) >> 8;
	f[39] = 8 + plen;
	memcpy(f + 42, "VMKITRX", 7);
	f[49] = seq >> 8;
	f[50] = seq;
	for (j = 9; j < plen; j++)
		f[42 + j] = (j * 11 + seq * 5) & 0xff;
	return 42 + plen;
}

struct runner {
	struct vm *vm;
	enum vm_stop result;
};

static void *run_thread(void *opaque)
{
	struct runner *r = opaque;

	r->result = vm_run(r->vm, -1);
	return NULL;
}

static void test_frames_both_ways(void **state)
{
	char log[] = "/tmp/vmkit-net-frames-XXXXXX";
	struct vm_config cfg = { .kernel = guest_elf, .cpus = 1, .topo = { 1, 1, 1 },
				 .mem_bytes = 64 << 20, .console = CONSOLE_FILE,
				 .cpu_model = CPU_MODEL_BASELINE, .cmdline = "tx=8 rx=8",
				 .nr_nets = 1 };
	struct net_backend *nb = calloc(1, sizeof(*nb));
	uint8_t buf[2048], want[2048], text[8192];
	struct vk_err err = { 0 };
	struct runner r = { 0 };
	struct console *con;
	int sv[2], fd;
	unsigned int i;
	pthread_t t;
	ssize_t n;

	fd = mkstemp(log);
	assert_true(fd >= 0);
	cfg.console_path = log;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	*nb = (struct net_backend){ .ops = &frames_ops, .nr_queues = 1, .fd = { sv[0] },
				    .hdr_len = 0, .mtu = 1500, .ifname = "socketpair" };
	cfg.nets[0] = (struct net_config){ .queues = 1, .spec = "frames", .backend = nb };
	memcpy(cfg.nets[0].mac, mac, 6);
	assert_int_equal(console_open(&con, CONSOLE_FILE, log, &err), 0);
	assert_int_equal(vm_create(&r.vm, &cfg, con, &err), 0);
	assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);

	for (i = 0; i < FRAMES; i++) {
		struct pollfd p = { sv[1], POLLIN, 0 };

		assert_int_equal(poll(&p, 1, 30000), 1);
		n = recv(sv[1], buf, sizeof(buf), 0);
		assert_int_equal(n, tx_frame(want, i));
		assert_memory_equal(buf, want, n);	/* the frame, and no header before it */
	}
	for (i = 0; i < FRAMES; i++) {
		n = rx_frame(buf, i);
		assert_int_equal(send(sv[1], buf, n, 0), n);
	}
	pthread_join(t, NULL);
	assert_int_equal(r.result, VM_STOP_POWEROFF);
	vm_destroy(r.vm);
	console_close(con);
	net_backend_close(nb);
	close(sv[1]);

	n = pread(fd, text, sizeof(text) - 1, 0);
	assert_true(n > 0);
	text[n] = '\0';
	if (!strstr((char *)text, "VMKIT-TEST virtio_net PASS"))
		fail_msg("guest output:\n%s", text);
	assert_non_null(strstr((char *)text, "rx_good=8"));
	close(fd);
	unlink(log);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames_both_ways),
	};
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		/* VMKIT_REQUIRE_KVM: a runner meant to have KVM fails, never skips. */
		if (getenv("VMKIT_REQUIRE_KVM") && strcmp(getenv("VMKIT_REQUIRE_KVM"), "0")) {
			printf("virtio-net-frames: needs /dev/kvm, and VMKIT_REQUIRE_KVM is set\n");
			return 1;
		}
		printf("virtio-net-frames: needs /dev/kvm: skipped\n");
		return 77;	/* meson's "skipped" */
	}
	close(fd);
	if (argc < 2)
		return 1;
	guest_elf = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
