/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Live migration (issue 15): a running VM's RAM and state over a stream
 * socket to a `vmkit run --incoming tcp:ADDR:PORT` built from the same
 * config, pre-copy: all of RAM while the guest runs, then again what it
 * wrote meanwhile (vmm/core/dirty.c), round after round, until what is
 * left fits the downtime limit at the bandwidth measured; then the VM is
 * paused, its devices held, and the rest goes with the device state.
 *
 * The stream (little-endian):
 *   "VMKITMIG" u32 version u32 flags u64 ram-size u64 len, then len bytes:
 *     the state stream's "vm" section (what the VM was built from)
 *   records of 24 bytes: u32 type u32 0 u64 a u64 b
 *     PAGES  a = offset in RAM, b = length, then b bytes of RAM
 *     ZERO   a = offset, b = length: those pages are zero
 *     STATE  a = length, then the whole state stream
 *     END    nothing follows
 *   with header flag 1 (local disks, vmm/core/migrate-disk.c), the second
 *   word of these records is a disk's index:
 *     DISKS  a = count, then count u64 sizes (once, before the others)
 *     DISK   a = offset, b = length (512-aligned, 64 KiB at most), then b bytes
 *     DISK_ZERO a = offset, b = length: zeros
 *   offsets and lengths page-aligned and inside RAM; STATE once, before END.
 * Back, once the destination has applied it all: u32 status (0: it
 * runs; else an errno) u32 len, then len bytes of its one-line error.
 * The source stops only when that says 0, and resumes on anything else.
 * Over TLS (--tls-creds, tls-creds) the same, inside TLS: after the
 * handshake the destination sends 8 zero bytes (it took the source's
 * certificate), then the stream goes as above.
 */
#ifndef VMKIT_MIGRATE_H
#define VMKIT_MIGRATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmkit/util.h"

struct vm;
struct vm_config;

/*
 * TLS credentials (vmm/core/migrate-tls.c), QEMU's tls-creds-x509 layout:
 * DIR/ca-cert.pem, server-cert.pem + server-key.pem (to receive),
 * client-cert.pem + client-key.pem (to send). Read at once: load them
 * before the sandbox. One line in err naming the file and the problem.
 */
struct migrate_tls;
#define MIGRATE_TLS_ID	"tls0"	/* their id in migrate-set-parameters tls-creds */
int migrate_tls_load(const char *dir, struct migrate_tls **out, struct vk_err *err);
void migrate_tls_free(struct migrate_tls *t);

#define MIGRATE_DOWNTIME_MS	300	/* QEMU's downtime-limit default */
#define MIGRATE_BANDWIDTH	0	/* bytes/s; 0 unlimited (QEMU's default is 128 MiB/s) */
#define MIGRATE_MAX_ROUNDS	30	/* then it has not converged: fail, say why */

struct migrate_job {
	/* Set before the start. */
	uint64_t downtime_limit_ms, bandwidth;
	unsigned int max_rounds;
	/* Copy the writable disks too (QMP migrate "blk"): the destination's are its own files. */
	bool disks;
	/* Over TLS with these credentials, the destination's certificate naming tls_peer. */
	const struct migrate_tls *tls;
	char tls_peer[256];
	/* Pause the vCPUs for the last round (the caller keeps its own run state). */
	void (*stop_vm)(void *opaque);
	void *opaque;
	/* Set by anyone: stop as soon as possible, failing. */
	atomic_bool cancel;

	/* Progress, read while it runs (query-migrate). */
	_Atomic uint64_t transferred;	/* bytes sent */
	_Atomic uint64_t ram_total;	/* bytes of RAM */
	_Atomic uint64_t remaining;	/* bytes of RAM found dirty, not sent yet */
	_Atomic uint64_t pages_sent, zero_pages, rounds;
	_Atomic uint64_t dirty_rate;	/* pages/s the guest wrote in the last round */
	_Atomic uint64_t link_bps;	/* the link's measured bytes/s */
	_Atomic uint64_t expected_downtime_ms, downtime_ms;
	_Atomic uint64_t started_ns, total_ms, setup_ms;
	atomic_bool stopped;		/* the vCPUs are paused for the last round */
	atomic_bool disks_lost;		/* failed, and the disks could not be taken back */
};

void migrate_job_init(struct migrate_job *j);

/*
 * Send the running VM over fd (connected). 0: the destination runs it and
 * the VM here is paused (stop_vm called, devices released). Otherwise one
 * line in err; the VM is as the caller left it but for stop_vm, which the
 * caller undoes if j->stopped.
 */
int vm_migrate_send(struct vm *vm, int fd, struct migrate_job *j, struct vk_err *err);

/*
 * Receive a VM over fd (connected) into vm, built from the same config and
 * not yet running; answer the source. 0: run it. With tls, only over TLS
 * from a source whose certificate its CA signed.
 */
int vm_migrate_receive(struct vm *vm, int fd, const struct migrate_tls *tls, struct vk_err *err);
/*
 * Its first part, the stream alone (tests/fuzz/migrate-fuzz.c): the config
 * checked, RAM written, the state (malloc'd, not parsed) into *state.
 */
int vm_migrate_read(struct vm *vm, int fd, uint8_t **state, size_t *len, struct vk_err *err);

/*
 * tcp:ADDR:PORT (ADDR numeric, IPv4 or [IPv6]; empty or 0 for any on
 * --incoming) into a socket address; one line in err if it is not one.
 */
struct sockaddr_storage;
int migrate_parse_tcp(const char *uri, struct sockaddr_storage *sa, unsigned int *salen,
		      struct vk_err *err);

#endif
