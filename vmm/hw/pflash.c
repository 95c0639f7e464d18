// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CFI flash, Intel/Sharp command set (include/vmkit/pflash.h): OVMF's
 * variable store.
 *
 * In read-array mode the contents are a read-only KVM slot, so the
 * firmware's reads cost nothing and only its writes (commands) exit; in
 * any other mode the slot is removed and reads exit too, to return the
 * status register or the CFI table. The MMIO handler implements every
 * mode, so a VM without KVM sees the same chip through the MMIO bus.
 *
 * The guest's data reach the file at once (pwrite of the bytes changed);
 * the file is synced (fdatasync) when the guest puts a changed chip back
 * into read-array mode, the end of each of OVMF's variable updates, and
 * at teardown. QEMU writes through the block layer without a sync per
 * update; a VM's variables are rare, small writes, so vmkit syncs.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmkit/pflash.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"

enum pflash_mode {
	MODE_ARRAY, MODE_STATUS, MODE_ID, MODE_CFI, MODE_PROGRAM, MODE_ERASE,
	MODE_WBUF_COUNT, MODE_WBUF_DATA,
};

struct pflash {
	struct vm *vm;
	char *path;
	int fd;
	uint8_t *data;			/* the file's contents, page-aligned (the slot maps it) */
	uint64_t size, gpa;
	unsigned int slot;
	pthread_mutex_t lock;
	enum pflash_mode mode;
	uint8_t status;
	uint32_t wbuf_left;		/* bytes still to come in a buffered write */
	uint64_t wbuf_block;		/* the block a buffered write stays in */
	bool persist;			/* the guest's writes go to the file */
	bool dirty;			/* written since the last sync */
	bool io_error;
};

/* The CFI query table, one byte per address from 0x10 (byte-wide device). */
static void cfi_table(const struct pflash *p, uint8_t t[0x40])
{
	uint32_t blocks = p->size / PFLASH_BLOCK_SIZE - 1;
	unsigned int log2 = 0;

	while ((1ULL << log2) < p->size)
		log2++;
	memset(t, 0, 0x40);
	memcpy(t + 0x10, "QRY", 3);
	t[0x13] = 0x01;			/* primary command set: Intel/Sharp extended */
	t[0x15] = 0x31;			/* its extended table at 0x31 */
	t[0x1b] = 0x45;			/* Vcc 4.5-5.5 V */
	t[0x1c] = 0x55;
	t[0x1f] = 0x07;			/* typical program 2^7 us, buffer 2^7 us, erase 2^10 ms */
	t[0x20] = 0x07;
	t[0x21] = 0x0a;
	t[0x23] = 0x04;			/* maxima: 2^4 times the typical */
	t[0x24] = 0x04;
	t[0x25] = 0x04;
	t[0x27] = log2;			/* device size 2^n bytes */
	t[0x28] = 0x00;			/* x8 interface */
	t[0x2a] = 0x06;			/* write buffer 64 bytes */
	t[0x2c] = 0x01;			/* one erase block region */
	t[0x2d] = blocks & 0xff;
	t[0x2e] = blocks >> 8;
	t[0x2f] = (PFLASH_BLOCK_SIZE / 256) & 0xff;
	t[0x30] = (PFLASH_BLOCK_SIZE / 256) >> 8;
	memcpy(t + 0x31, "PRI", 3);
	t[0x34] = '1';
	t[0x35] = '0';
}

/* Keep the read-array slot in line with the mode; lock held. */
static void set_mode(struct pflash *p, enum pflash_mode m)
{
	struct vk_err err = { 0 };
	bool was_array = p->mode == MODE_ARRAY;

	p->mode = m;
	if (was_array == (m == MODE_ARRAY))
		return;
	if (vm_set_memslot(p->vm, p->slot, p->gpa, m == MODE_ARRAY ? p->size : 0, p->data, true,
			   &err))
		vm_request_stop(p->vm, VM_STOP_ERROR, "pflash: %s", err.msg);
}

static void sync_file(struct pflash *p)
{
	if (p->dirty && fdatasync(p->fd) < 0 && !p->io_error) {
		p->io_error = true;
		vk_msg("pflash %s: cannot sync: %s", p->path, strerror(errno));
	}
	p->dirty = false;
}

/* Store bytes [off, off+len) of the chip in the file; lock held. */
static void store(struct pflash *p, uint64_t off, uint64_t len)
{
	if (!p->persist)
		return;
	if (pwrite(p->fd, p->data + off, len, off) != (ssize_t)len) {
		p->status |= PFLASH_STATUS_PROG_ERR;
		if (!p->io_error)
			vk_msg("pflash %s: cannot write: %s", p->path, strerror(errno));
		p->io_error = true;
	}
	p->dirty = true;
}

static void pflash_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct pflash *p = dev;
	uint8_t *d = data, cfi[0x40];
	unsigned int i;

	pthread_mutex_lock(&p->lock);
	switch (p->mode) {
	case MODE_ARRAY:
		memset(d, 0xff, len);
		if (off < p->size)
			memcpy(d, p->data + off, MIN((uint64_t)len, p->size - off));
		break;
	case MODE_ID:
		for (i = 0; i < len; i++)
			d[i] = (off + i) % 2 == 0 ? 0x89 : 0x18;	/* Intel, a 28F part */
		break;
	case MODE_CFI:
		cfi_table(p, cfi);
		for (i = 0; i < len; i++)
			d[i] = off + i < sizeof(cfi) ? cfi[off + i] : 0;
		break;
	default:
		memset(d, p->status, len);
		break;
	}
	pthread_mutex_unlock(&p->lock);
}

/* A program cycle (single or buffered) writing len bytes at off; lock held. */
static void program(struct pflash *p, uint64_t off, const uint8_t *d, unsigned int len)
{
	if (off >= p->size || len > p->size - off) {
		p->status |= PFLASH_STATUS_PROG_ERR;
		return;
	}
	memcpy(p->data + off, d, len);
	store(p, off, len);
}

static void erase(struct pflash *p, uint64_t off)
{
	uint64_t block = ALIGN_DOWN(off, PFLASH_BLOCK_SIZE);

	if (block >= p->size) {
		p->status |= PFLASH_STATUS_ERASE_ERR;
		return;
	}
	memset(p->data + block, 0xff, PFLASH_BLOCK_SIZE);
	store(p, block, PFLASH_BLOCK_SIZE);
}

/* A write in read-array, status, ID or CFI mode: the first cycle of a command. */
static void command(struct pflash *p, uint64_t off, uint8_t cmd)
{
	switch (cmd) {
	case 0x00: case 0xf0: case PFLASH_CMD_READ_ARRAY:
		set_mode(p, MODE_ARRAY);
		sync_file(p);
		break;
	case PFLASH_CMD_PROGRAM: case 0x40:
		set_mode(p, MODE_PROGRAM);
		break;
	case PFLASH_CMD_ERASE:
		set_mode(p, MODE_ERASE);
		break;
	case PFLASH_CMD_CLEAR_STATUS:
		/* As QEMU's: the status clears (ready bit too) and the chip reads its array. */
		p->status = 0;
		set_mode(p, MODE_ARRAY);
		break;
	case PFLASH_CMD_READ_STATUS:
		set_mode(p, MODE_STATUS);
		break;
	case PFLASH_CMD_READ_ID:
		set_mode(p, MODE_ID);
		break;
	case PFLASH_CMD_CFI_QUERY:
		set_mode(p, MODE_CFI);
		break;
	case PFLASH_CMD_WRITE_BUFFER:
		p->wbuf_block = ALIGN_DOWN(off, PFLASH_BLOCK_SIZE);
		p->status |= PFLASH_STATUS_READY;	/* a buffer is free */
		set_mode(p, MODE_WBUF_COUNT);
		break;
	default:
		/* Lock bits and the rest: not offered; the status shows an error. */
		p->status |= PFLASH_STATUS_PROG_ERR | PFLASH_STATUS_ERASE_ERR;
		set_mode(p, MODE_STATUS);
		break;
	}
}

/* The buffered write's data and confirm cycles; lock held. */
static void wbuf(struct pflash *p, uint64_t off, const uint8_t *d, unsigned int len)
{
	if (p->mode == MODE_WBUF_COUNT) {
		p->wbuf_left = d[0] + 1u;
		set_mode(p, MODE_WBUF_DATA);
		return;
	}
	if (!p->wbuf_left) {
		if (d[0] != PFLASH_CMD_CONFIRM)
			p->status |= PFLASH_STATUS_PROG_ERR | PFLASH_STATUS_ERASE_ERR;
		p->status |= PFLASH_STATUS_READY;
		set_mode(p, MODE_STATUS);
		return;
	}
	/* Data beyond the announced count or outside the block is a sequence error. */
	if (len > p->wbuf_left || ALIGN_DOWN(off, PFLASH_BLOCK_SIZE) != p->wbuf_block) {
		p->status |= PFLASH_STATUS_PROG_ERR;
		p->wbuf_left = 0;
		return;
	}
	program(p, off, d, len);
	p->wbuf_left -= len;
}

static void pflash_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct pflash *p = dev;
	const uint8_t *d = data;

	pthread_mutex_lock(&p->lock);
	switch (p->mode) {
	case MODE_PROGRAM:
		program(p, off, d, len);
		p->status |= PFLASH_STATUS_READY;
		set_mode(p, MODE_STATUS);
		break;
	case MODE_ERASE:
		if (d[0] == PFLASH_CMD_CONFIRM)
			erase(p, off);
		else
			p->status |= PFLASH_STATUS_PROG_ERR | PFLASH_STATUS_ERASE_ERR;
		p->status |= PFLASH_STATUS_READY;
		set_mode(p, MODE_STATUS);
		break;
	case MODE_WBUF_COUNT:
	case MODE_WBUF_DATA:
		wbuf(p, off, d, len);
		break;
	default:
		command(p, off, d[0]);
		break;
	}
	pthread_mutex_unlock(&p->lock);
}

static const struct io_ops pflash_ops = { .read = pflash_read, .write = pflash_write };

static int load(struct pflash *p, struct vk_err *err)
{
	struct stat st;

	p->fd = open(p->path, (p->persist ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (p->fd < 0)
		return vk_fail(err, -errno, "UEFI variable store %s: %s", p->path, strerror(errno));
	if (fstat(p->fd, &st) < 0 || !S_ISREG(st.st_mode) || !st.st_size ||
	    st.st_size % PFLASH_BLOCK_SIZE || (uint64_t)st.st_size > 16 * MiB)
		return vk_fail(err, -EINVAL,
			       "UEFI variable store %s: not a file of 4 KiB blocks up to 16 MiB",
			       p->path);
	p->size = st.st_size;
	if (posix_memalign((void **)&p->data, 4096, p->size))
		return vk_fail(err, -ENOMEM, "out of memory");
	if (pread(p->fd, p->data, p->size, 0) != (ssize_t)p->size)
		return vk_fail(err, -EIO, "UEFI variable store %s: cannot read it", p->path);
	return 0;
}

int pflash_create(struct vm *vm, const char *path, bool persist, uint64_t gpa_end,
		  unsigned int slot, struct pflash **out, struct vk_err *err)
{
	struct pflash *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return vk_fail(err, -ENOMEM, "out of memory");
	*p = (struct pflash){ .vm = vm, .path = strdup(path), .fd = -1, .slot = slot, .persist = persist,
			      .status = PFLASH_STATUS_READY };
	pthread_mutex_init(&p->lock, NULL);
	*out = p;
	if (!p->path)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = load(p, err);
	if (r)
		return r;
	p->gpa = gpa_end - p->size;
	r = vm_set_memslot(vm, slot, p->gpa, p->size, p->data, true, err);
	if (!r && io_bus_register(&vm->mmio, p->gpa, p->size, &pflash_ops, p))
		r = vk_fail(err, -EBUSY, "pflash: 0x%llx is taken", (unsigned long long)p->gpa);
	return r;
}

void pflash_destroy(struct pflash *p)
{
	if (!p)
		return;
	if (p->gpa)
		io_bus_unregister(&p->vm->mmio, p->gpa, p);
	if (p->fd >= 0) {
		sync_file(p);
		close(p->fd);
	}
	free(p->data);
	free(p->path);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ---- save/restore ---- */

void pflash_save(struct pflash *p, struct ss_writer *w)
{
	pthread_mutex_lock(&p->lock);
	ss_put_u64(w, "pflash-mode", p->mode);
	ss_put_u64(w, "pflash-status", p->status);
	ss_put_u64(w, "pflash-wbuf-left", p->wbuf_left);
	ss_put_u64(w, "pflash-wbuf-block", p->wbuf_block);
	ss_put_u64(w, "pflash-size", p->size);
	if (!p->persist)
		ss_put_bytes(w, "pflash-data", p->data, p->size);
	pthread_mutex_unlock(&p->lock);
}

int pflash_load(struct pflash *p, const struct ss_section *s, struct vk_err *err)
{
	static const char *const names[] = { "pflash-mode", "pflash-status", "pflash-wbuf-left",
					     "pflash-wbuf-block", "pflash-size" };
	const uint8_t *data = NULL;
	size_t n = 0;
	uint64_t x[5];
	unsigned int i;
	int r = 0;

	for (i = 0; i < 5 && !r; i++)
		r = ss_get_u64(s, names[i], &x[i], err);
	if (!r && !p->persist)
		r = ss_get_blob(s, "pflash-data", &data, &n, err);
	if (r)
		return r;
	if (x[4] != p->size || (!p->persist && n != p->size))
		return vk_fail(err, -EINVAL, "state: the flash was %llu bytes, %s is %llu",
			       (unsigned long long)x[4], p->path, (unsigned long long)p->size);
	if (x[0] > MODE_WBUF_DATA || x[1] > 0xff || x[2] > PFLASH_BLOCK_SIZE ||
	    x[3] >= p->size || (x[3] % PFLASH_BLOCK_SIZE))
		return vk_fail(err, -EINVAL, "state of pflash: command state out of range");
	pthread_mutex_lock(&p->lock);
	if (data)
		memcpy(p->data, data, n);
	p->status = x[1];
	p->wbuf_left = x[2];
	p->wbuf_block = x[3];
	set_mode(p, x[0]);
	pthread_mutex_unlock(&p->lock);
	return 0;
}
