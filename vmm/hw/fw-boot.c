// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Boot order (include/vmkit/firmware.h): bootable devices register their
 * OpenFirmware paths under a kind and a name as they are created; the
 * "bootorder" fw_cfg file lists, one per line, the paths of the devices
 * vm_config.boot_order names, in its order. SeaBIOS and OVMF try those
 * first, in that order, and the rest after.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/device.h"
#include "vmkit/firmware.h"
#include "vmkit/vm.h"

struct fw_boot_entry {
	enum fw_boot_kind kind;
	char name[16];
	char path[FW_BOOT_PATH_MAX];
	bool listed;		/* already in the file being built */
};

struct fw_boot {
	struct fw_boot_entry e[FW_BOOT_MAX];
	unsigned int nr;
};

const struct vm_device_class fw_boot_class;

static const char *const kind_names[] = {
	[FW_BOOT_DISK] = "disk", [FW_BOOT_CDROM] = "cdrom", [FW_BOOT_NET] = "net",
};

/* The device names of Proxmox's keys (and vmkit's virtio-blk disks, virtio0...). */
static const char *const name_prefixes[] = { "virtio", "scsi", "sata", "ide", "net" };

/*
 * A path OVMF can parse: nodes "/NAME@UNIT", NAME of letters, digits and
 * ",._+-" (IEEE 1275). One line it cannot parse makes it drop the file.
 */
static bool ofw_path_ok(const char *p)
{
	size_t n;

	do {
		if (*p++ != '/')
			return false;
		n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-");
		if (!n || n >= 32 || p[n] != '@')
			return false;
		p += n + 1;
		n = strcspn(p, "/@:\n");
		if (!n)
			return false;
		p += n;
	} while (*p);
	return true;
}

int fw_boot_add(struct vm *vm, enum fw_boot_kind kind, const char *name, const char *path)
{
	void **slot = vm_device_state(vm, &fw_boot_class);
	struct fw_boot *b = slot ? *slot : NULL;
	struct fw_boot_entry *e;

	if (!b)
		return 0;
	if (strlen(path) >= FW_BOOT_PATH_MAX || strlen(name) >= sizeof(e->name) ||
	    kind > FW_BOOT_NET || !ofw_path_ok(path))
		return -EINVAL;
	if (b->nr == FW_BOOT_MAX)
		return -ENOSPC;
	e = &b->e[b->nr++];
	e->kind = kind;
	strcpy(e->name, name);
	strcpy(e->path, path);
	return 0;
}

int fw_boot_add_numbered(struct vm *vm, enum fw_boot_kind kind, const char *prefix,
			 const char *path)
{
	void **slot = vm_device_state(vm, &fw_boot_class);
	struct fw_boot *b = slot ? *slot : NULL;
	unsigned int i, n = 0;
	size_t len = strlen(prefix);
	char name[16];

	if (!b)
		return 0;
	for (i = 0; i < b->nr; i++)
		n += !strncmp(b->e[i].name, prefix, len) &&
		     strspn(b->e[i].name + len, "0123456789") == strlen(b->e[i].name + len);
	if (snprintf(name, sizeof(name), "%s%u", prefix, n) >= (int)sizeof(name))
		return -EINVAL;
	return fw_boot_add(vm, kind, name, path);
}

int fw_boot_pci_path(char *buf, size_t len, const char *node, unsigned int slot,
		     unsigned int fn)
{
	int n = fn ? snprintf(buf, len, "/pci@i0cf8/%s@%x,%x", node, slot, fn) :
		     snprintf(buf, len, "/pci@i0cf8/%s@%x", node, slot);

	return n < 0 || (size_t)n >= len ? -EINVAL : n;
}

bool fw_boot_order_word_ok(const char *word)
{
	unsigned int i;
	size_t n;

	for (i = 0; i < ARRAY_SIZE(kind_names); i++)
		if (!strcmp(word, kind_names[i]))
			return true;
	for (i = 0; i < ARRAY_SIZE(name_prefixes); i++) {
		n = strlen(name_prefixes[i]);
		if (!strncmp(word, name_prefixes[i], n) && word[n] &&
		    strspn(word + n, "0123456789") == strlen(word + n) && strlen(word + n) <= 2)
			return true;
	}
	return false;
}

static bool matches(const struct fw_boot_entry *e, const char *word)
{
	return !strcmp(word, e->name) || !strcmp(word, kind_names[e->kind]);
}

int fw_boot_order_text(struct vm *vm, char *buf, size_t len)
{
	void **slot = vm_device_state(vm, &fw_boot_class);
	struct fw_boot *b = slot ? *slot : NULL;
	const struct vm_config *c = vm->cfg;
	unsigned int w, i;
	size_t n = 0;

	if (!len)
		return -ENOSPC;
	buf[0] = 0;
	for (i = 0; b && i < b->nr; i++)
		b->e[i].listed = false;
	for (w = 0; b && w < c->nr_boot_order; w++) {
		for (i = 0; i < b->nr; i++) {
			struct fw_boot_entry *e = &b->e[i];
			int k;

			if (e->listed || !matches(e, c->boot_order[w]))
				continue;
			k = snprintf(buf + n, len - n, "%s%s", n ? "\n" : "", e->path);
			if (k < 0 || (size_t)k >= len - n)
				return -ENOSPC;
			n += k;
			e->listed = true;
		}
	}
	return 0;
}

static int fw_boot_create(struct vm *vm, struct vk_err *err)
{
	struct fw_boot *b;

	if (vm->cfg->firmware == FIRMWARE_NONE)
		return 0;
	b = calloc(1, sizeof(*b));
	if (!b)
		return vk_fail(err, -ENOMEM, "out of memory");
	*vm_device_state(vm, &fw_boot_class) = b;
	return 0;
}

static void fw_boot_destroy(struct vm *vm)
{
	void **slot = vm_device_state(vm, &fw_boot_class);

	if (slot) {
		free(*slot);
		*slot = NULL;
	}
}

const struct vm_device_class fw_boot_class = {
	.name = "boot-order", .create = fw_boot_create, .destroy = fw_boot_destroy,
	.stateless = true,	/* the boot order is the config's */
};
