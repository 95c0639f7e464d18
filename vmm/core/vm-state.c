// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A paused VM to a file and back: see include/vmkit/vm-state.h for the
 * layout. The device and vCPU state is built in memory first (small), then
 * written with RAM after it; a restore checks all of the file before the
 * VM is built.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "vmkit/device.h"
#include "vmkit/savestate.h"
#include "vmkit/vm-dirty.h"
#include "vmkit/vm-state.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

static const char file_magic[8] = "VMKITSAV";
#define FILE_VERSION	1
#define HEADER_LEN	24
#define PAGE		4096u
#define STATE_MAX	(256u << 20)
#define RAM_END		UINT64_MAX
#define CHUNK		(1u << 20)

struct vm_state_file {
	int fd;
	struct ss_reader *r;
	off_t ram_at;		/* where the RAM records start */
	uint64_t ram_size;
	char name[256];
};

/* ---- the "vm" section: what the VM was built from ---- */

static void put_vm(struct vm *vm, struct ss_writer *w)
{
	const struct vm_config *c = vm->cfg;
	const char *name = c->name ? c->name : "";

	ss_begin(w, "vm", 0, 1);
	ss_put_bytes(w, "name", name, strlen(name));
	ss_put_u64(w, "memory", c->mem_bytes);
	ss_put_u64(w, "ram-size", vm->ram_size);
	ss_put_u64(w, "cpus", c->cpus);
	ss_put_u64(w, "firmware", c->firmware);
	ss_put_u64(w, "disks", c->nr_disks);
	ss_put_u64(w, "nets", c->nr_nets);
	ss_put_u64(w, "vga", c->vga);
	ss_put_u64(w, "rng", c->rng_source != NULL);
	ss_put_u64(w, "balloon", c->balloon);
	ss_put_u64(w, "virtio-console", c->console_virtio);
	ss_end(w);
}

struct check {
	const char *field, *what;
	uint64_t now;
};

static int check_vm(const struct ss_reader *r, const struct vm_config *c, char *name,
		    size_t name_len, struct vk_err *err)
{
	const struct check checks[] = {
		{ "memory", "bytes of memory", c->mem_bytes }, { "cpus", "vCPUs", c->cpus },
		{ "firmware", "firmware (0 none, 1 bios, 2 uefi)", c->firmware },
		{ "disks", "disks", c->nr_disks }, { "nets", "NICs", c->nr_nets },
		{ "vga", "VGA (0 none, 1 std)", c->vga }, { "rng", "virtio-rng", !!c->rng_source },
		{ "balloon", "balloon", c->balloon },
		{ "virtio-console", "virtio console", c->console_virtio },
	};
	const struct ss_section *s = ss_need(r, "vm", 0, err);
	const uint8_t *n;
	size_t nlen;
	uint64_t v;
	unsigned int i;

	if (!s)
		return err->code;
	for (i = 0; i < ARRAY_SIZE(checks); i++) {
		if (ss_get_u64(s, checks[i].field, &v, err))
			return err->code;
		if (v != checks[i].now)
			return vk_fail(err, -EINVAL, "saved from a VM with %llu %s, this one has %llu",
				       (unsigned long long)v, checks[i].what,
				       (unsigned long long)checks[i].now);
	}
	if (ss_get_blob(s, "name", &n, &nlen, err))
		return err->code;
	nlen = MIN(nlen, name_len - 1);
	memcpy(name, n, nlen);
	name[nlen] = 0;
	return 0;
}

/* ---- saving ---- */

int vm_state_capture(struct vm *vm, bool whole, uint8_t **buf, size_t *len, struct vk_err *err)
{
	struct ss_writer *w;
	unsigned int i;
	int r = ss_writer_new(&w, err);

	if (r)
		return r;
	put_vm(vm, w);
	if (!whole)
		return ss_writer_finish_buf(w, buf, len, err);
	if (vm->vm_fd >= 0) {
		x86_vm_state_save(vm, w);
		for (i = 0; i < vm->nr_vcpus; i++)
			x86_vcpu_state_save(&vm->vcpus[i], w);
	}
	vm_devices_save(vm, w);
	return ss_writer_finish_buf(w, buf, len, err);
}

static int put_all(int fd, const void *p, size_t n, uint32_t *crc)
{
	ssize_t w = vk_write_full(fd, p, n);

	if (crc)
		*crc = crc32(*crc, p, n);
	return w < 0 ? (int)w : 0;
}

static int put_record(int fd, uint64_t off, uint64_t len, const uint8_t *data, uint32_t *crc)
{
	uint64_t h[2] = { htole64(off), htole64(len) };
	int r = put_all(fd, h, sizeof(h), crc);

	if (!r && len)
		r = put_all(fd, data, len, crc);
	return r;
}

/* Runs of non-zero pages of the RAM mapping, then the end record and the CRC. */
static int write_ram(struct vm *vm, int fd)
{
	uint64_t pages = vm->ram_size / PAGE, i = 0, start;
	uint32_t crc = crc32(0, NULL, 0), le;
	int r = 0;

	while (!r && i < pages) {
		if (vm_page_is_zero(vm->ram + i * PAGE)) {
			i++;
			continue;
		}
		for (start = i; i < pages && i - start < CHUNK / PAGE &&
		     !vm_page_is_zero(vm->ram + i * PAGE); i++)
			;
		r = put_record(fd, start * PAGE, (i - start) * PAGE, vm->ram + start * PAGE, &crc);
	}
	if (!r)
		r = put_record(fd, RAM_END, 0, NULL, &crc);
	le = htole32(crc);
	return r ? r : put_all(fd, &le, 4, NULL);
}

static int write_file(struct vm *vm, int fd, const uint8_t *state, size_t len)
{
	uint8_t h[HEADER_LEN];
	uint32_t v = htole32(FILE_VERSION), flags = 0;
	uint64_t l = htole64(len);
	int r;

	memcpy(h, file_magic, 8);
	memcpy(h + 8, &v, 4);
	memcpy(h + 12, &flags, 4);
	memcpy(h + 16, &l, 8);
	r = put_all(fd, h, sizeof(h), NULL);
	if (!r)
		r = put_all(fd, state, len, NULL);
	if (!r)
		r = write_ram(vm, fd);
	if (!r && fsync(fd) < 0)
		r = -errno;
	return r;
}

int vm_state_save_file(struct vm *vm, const char *path, struct vk_err *err)
{
	char tmp[4096];
	uint8_t *state;
	size_t len;
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return vk_fail(err, -ENAMETOOLONG, "%s: path too long", path);
	r = vm_devices_savable(vm, err);
	if (r)
		return r;
	/* Held from the state to the last RAM page: nothing moves the rings in between. */
	vm_devices_hold(vm, true);
	r = vm_state_capture(vm, true, &state, &len, err);
	fd = r ? -1 : mkstemp(tmp);
	if (!r && fd < 0)
		r = vk_fail(err, -errno, "%s: %s", tmp, strerror(errno));
	if (r) {
		vm_devices_hold(vm, false);
		return r;
	}
	r = write_file(vm, fd, state, len);
	vm_devices_hold(vm, false);
	free(state);
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r) {
		unlink(tmp);
		return vk_fail(err, r, "%s: %s", path, strerror(-r));
	}
	return 0;
}

/* ---- restoring ---- */

static int take(int fd, void *p, size_t n, uint32_t *crc)
{
	ssize_t got = vk_read_full(fd, p, n);

	if (got < 0)
		return (int)got;
	if ((size_t)got != n)
		return -EBADMSG;	/* truncated */
	if (crc)
		*crc = crc32(*crc, p, n);
	return 0;
}

/*
 * Walk the RAM records: each inside RAM, page-aligned, after the one
 * before; then the CRC. With into, copy them there and zero the gaps.
 */
static int walk_ram(int fd, uint64_t ram_size, uint8_t *into)
{
	uint64_t h[2], next = 0, off, len, done, p;
	uint32_t crc = crc32(0, NULL, 0), want;
	uint8_t *buf = into ? NULL : malloc(CHUNK);
	int r = 0;

	if (!into && !buf)
		return -ENOMEM;
	for (;;) {
		r = take(fd, h, sizeof(h), &crc);
		if (r)
			break;
		off = le64toh(h[0]);
		len = le64toh(h[1]);
		if (off == RAM_END && !len)
			break;
		if ((off | len) % PAGE || !len || off < next || off > ram_size ||
		    len > ram_size - off) {
			r = -EBADMSG;
			break;
		}
		for (p = next; into && p < off; p += PAGE)	/* the gap is zero pages */
			if (!vm_page_is_zero(into + p))
				memset(into + p, 0, PAGE);
		for (done = 0; !r && done < len; done += MIN(len - done, (uint64_t)CHUNK))
			r = take(fd, into ? into + off + done : buf, MIN(len - done, (uint64_t)CHUNK),
				 &crc);
		if (r)
			break;
		next = off + len;
	}
	for (p = next; !r && into && p < ram_size; p += PAGE)
		if (!vm_page_is_zero(into + p))
			memset(into + p, 0, PAGE);
	if (!r)
		r = take(fd, &want, 4, NULL);
	if (!r && le32toh(want) != crc)
		r = -EILSEQ;
	free(buf);
	return r;
}

/* err's message with the file's name before it (vk_fail must not read what it writes). */
static int with_path(struct vk_err *err, int r, const char *path)
{
	char msg[sizeof(err->msg)];

	memcpy(msg, err->msg, sizeof(msg));
	return vk_fail(err, r, "%s: %s", path, msg);
}

static int file_error(const char *path, int r, struct vk_err *err)
{
	return vk_fail(err, r, "%s: %s", path,
		       r == -EBADMSG ? "damaged or truncated (RAM records)" :
		       r == -EILSEQ ? "damaged (RAM checksum mismatch)" : strerror(-r));
}

static int read_state(struct vm_state_file *f, const char *path, struct vk_err *err)
{
	uint8_t h[HEADER_LEN], *state;
	uint32_t version;
	uint64_t len;
	int r = take(f->fd, h, sizeof(h), NULL);

	if (r || memcmp(h, file_magic, 8))
		return vk_fail(err, -EINVAL, "%s: not a vmkit saved VM (no VMKITSAV header)", path);
	memcpy(&version, h + 8, 4);
	memcpy(&len, h + 16, 8);
	if (le32toh(version) != FILE_VERSION)
		return vk_fail(err, -ENOTSUP, "%s: saved VM format %u, this vmkit reads %u", path,
			       le32toh(version), FILE_VERSION);
	len = le64toh(len);
	if (len > STATE_MAX)
		return vk_fail(err, -EINVAL, "%s: damaged (state of %llu bytes)", path,
			       (unsigned long long)len);
	state = malloc(len ? len : 1);
	if (!state)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = take(f->fd, state, len, NULL);
	if (r) {
		free(state);
		return file_error(path, r == -EBADMSG ? -EBADMSG : r, err);
	}
	r = ss_parse(&f->r, state, len, err);
	free(state);
	if (r)
		return with_path(err, r, path);
	f->ram_at = HEADER_LEN + len;
	return 0;
}

int vm_state_open(struct vm_state_file **out, const char *path, const struct vm_config *cfg,
		  struct vk_err *err)
{
	struct vm_state_file *f = calloc(1, sizeof(*f));
	const struct ss_section *s;
	int r;

	if (!f)
		return vk_fail(err, -ENOMEM, "out of memory");
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		r = vk_fail(err, -errno, "%s: %s", path, strerror(errno));
		free(f);
		return r;
	}
	r = read_state(f, path, err);
	if (!r && (r = check_vm(f->r, cfg, f->name, sizeof(f->name), err)))
		with_path(err, r, path);
	s = r ? NULL : ss_find(f->r, "vm", 0);
	if (s && (r = ss_get_u64(s, "ram-size", &f->ram_size, err)))
		with_path(err, r, path);
	if (!r && (r = walk_ram(f->fd, f->ram_size, NULL)))
		file_error(path, r, err);
	if (r) {
		vm_state_close(f);
		return r;
	}
	*out = f;
	return 0;
}

const char *vm_state_file_name(const struct vm_state_file *f)
{
	return f->name;
}

/* The interrupt controllers and vCPUs before the devices, whose lines and MSIs reach them. */
static int load_state(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	unsigned int i;
	int rc = 0;

	if (vm->vm_fd >= 0) {
		rc = x86_vm_state_load(vm, r, err);
		for (i = 0; !rc && i < vm->nr_vcpus; i++)
			rc = x86_vcpu_state_load(&vm->vcpus[i], r, err);
		if (rc)
			return rc;
	}
	return vm_devices_load(vm, r, err);
}

int vm_state_check_config(const uint8_t *buf, size_t len, const struct vm_config *cfg,
			  struct vk_err *err)
{
	struct ss_reader *r;
	char name[256];
	int rc = ss_parse(&r, buf, len, err);

	if (rc)
		return rc;
	rc = check_vm(r, cfg, name, sizeof(name), err);
	ss_reader_free(r);
	return rc;
}

int vm_state_apply(struct vm *vm, const uint8_t *buf, size_t len, struct vk_err *err)
{
	struct ss_reader *r;
	char name[256];
	int rc = ss_parse(&r, buf, len, err);

	if (rc)
		return rc;
	rc = check_vm(r, vm->cfg, name, sizeof(name), err);
	if (!rc)
		rc = load_state(vm, r, err);
	ss_reader_free(r);
	return rc;
}

int vm_state_restore(struct vm *vm, struct vm_state_file *f, struct vk_err *err)
{
	int r;

	if (f->ram_size != vm->ram_size)
		return vk_fail(err, -EINVAL, "saved VM: %llu bytes of RAM, this one %llu",
			       (unsigned long long)f->ram_size, (unsigned long long)vm->ram_size);
	if (lseek(f->fd, f->ram_at, SEEK_SET) < 0)
		return vk_fail(err, -errno, "saved VM: %s", strerror(errno));
	r = walk_ram(f->fd, vm->ram_size, vm->ram);
	if (r)
		return vk_fail(err, r, "saved VM: RAM changed under us (%s)", strerror(-r));
	return load_state(vm, f->r, err);
}

void vm_state_close(struct vm_state_file *f)
{
	if (!f)
		return;
	ss_reader_free(f->r);
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}
