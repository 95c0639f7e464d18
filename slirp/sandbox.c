// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit-slirp's allow-list, installed once the stack is up and every
 * hostfwd listens: what the loop (poll, the frame socket), libslirp
 * (sockets to the outside for TCP, UDP, ICMP and DNS, /etc/resolv.conf
 * read at each DNS query) and glibc's allocator need. Found by running
 * tests/net/test_slirp.py under strace -f, plus what the code shows it can
 * reach but the tests do not (IPv6, ICMP, glib's warnings, abort).
 * No exec, no listen, no executable memory, no new files but resolv.conf.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "slirp-helper.h"

static const struct sandbox_rule slirp_rules[] = {
	/* The loop: poll, frames in and out. */
	SB_ALLOW(poll),
	SB_ALLOW(ppoll),
	SB_ALLOW(restart_syscall),
	SB_ALLOW(recvmmsg),
	SB_ALLOW(recvmsg),
	SB_ALLOW(recvfrom),
	SB_ALLOW(sendto),
	SB_ALLOW(sendmsg),
	SB_ALLOW(read),
	SB_ALLOW(readv),
	SB_ALLOW(writev),
	SB_ALLOW(close),
	SB_ALLOW(clock_gettime),	/* the vDSO's fallback */
	SB_ALLOW(gettimeofday),
	/* libslirp's sockets to the outside: IPv4 and IPv6 only. */
	SB_ALLOW_ARG(socket, 0, AF_INET, AF_INET6),
	SB_ALLOW(connect),
	SB_ALLOW(accept),
	SB_ALLOW(accept4),
	SB_ALLOW(bind),
	SB_ALLOW(shutdown),
	SB_ALLOW(getsockname),
	SB_ALLOW(getpeername),
	SB_ALLOW(getsockopt),
	SB_ALLOW(setsockopt),
	SB_ALLOW_ARG(ioctl, 1, FIONREAD, FIONBIO),
	SB_ALLOW_ARG(fcntl, 1, F_GETFD, F_SETFD, F_GETFL, F_SETFL),
	/* /etc/resolv.conf, re-read by libslirp when it changes (DNS forwarding). */
	SB_ALLOW_ARG(openat, 2, O_RDONLY, O_RDONLY | O_CLOEXEC),
	SB_ALLOW(newfstatat),
	SB_ALLOW(fstat),
	SB_ALLOW(lseek),
	/* Memory (glibc malloc), never executable. */
	SB_ALLOW(brk),
	SB_ALLOW_ARG(mmap, 2, PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE),
	SB_ALLOW_ARG(mprotect, 2, PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE),
	SB_ALLOW(munmap),
	SB_ALLOW(mremap),
	SB_ALLOW(madvise),
	SB_ALLOW(getrandom),
	SB_ALLOW(futex),
	/* glib's warnings and abort(): its own pid, SIGABRT to itself. */
	SB_ALLOW(getpid),
	SB_ALLOW(gettid),
	SB_ALLOW(rt_sigprocmask),
	SB_ALLOW(rt_sigaction),
	SB_ALLOW_ARG(tgkill, 2, SIGABRT),
};

const struct sandbox_kind sh_sandbox_kind = SANDBOX_KIND("slirp", slirp_rules);
