// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest RAM backing: anonymous memory (the default), or hugetlb pages from a
 * memfd or from a file in a hugetlbfs mount (QEMU's memory-backend-memfd and
 * memory-backend-file), then the NUMA policy, THP and KSM advice, and
 * preallocation, in that order: the policy must be in place before the
 * first page is faulted in.
 *
 * Hugetlb memory is mapped shared, so the kernel reserves every page at
 * mmap time: a pool that is too small fails here with a clear message,
 * never later as a SIGBUS (or KVM_RUN -EFAULT) in the middle of the run.
 * The reservation is not per node, so with policy=bind the free pages of
 * the bound nodes are counted first.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmkit/vm.h"

#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define HUGETLBFS_MAGIC 0x958458f6
#define MPOL_PREFERRED_MANY 5

static const int mpol_modes[] = {
	[MEM_POLICY_BIND] = 2, [MEM_POLICY_PREFERRED] = 1, [MEM_POLICY_INTERLEAVE] = 3,
};

static int read_ulong(const char *path, unsigned long *v)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EINVAL;
	buf[n] = '\0';
	*v = strtoul(buf, NULL, 10);
	return 0;
}

/* The pool's counter for pages of this size, globally or on one node (node >= 0). */
static unsigned long pool_counter(uint64_t page, int node, const char *name)
{
	unsigned long v = 0;
	char path[160];

	if (node < 0)
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%llukB/%s",
			 (unsigned long long)(page / KiB), name);
	else
		snprintf(path, sizeof(path),
			 "/sys/devices/system/node/node%d/hugepages/hugepages-%llukB/%s", node,
			 (unsigned long long)(page / KiB), name);
	/* Unreadable (a monitor in its private root has no /sys): unknown. */
	if (read_ulong(path, &v) < 0)
		return ULONG_MAX;
	return v;
}

/*
 * Pages the pool can still hand out: free ones not already promised to
 * another mapping, plus what nr_overcommit_hugepages lets it grow by. With
 * policy=bind only the bound nodes' free pages count.
 */
static unsigned long pool_available(const struct mem_backing *mb, uint64_t page)
{
	unsigned long free, resv, over, surplus;
	unsigned int n;

	free = pool_counter(page, -1, "free_hugepages");
	if (free == ULONG_MAX)
		return ULONG_MAX;	/* not readable here: mmap's ENOMEM will tell */
	if (mb->policy == MEM_POLICY_BIND) {
		unsigned long v;

		for (n = 0, free = 0; n < VM_MAX_HOST_NODES; n++)
			if (vk_bit_test(mb->host_nodes, n) &&
			    (v = pool_counter(page, n, "free_hugepages")) != ULONG_MAX)
				free += v;	/* a node the host lacks has none */
		return free;
	}
	resv = pool_counter(page, -1, "resv_hugepages");
	over = pool_counter(page, -1, "nr_overcommit_hugepages");
	surplus = pool_counter(page, -1, "surplus_hugepages");
	return (free > resv ? free - resv : 0) + (over > surplus ? over - surplus : 0);
}

static int pool_too_small(struct vk_err *err, const struct mem_backing *mb, uint64_t page,
			  unsigned long need, unsigned long have)
{
	unsigned long total = pool_counter(page, -1, "nr_hugepages");

	if (have == ULONG_MAX || total == ULONG_MAX)
		return vk_fail(err, -ENOMEM,
			       "hugepages=%lluM: guest RAM needs %lu free %llu kB hugepages, more than the host's pool has",
			       (unsigned long long)(page / MiB), need,
			       (unsigned long long)(page / KiB));
	return vk_fail(err, -ENOMEM,
		       "hugepages=%lluM: guest RAM needs %lu free %llu kB hugepages, the host has %lu%s; raise the pool: echo %lu > /sys/kernel/mm/hugepages/hugepages-%llukB/nr_hugepages%s",
		       (unsigned long long)(page / MiB), need, (unsigned long long)(page / KiB),
		       have, mb->policy == MEM_POLICY_BIND ? " on the bound nodes" : "",
		       total + need - have, (unsigned long long)(page / KiB),
		       page == 2 * MiB ? " (or sysctl vm.nr_hugepages)" : "");
}

static int open_memfd(uint64_t page, struct vk_err *err)
{
	unsigned int flags = MFD_CLOEXEC | MFD_HUGETLB |
			     (unsigned int)__builtin_ctzll(page) << MFD_HUGE_SHIFT;
	int fd = memfd_create("vmkit-ram", flags);

	if (fd < 0)
		return vk_fail(err, -errno, "hugepages=%lluM: memfd_create: %s",
			       (unsigned long long)(page / MiB), strerror(errno));
	return fd;
}

/* An unlinked file in dir; *page becomes the mount's hugepage size, or 0 off hugetlbfs. */
static int open_in_dir(const char *dir, uint64_t *page, struct vk_err *err)
{
	char path[4096];
	struct statfs sf;
	int fd;

	if (statfs(dir, &sf) < 0)
		return vk_fail(err, -errno, "mem-path=%s: %s", dir, strerror(errno));
	if (sf.f_type == HUGETLBFS_MAGIC && *page && *page != (uint64_t)sf.f_bsize)
		return vk_fail(err, -EINVAL, "mem-path=%s: a hugetlbfs mount of %llu kB pages, not %llu kB",
			       dir, (unsigned long long)sf.f_bsize / KiB,
			       (unsigned long long)(*page / KiB));
	if (sf.f_type != HUGETLBFS_MAGIC && *page)
		return vk_fail(err, -EINVAL, "mem-path=%s: not a hugetlbfs mount", dir);
	*page = sf.f_type == HUGETLBFS_MAGIC ? (uint64_t)sf.f_bsize : 0;
	if (snprintf(path, sizeof(path), "%s/vmkit-ram-XXXXXX", dir) >= (int)sizeof(path))
		return vk_fail(err, -ENAMETOOLONG, "mem-path=%s: name too long", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return vk_fail(err, -errno, "mem-path=%s: %s", dir, strerror(errno));
	unlink(path);	/* nobody else needs the name; the RAM goes with the monitor */
	return fd;
}

/* A shared mapping of a hugetlb memfd or a file under mem-path. */
static int map_file(const struct mem_backing *mb, uint64_t size, uint8_t **hva,
		    struct vk_err *err)
{
	uint64_t page = mb->hugepage_size;
	unsigned long have;
	void *p;
	int fd, e;

	fd = mb->mem_path ? open_in_dir(mb->mem_path, &page, err) : open_memfd(page, err);
	if (fd < 0)
		return fd;
	if (page && size % page) {
		close(fd);
		return vk_fail(err, -EINVAL, "guest RAM of %llu MiB is not a multiple of the %llu kB hugepage size",
			       (unsigned long long)(size / MiB), (unsigned long long)(page / KiB));
	}
	have = page ? pool_available(mb, page) : 0;
	if (page && have != ULONG_MAX && have < size / page) {
		close(fd);
		return pool_too_small(err, mb, page, size / page, have);
	}
	if (ftruncate(fd, size) < 0) {
		e = errno;
		close(fd);
		return vk_fail(err, -e, "cannot size the guest RAM file to %llu MiB: %s",
			       (unsigned long long)(size / MiB), strerror(e));
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	e = errno;
	close(fd);	/* the mapping keeps the memory */
	if (p == MAP_FAILED && page && e == ENOMEM)	/* lost a race for the pool */
		return pool_too_small(err, mb, page, size / page, pool_available(mb, page));
	if (p == MAP_FAILED)
		return vk_fail(err, -e, "cannot map %llu MiB of guest memory: %s",
			       (unsigned long long)(size / MiB), strerror(e));
	*hva = p;
	return 0;
}

/* Anonymous memory aligned to 2 MiB, so THP (and KVM's huge mappings) can use whole pages. */
static int map_anon(uint64_t size, uint8_t **hva, struct vk_err *err)
{
	uint64_t align = 2 * MiB, head, tail;
	uint8_t *p;

	p = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return vk_fail(err, -errno, "cannot allocate %llu MiB of guest memory: %s",
			       (unsigned long long)(size / MiB), strerror(errno));
	head = ALIGN_UP((uintptr_t)p, align) - (uintptr_t)p;
	tail = align - head;
	if (head)
		munmap(p, head);
	if (tail)
		munmap(p + head + size, tail);
	*hva = p + head;
	return 0;
}

static int set_policy(const struct mem_backing *mb, uint8_t *hva, uint64_t size,
		      struct vk_err *err)
{
	int mode = mpol_modes[mb->policy];
	unsigned int n, count = 0;

	for (n = 0; n < VM_MAX_HOST_NODES; n++)
		count += vk_bit_test(mb->host_nodes, n);
	/* Several preferred nodes: MPOL_PREFERRED_MANY (Linux 5.15), as QEMU does. */
	if (mb->policy == MEM_POLICY_PREFERRED && count > 1)
		mode = MPOL_PREFERRED_MANY;
	/* maxnode counts one more than the bits the kernel reads. */
	if (syscall(SYS_mbind, hva, size, mode, mb->host_nodes, VM_MAX_HOST_NODES + 1, 0) < 0)
		return vk_fail(err, -errno, "mbind of guest RAM to the host nodes: %s",
			       strerror(errno));
	return 0;
}

static int advise(uint8_t *hva, uint64_t size, int advice, const char *what,
		  struct vk_err *err)
{
	if (madvise(hva, size, advice) < 0)
		return vk_fail(err, -errno, "%s: madvise of guest RAM: %s", what, strerror(errno));
	return 0;
}

static sigjmp_buf touch_jmp;

static void touch_sigbus(int sig)
{
	siglongjmp(touch_jmp, 1);
}

/*
 * Kernels before 5.14 have no MADV_POPULATE_WRITE: write one byte of every
 * page, catching the SIGBUS an exhausted hugetlb pool raises.
 */
static int touch_pages(uint8_t *hva, uint64_t size, uint64_t page)
{
	struct sigaction sa = { .sa_handler = touch_sigbus }, old;
	volatile uint64_t off = 0;
	int r = 0;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(touch_jmp, 1) == 0) {
		for (off = 0; off < size; off += page)
			((volatile uint8_t *)hva)[off] = ((volatile uint8_t *)hva)[off];
	} else {
		r = -ENOMEM;
	}
	sigaction(SIGBUS, &old, NULL);
	return r;
}

static int prealloc(uint8_t *hva, uint64_t size, uint64_t page, struct vk_err *err)
{
	int r = 0;

	if (madvise(hva, size, MADV_POPULATE_WRITE) < 0)
		r = errno == EINVAL ? touch_pages(hva, size, page) : -errno;
	if (r == -EFAULT || r == -EHWPOISON)
		r = -ENOMEM;	/* a hugetlb pool (or node) ran out */
	if (r)
		return vk_fail(err, r, "prealloc=on: cannot fault in %llu MiB of guest RAM: %s",
			       (unsigned long long)(size / MiB), strerror(-r));
	return 0;
}

/* Policy, advice and preallocation on a fresh mapping, before anything touches it. */
static int setup_mapping(const struct mem_backing *mb, uint8_t *hva, uint64_t size,
			 bool file, struct vk_err *err)
{
	int r = 0;

	if (mb->policy != MEM_POLICY_DEFAULT)
		r = set_policy(mb, hva, size, err);
	if (!r && mb->thp != SWITCH_DEFAULT)
		r = advise(hva, size, mb->thp == SWITCH_ON ? MADV_HUGEPAGE : MADV_NOHUGEPAGE,
			   mb->thp == SWITCH_ON ? "thp=on" : "thp=off", err);
	/*
	 * Anonymous RAM asks for THP by default, as QEMU does: where the host's
	 * THP mode is madvise, first touches of guest RAM are ~6x faster
	 * (bench/memback.py). A host without THP just says no.
	 */
	if (!r && !file && mb->thp == SWITCH_DEFAULT)
		madvise(hva, size, MADV_HUGEPAGE);
	/* KSM merges anonymous private memory only; on by default there, as in QEMU. */
	if (!r && !file && mb->merge != SWITCH_OFF &&
	    madvise(hva, size, MADV_MERGEABLE) < 0 && mb->merge == SWITCH_ON)
		r = vk_fail(err, -errno, "merge=on: madvise(MADV_MERGEABLE): %s (no KSM in this kernel?)",
			    strerror(errno));
	if (!r && mb->prealloc)
		r = prealloc(hva, size, mb->hugepage_size ? mb->hugepage_size : 4096, err);
	return r;
}

int vm_ram_map(const struct mem_backing *mb, uint64_t size, uint8_t **hva, struct vk_err *err)
{
	bool file = mb->hugepage_size || mb->mem_path;
	uint8_t *p = NULL;
	int r;

	r = file ? map_file(mb, size, &p, err) : map_anon(size, &p, err);
	if (r)
		return r;
	r = setup_mapping(mb, p, size, file, err);
	if (r) {
		munmap(p, size);
		return r;
	}
	*hva = p;
	return 0;
}

void vm_ram_unmap(uint8_t *hva, uint64_t size)
{
	if (hva)
		munmap(hva, size);
}
