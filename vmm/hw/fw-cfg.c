// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fw_cfg (include/vmkit/fw-cfg.h): the item store, the selector and data
 * ports, and the DMA interface.
 *
 * Everything the guest hands the DMA interface is hostile: the access
 * structure's address and every buffer address and length are checked
 * against guest RAM before use, and a bad one fails that transfer with
 * FW_CFG_DMA_CTL_ERROR in the control word written back, nothing more.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/device.h"
#include "vmkit/fw-cfg.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"

struct fw_cfg_item {
	uint16_t key;
	char name[FW_CFG_MAX_FILE_PATH];	/* "" for a numbered item */
	uint8_t *data;
	uint32_t len;
};

struct fw_cfg {
	struct vm *vm;
	pthread_mutex_t lock;
	struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
	unsigned int nr;
	uint16_t next_file_key;
	struct fw_cfg_item *cur;	/* selected item, NULL when the key names none */
	uint32_t off;			/* read position in cur */
	uint32_t dma_hi;		/* the address's high half, until the low one arrives */
};

/* One entry of FW_CFG_FILE_DIR, big-endian as the firmware reads it. */
struct fw_cfg_file {
	uint32_t size;
	uint16_t select;
	uint16_t reserved;
	char name[FW_CFG_MAX_FILE_PATH];
} __attribute__((packed));

/* The DMA access structure in guest memory, big-endian. */
struct fw_cfg_dma {
	uint32_t control;
	uint32_t length;
	uint64_t address;
} __attribute__((packed));

const struct vm_device_class fw_cfg_class;

static struct fw_cfg *get(struct vm *vm)
{
	void **slot = vm_device_state(vm, &fw_cfg_class);

	return slot ? *slot : NULL;
}

bool fw_cfg_present(struct vm *vm)
{
	return get(vm) != NULL;
}

static struct fw_cfg_item *find_key(struct fw_cfg *f, uint16_t key)
{
	unsigned int i;

	for (i = 0; i < f->nr; i++)
		if (f->items[i].key == key)
			return &f->items[i];
	return NULL;
}

static struct fw_cfg_item *find_name(struct fw_cfg *f, const char *name)
{
	unsigned int i;

	for (i = 0; i < f->nr; i++)
		if (f->items[i].name[0] && !strcmp(f->items[i].name, name))
			return &f->items[i];
	return NULL;
}

/* Replace the item's data with a copy of data; lock held. */
static int set_data(struct fw_cfg_item *it, const void *data, size_t len)
{
	uint8_t *copy;

	if (len > UINT32_MAX)
		return -EFBIG;
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);	/* an empty item may come as NULL */
	free(it->data);
	it->data = copy;
	it->len = len;
	return 0;
}

static int cmp_files(const void *a, const void *b)
{
	const struct fw_cfg_file *x = a, *y = b;

	return strncmp(x->name, y->name, FW_CFG_MAX_FILE_PATH);
}

/* Rebuild FW_CFG_FILE_DIR: a big-endian count, then the entries sorted by name. */
static int rebuild_dir(struct fw_cfg *f)
{
	struct fw_cfg_item *dir = find_key(f, FW_CFG_FILE_DIR);
	struct fw_cfg_file *e;
	unsigned int i, n = 0;
	uint8_t *buf;
	uint32_t count;

	buf = calloc(1, 4 + f->nr * sizeof(*e));
	if (!buf)
		return -ENOMEM;
	e = (struct fw_cfg_file *)(buf + 4);
	for (i = 0; i < f->nr; i++) {
		if (!f->items[i].name[0])
			continue;
		e[n].size = htobe32(f->items[i].len);
		e[n].select = htobe16(f->items[i].key);
		memcpy(e[n].name, f->items[i].name, FW_CFG_MAX_FILE_PATH);
		n++;
	}
	qsort(e, n, sizeof(*e), cmp_files);
	count = htobe32(n);
	memcpy(buf, &count, 4);
	free(dir->data);
	dir->data = buf;
	dir->len = 4 + n * sizeof(*e);
	return 0;
}

static struct fw_cfg_item *new_item(struct fw_cfg *f, uint16_t key)
{
	struct fw_cfg_item *it;

	if (f->nr == FW_CFG_MAX_ITEMS)
		return NULL;
	it = &f->items[f->nr++];
	*it = (struct fw_cfg_item){ .key = key };
	return it;
}

int fw_cfg_add_file(struct vm *vm, const char *name, const void *data, size_t len)
{
	struct fw_cfg *f = get(vm);
	struct fw_cfg_item *it;
	int r;

	if (!f)
		return -ENODEV;
	if (!name[0] || strlen(name) >= FW_CFG_MAX_FILE_PATH)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	it = find_name(f, name);
	if (!it && f->next_file_key < FW_CFG_ARCH_LOCAL) {
		it = new_item(f, f->next_file_key);
		if (it) {
			f->next_file_key++;
			strcpy(it->name, name);
		}
	}
	r = it ? set_data(it, data, len) : -ENOSPC;
	if (!r)
		r = rebuild_dir(f);
	pthread_mutex_unlock(&f->lock);
	return r;
}

int fw_cfg_modify_file(struct vm *vm, const char *name,
		       void (*fn)(uint8_t *data, size_t len, void *opaque), void *opaque)
{
	struct fw_cfg *f = get(vm);
	struct fw_cfg_item *it;

	if (!f)
		return -ENODEV;
	pthread_mutex_lock(&f->lock);
	it = find_name(f, name);
	if (it)
		fn(it->data, it->len, opaque);
	pthread_mutex_unlock(&f->lock);
	return it ? 0 : -ENOENT;
}

int fw_cfg_add_bytes(struct vm *vm, uint16_t key, const void *data, size_t len)
{
	struct fw_cfg *f = get(vm);
	struct fw_cfg_item *it;
	int r;

	if (!f)
		return -ENODEV;
	if (key == FW_CFG_FILE_DIR || ((key & 0x7fff) >= FW_CFG_FILE_FIRST && !(key & 0x8000)))
		return -EINVAL;	/* the directory and file keys are the store's own */
	pthread_mutex_lock(&f->lock);
	it = find_key(f, key);
	if (!it)
		it = new_item(f, key);
	r = it ? set_data(it, data, len) : -ENOSPC;
	pthread_mutex_unlock(&f->lock);
	return r;
}

int fw_cfg_add_i16(struct vm *vm, uint16_t key, uint16_t v)
{
	v = htole16(v);
	return fw_cfg_add_bytes(vm, key, &v, sizeof(v));
}

int fw_cfg_add_i32(struct vm *vm, uint16_t key, uint32_t v)
{
	v = htole32(v);
	return fw_cfg_add_bytes(vm, key, &v, sizeof(v));
}

int fw_cfg_add_i64(struct vm *vm, uint16_t key, uint64_t v)
{
	v = htole64(v);
	return fw_cfg_add_bytes(vm, key, &v, sizeof(v));
}

/*
 * Select key; lock held. Bit 14 (the old write channel) and bit 15 (arch
 * local) are part of the key as QEMU numbers them: 0x8003 is the E820 table.
 */
static void select_key(struct fw_cfg *f, uint16_t key)
{
	f->cur = find_key(f, key & ~0x4000);
	f->off = 0;
}

/* Read up to len bytes at the read position; what lies past the item reads as zeros. */
static void read_cur(struct fw_cfg *f, uint8_t *dst, uint32_t len)
{
	uint32_t n = 0;

	if (f->cur && f->off < f->cur->len) {
		n = MIN(len, f->cur->len - f->off);
		memcpy(dst, f->cur->data + f->off, n);
	}
	memset(dst + n, 0, len - n);
	f->off += n;	/* stops at the item's end */
}

static void port_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct fw_cfg *f = dev;

	/* The data port is a byte wide; a wider read gets the next bytes, as QEMU's. */
	if (off != 1) {
		memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&f->lock);
	read_cur(f, data, len);
	pthread_mutex_unlock(&f->lock);
}

static void port_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct fw_cfg *f = dev;
	uint16_t key;

	/* Data port writes went away with QEMU 2.4: ignored. */
	if (off != 0 || len != 2)
		return;
	memcpy(&key, data, 2);
	pthread_mutex_lock(&f->lock);
	select_key(f, le16toh(key));
	pthread_mutex_unlock(&f->lock);
}

/* Carry out one access's data phase; returns false to set the error bit. Lock held. */
static bool dma_data(struct fw_cfg *f, uint32_t control, uint32_t length, uint64_t addr)
{
	uint8_t *buf;

	if (control & FW_CFG_DMA_CTL_READ) {
		buf = vm_gpa_to_hva(f->vm, addr, length);
		if (!buf)
			return false;
		read_cur(f, buf, length);
		return true;
	}
	if (control & FW_CFG_DMA_CTL_WRITE)
		return length == 0;	/* no item takes writes */
	if (control & FW_CFG_DMA_CTL_SKIP) {
		if (f->cur && f->off < f->cur->len)
			f->off += MIN(length, f->cur->len - f->off);
		return true;
	}
	return true;
}

static void dma_run(struct fw_cfg *f, uint64_t gpa)
{
	struct fw_cfg_dma *acc = vm_gpa_to_hva(f->vm, gpa, sizeof(*acc));
	uint32_t control, length;
	uint64_t addr;
	bool ok;

	if (!acc)
		return;		/* nowhere to even report the error */
	memcpy(&control, &acc->control, 4);
	memcpy(&length, &acc->length, 4);
	memcpy(&addr, &acc->address, 8);
	control = be32toh(control);
	length = be32toh(length);
	addr = be64toh(addr);
	pthread_mutex_lock(&f->lock);
	if (control & FW_CFG_DMA_CTL_SELECT)
		select_key(f, control >> 16);
	ok = dma_data(f, control, length, addr);
	pthread_mutex_unlock(&f->lock);
	control = htobe32(ok ? 0 : FW_CFG_DMA_CTL_ERROR);
	memcpy(&acc->control, &control, 4);
}

static void dma_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	uint64_t sig = htobe64(FW_CFG_DMA_SIGNATURE);

	memset(data, 0, len);
	if (off < 8)
		memcpy(data, (uint8_t *)&sig + off, MIN((uint64_t)len, 8 - off));
}

/*
 * The guest writes the access structure's address big-endian: the high
 * half at +0, then the low half at +4, which starts the transfer (or all
 * 8 bytes at once).
 */
static void dma_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct fw_cfg *f = dev;
	uint32_t v;
	uint64_t v64;

	if (off == 0 && len == 8) {
		memcpy(&v64, data, 8);
		dma_run(f, be64toh(v64));
		return;
	}
	if (len != 4 || (off != 0 && off != 4))
		return;
	memcpy(&v, data, 4);
	v = be32toh(v);
	if (off == 0) {
		pthread_mutex_lock(&f->lock);
		f->dma_hi = v;
		pthread_mutex_unlock(&f->lock);
		return;
	}
	pthread_mutex_lock(&f->lock);
	v64 = (uint64_t)f->dma_hi << 32 | v;
	f->dma_hi = 0;
	pthread_mutex_unlock(&f->lock);
	dma_run(f, v64);
}

static const struct io_ops port_ops = { .read = port_read, .write = port_write };
static const struct io_ops dma_ops = { .read = dma_read, .write = dma_write };

static void fw_cfg_destroy(struct vm *vm)
{
	void **slot = vm_device_state(vm, &fw_cfg_class);
	struct fw_cfg *f = slot ? *slot : NULL;
	unsigned int i;

	if (!f)
		return;
	io_bus_unregister(&vm->pio, FW_CFG_PORT_SEL, f);
	io_bus_unregister(&vm->pio, FW_CFG_PORT_DMA, f);
	for (i = 0; i < f->nr; i++)
		free(f->items[i].data);
	pthread_mutex_destroy(&f->lock);
	free(f);
	*slot = NULL;
}

static int fw_cfg_create(struct vm *vm, struct vk_err *err)
{
	void **slot = vm_device_state(vm, &fw_cfg_class);
	struct fw_cfg *f;
	int r;

	if (vm->cfg->firmware == FIRMWARE_NONE)
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f)
		return vk_fail(err, -ENOMEM, "out of memory");
	f->vm = vm;
	f->next_file_key = FW_CFG_FILE_FIRST;
	pthread_mutex_init(&f->lock, NULL);
	*slot = f;
	new_item(f, FW_CFG_FILE_DIR);
	r = rebuild_dir(f);
	if (!r)
		r = fw_cfg_add_bytes(vm, FW_CFG_SIGNATURE, "QEMU", 4);
	if (!r)
		r = fw_cfg_add_i32(vm, FW_CFG_ID, FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	if (r)
		return vk_fail(err, r, "fw_cfg: %s", strerror(-r));
	r = io_bus_register(&vm->pio, FW_CFG_PORT_SEL, 2, &port_ops, f);
	if (!r)
		r = io_bus_register(&vm->pio, FW_CFG_PORT_DMA, 8, &dma_ops, f);
	if (r)
		return vk_fail(err, r, "fw_cfg: cannot claim ports 0x510-0x51b");
	return 0;
}

/*
 * Version 1: the selected item (by key; "selected" 0 when the key named
 * none) and the read position in it, and the DMA address's high half. The
 * items themselves are built again from the same config.
 */
static void fw_cfg_save(struct vm *vm, struct ss_writer *w)
{
	void **slot = vm_device_state(vm, &fw_cfg_class);
	struct fw_cfg *f = slot ? *slot : NULL;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	ss_begin(w, "fw_cfg", 0, 1);
	ss_put_u64(w, "selected", f->cur != NULL);
	ss_put_u64(w, "key", f->cur ? f->cur->key : 0);
	ss_put_u64(w, "offset", f->off);
	ss_put_u64(w, "dma-hi", f->dma_hi);
	ss_end(w);
	pthread_mutex_unlock(&f->lock);
}

static int fw_cfg_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	struct fw_cfg *f = *vm_device_state(vm, &fw_cfg_class);
	const struct ss_section *s = ss_find(r, "fw_cfg", 0);
	uint64_t sel, key, off, hi;
	int ret;

	if (!f != !s)
		return vk_fail(err, -EINVAL, "state: saved %s firmware, this VM %s",
			       f ? "without" : "with", f ? "boots firmware" : "boots a kernel");
	if (!f)
		return 0;
	ret = ss_get_u64(s, "selected", &sel, err);
	if (!ret)
		ret = ss_get_u64(s, "key", &key, err);
	if (!ret)
		ret = ss_get_u64(s, "offset", &off, err);
	if (!ret)
		ret = ss_get_u64(s, "dma-hi", &hi, err);
	if (ret)
		return ret;
	pthread_mutex_lock(&f->lock);
	select_key(f, key);
	if (sel > 1 || key > 0xffff || hi > UINT32_MAX || !f->cur != !sel ||
	    (f->cur && off > f->cur->len)) {
		f->cur = NULL;
		pthread_mutex_unlock(&f->lock);
		return vk_fail(err, -EINVAL, "state of fw_cfg: item %#llx or its offset out of range",
			       (unsigned long long)key);
	}
	f->off = off;
	f->dma_hi = hi;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

const struct vm_device_class fw_cfg_class = {
	.name = "fw_cfg", .create = fw_cfg_create, .destroy = fw_cfg_destroy,
	.save = fw_cfg_save, .load = fw_cfg_load,
};
