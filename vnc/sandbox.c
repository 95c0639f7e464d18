// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit-vnc's allow-list (issue 16), installed once the keymap is
 * compiled, the framebuffer memfd mapped, every listener bound and the
 * crypto library set up (main.c), and before the first client: the loop
 * (libvncserver's pselect, accepting, reading and writing clients, the
 * monitor's socket), libvncserver's per-client set-up (non-blocking,
 * TCP_NODELAY, the peer's address, counting free descriptors with
 * F_GETFD up to RLIMIT_NOFILE), its encoders' and resizes' memory, and
 * abort(). Found by running tests/display's VNC scenarios under strace -f
 * (password, resize, keymaps, hostile clients, unix socket, WebSocket).
 * No open, no exec, no new sockets, no listen or bind, no executable
 * memory.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "vmkit/sandbox.h"
#include "vnc.h"

static const struct sandbox_rule vnc_rules[] = {
	/* The loop: clients and the monitor's socket. */
	SB_ALLOW(pselect6),
	SB_ALLOW(select),
	SB_ALLOW(poll),
	SB_ALLOW(ppoll),
	SB_ALLOW(restart_syscall),
	SB_ALLOW(read),
	SB_ALLOW(readv),
	SB_ALLOW(writev),
	SB_ALLOW(recvfrom),
	SB_ALLOW(recvmsg),
	SB_ALLOW(sendto),
	SB_ALLOW(sendmsg),
	SB_ALLOW(accept),
	SB_ALLOW(accept4),
	SB_ALLOW(shutdown),
	SB_ALLOW(close),
	SB_ALLOW(getpeername),
	SB_ALLOW(getsockname),
	SB_ALLOW(getsockopt),
	SB_ALLOW(setsockopt),
	SB_ALLOW_ARG(fcntl, 1, F_GETFD, F_SETFD, F_GETFL, F_SETFL),
	/* libvncserver reads its descriptor limit at each new client; never sets it. */
	SB_ALLOW_ARG(prlimit64, 2, 0),
	SB_ALLOW(getrlimit),
	SB_ALLOW(clock_gettime),	/* the vDSO's fallback */
	SB_ALLOW(gettimeofday),
	SB_ALLOW(clock_nanosleep),
	SB_ALLOW(nanosleep),
	/* Memory (glibc malloc, encoders, framebuffer resizes), never executable. */
	SB_ALLOW(brk),
	SB_ALLOW_ARG(mmap, 2, PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE),
	SB_ALLOW_ARG(mprotect, 2, PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE),
	SB_ALLOW(munmap),
	SB_ALLOW(mremap),
	SB_ALLOW(madvise),
	SB_ALLOW(futex),
	/* The VNC challenge (libvncserver seeds with its pid; a crypto library may ask the kernel). */
	SB_ALLOW(getpid),
	SB_ALLOW(getrandom),
	/* abort(): SIGABRT to itself. */
	SB_ALLOW(gettid),
	SB_ALLOW(rt_sigprocmask),
	SB_ALLOW(rt_sigaction),
	SB_ALLOW_ARG(tgkill, 2, SIGABRT),
};

const struct sandbox_kind vnc_sandbox_kind = SANDBOX_KIND("vnc", vnc_rules);
