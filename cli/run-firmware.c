// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit run's firmware options (cli/run-firmware.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run-firmware.h"
#include "vmkit/sandbox.h"
#include "vmkit/firmware.h"
#include "vmkit/util.h"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vk_vmsg(fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int firmware_kv(void *opaque, const char *key, const char *val)
{
	struct vm_config *c = opaque;

	if (!*val && (!strcmp(key, "bios") || !strcmp(key, "seabios")))
		c->firmware = FIRMWARE_BIOS;
	else if (!*val && (!strcmp(key, "uefi") || !strcmp(key, "ovmf") || !strcmp(key, "efi")))
		c->firmware = FIRMWARE_UEFI;
	else if (!strcmp(key, "code") && *val)
		c->firmware_code = strdup(val);
	else if (!strcmp(key, "vars") && *val)
		c->firmware_vars = strdup(val);
	else
		return fail("--firmware: unknown option '%s%s%s' (bios, uefi, code=FILE, vars=FILE)",
			    key, *val ? "=" : "", val);
	return 0;
}

int run_parse_firmware(struct vm_config *c, const char *arg)
{
	if (!strcmp(arg, "none")) {
		c->firmware = FIRMWARE_NONE;
		return 0;
	}
	c->firmware = FIRMWARE_NONE;
	if (vk_parse_kv(arg, firmware_kv, c))
		return -EINVAL;
	if (c->firmware == FIRMWARE_NONE)
		return fail("--firmware %s: expected bios or uefi first", arg);
	if (c->firmware_vars && c->firmware != FIRMWARE_UEFI)
		return fail("--firmware %s: vars= is for uefi", arg);
	return 0;
}

/* --machine pc|q35: QEMU's two x86 machines (i440fx names the first, as Proxmox allows). */
int run_parse_machine(struct vm_config *c, const char *arg)
{
	if (!strcmp(arg, "pc") || !strcmp(arg, "i440fx"))
		c->machine = MACHINE_PC;
	else if (!strcmp(arg, "q35"))
		c->machine = MACHINE_Q35;
	else
		return fail("--machine %s: unknown machine (pc or q35)", arg);
	return 0;
}

/* order=a,b,c (QEMU's spelling) or order=a;b;c (Proxmox's). */
int run_parse_boot(struct vm_config *c, const char *arg)
{
	char *list, *word, *save = NULL;

	if (strncmp(arg, "order=", 6) || !arg[6])
		return fail("--boot %s: expected order=LIST (e.g. order=cdrom,disk)", arg);
	list = strdup(arg + 6);
	if (!list)
		return fail("out of memory");
	c->nr_boot_order = 0;
	for (word = strtok_r(list, ",;", &save); word; word = strtok_r(NULL, ",;", &save)) {
		if (!fw_boot_order_word_ok(word))
			return fail("--boot %s: unknown device '%s' (disk, cdrom, net, or a name as virtio0, scsi0, sata0, ide2, net0)",
				    arg, word);
		if (c->nr_boot_order == VM_MAX_BOOT_ORDER)
			return fail("--boot %s: more than %u entries", arg, VM_MAX_BOOT_ORDER);
		c->boot_order[c->nr_boot_order++] = word;
	}
	if (!c->nr_boot_order)
		return fail("--boot %s: the order is empty", arg);
	return 0;
}

int run_parse_debugcon(struct vm_config *c, const char *arg)
{
	if (!strncmp(arg, "file:", 5))
		arg += 5;
	if (!*arg)
		return fail("--debugcon: expected file:PATH");
	c->debugcon_path = arg;
	return 0;
}

/* given: the user named the file (no hint about packages). */
static int readable_image(const char *what, const char *path, int mode, bool given)
{
	struct stat st;

	if (access(path, mode) < 0)
		return fail("--firmware: %s %s: %s%s", what, path, strerror(errno),
			    errno == ENOENT && !given ?
			    " (install Debian's seabios/ovmf, or set VMKIT_FIRMWARE_DIR)" : "");
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return fail("--firmware: %s %s: not a regular file", what, path);
	return 0;
}

int run_check_firmware(struct vm_config *c)
{
	bool given = c->firmware_code != NULL;
	char buf[4096];

	if (c->firmware == FIRMWARE_NONE) {
		if (c->nr_boot_order)
			return fail("--boot: only with --firmware bios or uefi");
		return 0;
	}
	if (!c->firmware_code)
		c->firmware_code = strdup(fw_image_path(c->firmware == FIRMWARE_UEFI ? FW_OVMF_CODE :
							FW_BIOS_IMAGE, buf, sizeof(buf)));
	if (readable_image(c->firmware == FIRMWARE_UEFI ? "UEFI code" : "BIOS image",
			   c->firmware_code, R_OK, given))
		return -EINVAL;
	if (c->firmware != FIRMWARE_UEFI)
		return 0;
	if (c->firmware_vars)
		return readable_image("UEFI variable store", c->firmware_vars, R_OK | W_OK, true);
	return readable_image("UEFI variable template", fw_image_path(FW_OVMF_VARS, buf, sizeof(buf)),
			      R_OK, false);
}

int run_open_debugcon(const struct vm_config *c)
{
	uid_t uid;
	gid_t gid;
	int fd;

	if (!c->debugcon_path)
		return 0;
	/* Emptied once here; the device appends, across guest resets. */
	fd = open(c->debugcon_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail("--debugcon %s: %s", c->debugcon_path, strerror(errno));
	/* Under --runas the device opens it again as that user, at each build. */
	if (c->runas && !sandbox_lookup_user(c->runas, &uid, &gid, NULL) &&
	    fchown(fd, uid, gid) < 0) {
		close(fd);
		return fail("--debugcon %s: %s", c->debugcon_path, strerror(errno));
	}
	close(fd);
	return 0;
}
