// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Definitions with Proxmox's disk-controller keys (issue 12) and the
 * `vmkit run` arguments they become: scsiN on virtio-scsi, sataN on AHCI,
 * ide2 a CD-ROM on SATA (vmkit has no IDE), "none" an empty drive, scsihw.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/mgmt.h"

static char file[] = "/tmp/vmkit-test-media-XXXXXX";

static char **argv_of(const char *text)
{
	struct vk_err err = { 0 };
	struct vm_def d = { 0 };
	char **v = NULL;

	if (vm_def_parse(text, "test", &d, &err))
		fail_msg("%s", err.msg);
	if (vm_build_argv(&d, "vmkit", &v, &err))
		fail_msg("%s", err.msg);
	vm_def_free(&d);
	return v;
}

/* The value after the n-th (0-based) occurrence of opt. */
static const char *arg_after(char **v, const char *opt, unsigned int n)
{
	unsigned int i;

	for (i = 0; v[i]; i++)
		if (!strcmp(v[i], opt) && !n--)
			return v[i + 1];
	return NULL;
}

static void test_argv(void **state)
{
	char text[1024], want[512];
	char **v;

	snprintf(text, sizeof(text), "name: m\nkernel: /bin/true\nscsihw: virtio-scsi-single\n"
		 "scsi0: %s,cache=writeback,iothread=1\nsata1: %s,format=raw\n"
		 "ide2: none,media=cdrom\n", file, file);
	v = argv_of(text);
	assert_string_equal(arg_after(v, "--scsihw", 0), "virtio-scsi-single");
	snprintf(want, sizeof(want), "path=%s,bus=scsi,id=scsi0,format=auto,cache=writeback,iothread=on",
		 file);
	assert_string_equal(arg_after(v, "--disk", 0), want);
	snprintf(want, sizeof(want), "path=%s,bus=sata,id=sata1,format=raw", file);
	assert_string_equal(arg_after(v, "--disk", 1), want);
	assert_string_equal(arg_after(v, "--disk", 2), "bus=sata,id=ide2,media=cdrom");
	mgmt_strv_free(v);
}

static void refused(const char *key, const char *val, const char *msg)
{
	struct vk_err err = { 0 };

	assert_int_equal(vm_key_validate(key, val, &err), -EINVAL);
	if (!strstr(err.msg, msg))
		fail_msg("%s: %s: '%s' lacks '%s'", key, val, err.msg, msg);
}

static void test_bad_keys(void **state)
{
	struct vk_err err = { 0 };

	refused("ide0", file, "vmkit has no IDE");
	refused("ide2", "none", "vmkit has no IDE");
	refused("scsi0", "none", "only for an empty CD-ROM drive");
	refused("sata0", "/x.iso,media=cdrom,readonly=0", "a CD-ROM is read-only");
	refused("sata0", "/x.iso,media=tape", "media=tape");
	refused("scsihw", "lsi", "expected virtio-scsi-pci or virtio-scsi-single");
	refused("sata0", "relative.iso", "neither POOL:VOLUME nor an absolute path");
	assert_int_equal(vm_key_validate("scsi31", file, &err), -EINVAL);
	assert_int_equal(vm_key_validate("sata6", file, &err), -EINVAL);
	assert_int_equal(vm_key_validate("scsi30", file, &err), 0);
	assert_int_equal(vm_key_validate("sata5", "none,media=cdrom", &err), 0);
	assert_int_equal(vm_key_validate("scsihw", "virtio-scsi-pci", &err), 0);
}

static int setup(void **state)
{
	int fd = mkstemp(file);

	if (fd < 0)
		return -1;
	close(fd);
	setenv("VMKIT_HOME", "/nonexistent-vmkit-home", 1);
	return 0;
}

static int teardown(void **state)
{
	unlink(file);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_bad_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
