// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The management operations (vmkit/mgmt-ops.h) as vmkit-serve calls them:
 * linked without the CLI, on a private $VMKIT_HOME, with `vmkit img` steps
 * run through mgmt_set_exe. Each operation must print nothing: the server's
 * stdout and stderr are not the user's. VMs are not started (no /dev/kvm
 * needed); tests/mgmt checks the CLI's output over the same code.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/mgmt-ops.h"

static char home[PATH_MAX], kernel[PATH_MAX + 16];
static int saved_out = -1, saved_err = -1, sink = -1;

/* Send stdout and stderr to a file while an operation runs. */
static void quiet_begin(void)
{
	char p[PATH_MAX + 16];

	snprintf(p, sizeof(p), "%s/printed", home);
	fflush(NULL);
	sink = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(sink >= 0);
	saved_out = dup(1);
	saved_err = dup(2);
	dup2(sink, 1);
	dup2(sink, 2);
}

/* Back to the terminal; fails when the operation printed anything. */
static void quiet_end(void)
{
	struct stat st;

	fflush(NULL);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	assert_int_equal(fstat(sink, &st), 0);
	close(sink);
	assert_int_equal(st.st_size, 0);
}

static int setup(void **state)
{
	FILE *f;

	snprintf(home, sizeof(home), "/tmp/vmkit-ops-XXXXXX");
	assert_non_null(mkdtemp(home));
	setenv("VMKIT_HOME", home, 1);
	snprintf(kernel, sizeof(kernel), "%s/bzImage", home);
	f = fopen(kernel, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	mgmt_rm_rf(home);
	return 0;
}


static void test_pools_and_volumes(void **state)
{
	struct vk_err err = { 0 };
	struct vol_info *vols = NULL, v;
	struct pool_info *pools = NULL;
	char dir[PATH_MAX + 8], vm[MGMT_NAME_MAX];
	unsigned int n = 0, i;
	int ret;

	snprintf(dir, sizeof(dir), "%s/p1", home);
	assert_int_equal(mkdir(dir, 0700), 0);
	quiet_begin();
	ret = pool_define("p1", "dir", dir, &err);
	quiet_end();
	assert_int_equal(ret, 0);
	assert_int_equal(pool_define("p1", "dir", dir, &err), -EEXIST);
	assert_int_equal(pool_define("p2", "lvm", dir, &err), -EINVAL);
	quiet_begin();
	ret = vol_create("p1", "a.qcow2", "qcow2", 1 << 20, NULL, &err);
	if (!ret)
		ret = vol_create("p1", "b.qcow2", NULL, 1 << 20, "p1:a.qcow2", &err);
	quiet_end();
	assert_int_equal(ret, 0);
	assert_int_equal(vol_list("p1", &vols, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(vols[0].name, "a.qcow2");
	assert_string_equal(vols[0].format, "qcow2");
	assert_int_equal(vols[0].virtual_size, 1 << 20);
	assert_string_equal(vols[0].used_by, "");
	assert_true(strstr(vols[1].backing, "a.qcow2") != NULL);
	free(vols);
	/* An image is built on a.qcow2: it stays. */
	assert_int_equal(vol_delete("p1:a.qcow2", &err), -EBUSY);
	assert_non_null(strstr(err.msg, "backing file of"));
	assert_false(vol_in_use("p1:a.qcow2", vm));
	assert_int_equal(vol_get_info("p1:b.qcow2", &v, &err), 0);
	assert_string_equal(v.name, "b.qcow2");
	assert_int_equal(pool_list(&pools, &n, &err), 0);
	for (i = 0; i < n && strcmp(pools[i].def.name, "p1"); i++)
		;
	assert_true(i < n);
	assert_int_equal(pools[i].volumes, 2);
	assert_true(pools[i].def.active);
	free(pools);
	assert_int_equal(pool_stop("p1", &err), 0);
	/* A stopped pool's volumes cannot be named. */
	assert_int_equal(vol_delete("p1:b.qcow2", &err), -EINVAL);
	assert_int_equal(pool_start("p1", &err), 0);
	assert_int_equal(pool_set_autostart("p1", true, &err), 0);
	assert_int_equal(vol_delete("p1:b.qcow2", &err), 0);
	assert_int_equal(vol_delete("p1:a.qcow2", &err), 0);
	assert_int_equal(pool_undefine("p1", &err), 0);
	assert_int_equal(pool_undefine("local", &err), -EINVAL);
}

static void test_create_and_change(void **state)
{
	static const char *const disks[] = { "size=1M", "size=2M,format=raw", NULL };
	static const char *const bad_disks[] = { "size=1M", "local:missing.qcow2", NULL };
	static const char *const nets[] = { "user", NULL };
	struct vm_kv extra[] = { { "description", "made by a test" } };
	struct vm_kv set[] = { { "memory", "256" }, { "description", NULL } };
	struct vm_create_req r = {
		.name = "a", .kernel = kernel, .memory = "128M", .cpus = 2, .disks = disks,
		.nets = nets, .extra = extra, .n_extra = 1,
	};
	struct vk_err err = { 0 };
	char vm[MGMT_NAME_MAX];
	struct vm_def d;
	int ret;

	quiet_begin();
	ret = mgmt_vm_create(&r, &err);
	quiet_end();
	assert_int_equal(ret, 0);
	assert_int_equal(mgmt_vm_create(&r, &err), -EEXIST);
	assert_int_equal(vm_load("a", &d, &err), 0);
	assert_string_equal(vm_def_get(&d, "memory"), "128M");
	assert_string_equal(vm_def_get(&d, "cores"), "2");
	assert_string_equal(vm_def_get(&d, "virtio1"), "local:a-disk1.raw,format=raw");
	assert_string_equal(vm_def_get(&d, "description"), "made by a test");
	vm_def_free(&d);
	assert_true(vol_in_use("local:a-disk0.qcow2", vm));
	assert_string_equal(vm, "a");
	assert_int_equal(vol_delete("local:a-disk0.qcow2", &err), -EBUSY);

	/* A bad disk after a new one: nothing is made. */
	r.name = "b";
	r.disks = bad_disks;
	assert_int_equal(mgmt_vm_create(&r, &err), -ENOENT);
	assert_false(vm_exists("b"));
	assert_int_equal(access(mgmt_path(vm, "images/b-disk0.qcow2"), F_OK), -1);

	quiet_begin();
	ret = vm_set_keys("a", set, 2, &err);
	quiet_end();
	assert_int_equal(ret, 0);
	set[0].val = "lots";
	assert_int_equal(vm_set_keys("a", set, 1, &err), -EINVAL);
	assert_int_equal(vm_load("a", &d, &err), 0);
	assert_string_equal(vm_def_get(&d, "memory"), "256");
	assert_null(vm_def_get(&d, "description"));
	vm_def_free(&d);
	assert_int_equal(vm_set_autostart("a", true, &err), 0);
	assert_int_equal(vm_rename("a", "a1", &err), 0);
	assert_int_equal(vm_rename("a1", "a", &err), 0);
}

static void test_clone_snapshot_delete(void **state)
{
	struct vm_snapshot *sn = NULL;
	struct vk_err err = { 0 };
	unsigned int n = 0;
	char p[PATH_MAX];
	int ret;

	/* Clones and snapshots go through the image library: the ASan build runs them too. */
	quiet_begin();
	ret = vm_clone("a", "c", true, &err);
	if (!ret)
		ret = vm_clone("a", "f", false, &err);
	if (!ret)
		ret = vm_snapshot_create("c", "s1", &err);
	quiet_end();
	assert_int_equal(ret, 0);
	/* A linked clone's disks are all qcow2 overlays: one snapshot each. */
	assert_int_equal(vm_snapshot_list("c", &sn, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(sn[0].disk, "virtio0");
	assert_string_equal(sn[1].name, "s1");
	assert_string_equal(sn[1].ref, "local:c-disk1.qcow2");
	free(sn);
	quiet_begin();
	ret = vm_snapshot_revert("c", "s1", &err);
	if (!ret)
		ret = vm_snapshot_delete("c", "s1", &err);
	quiet_end();
	assert_int_equal(ret, 0);
	/* a's disks are bases of c's: a cannot be reverted, nor purged. */
	assert_int_equal(vm_snapshot_revert("a", "s1", &err), -EBUSY);
	assert_int_equal(vm_delete("a", true, &err), -EBUSY);
	assert_int_equal(vm_template("a", &err), 0);
	assert_int_equal(vm_template("a", &err), -EEXIST);
	assert_int_equal(vm_start("a", &err), -EPERM);
	assert_int_equal(vm_qmp_simple("a", "stop", &err), -EINVAL);
	assert_int_equal(mgmt_vm_destroy("nope", &err), -ENOENT);
	assert_int_equal(vm_delete("c", true, &err), 0);
	assert_int_equal(vm_delete("f", true, &err), 0);
	assert_int_equal(vm_delete("a", true, &err), 0);
	assert_false(vm_exists("a"));
	assert_int_equal(access(mgmt_path(p, "images/a-disk0.qcow2"), F_OK), -1);
}

static void test_snapshot_failure_is_told(void **state)
{
	static const char *const disks[] = { "size=1M", "size=1M,format=raw", NULL };
	struct vm_create_req r = { .name = "s", .kernel = kernel, .disks = disks };
	struct vk_err err = { 0 };
	struct vm_snapshot *sn = NULL;
	unsigned int n = 0;
	int ret;

	/* Through the image library: no vmkit binary needed. */
	assert_int_equal(mgmt_vm_create(&r, &err), 0);
	ret = vm_snapshot_create("s", "s1", &err);
	/* The raw disk's refusal names it, and the qcow2 disk's snapshot was taken back. */
	assert_int_equal(ret, -ENOTSUP);
	assert_non_null(strstr(err.msg, "snapshot create: disk local:s-disk1.raw: "
				"its format has no internal snapshots"));
	assert_int_equal(vm_snapshot_list("s", &sn, &n, &err), 0);
	assert_int_equal(n, 0);
	free(sn);
	assert_int_equal(vm_delete("s", true, &err), 0);
}

static void test_networks(void **state)
{
	struct vm_kv kv[] = { { "bridge", "vkt-br0" }, { "mtu", "1400" }, { "autostart", "1" } };
	struct vm_kv bad[] = { { "active", "1" } };
	struct network_def n;
	struct vk_err err = { 0 };
	int ret;

	quiet_begin();
	ret = network_define("n1", kv, 3, &n, &err);
	quiet_end();
	assert_int_equal(ret, 0);
	assert_int_equal(network_define("n1", kv, 3, &n, &err), -EEXIST);
	assert_int_equal(network_define("n2", bad, 1, &n, &err), -EINVAL);
	assert_int_equal(network_load("n1", &n, &err), 0);
	assert_int_equal(n.mtu, 1400);
	assert_true(n.autostart);
	assert_int_equal(network_down("n1", false, &err), -EALREADY);
	assert_int_equal(network_set_autostart("n1", false, &err), 0);
	assert_int_equal(network_undefine("n1", &err), 0);
}

/*
 * Disks on virtio-scsi and SATA are the VM's own as virtio ones are: a
 * full clone copies them, snapshots cover them, purge deletes them; a
 * CD-ROM's ISO is shared and left alone by all three.
 */
static void test_scsi_sata_disks(void **state)
{
	struct vm_kv kv[] = { { "scsi0", "local:m-s.qcow2" }, { "sata1", "local:m-t.qcow2" },
			      { "ide2", "local:m-cd.raw,media=cdrom" } };
	struct vm_create_req r = { .name = "m", .kernel = kernel };
	struct vm_snapshot *sn = NULL;
	struct vk_err err = { 0 };
	struct vm_def d;
	unsigned int n = 0, i, on_s = 0, on_t = 0;
	char p[PATH_MAX];
	int ret;

	quiet_begin();
	ret = mgmt_vm_create(&r, &err);
	if (!ret)
		ret = vol_create("local", "m-s.qcow2", "qcow2", 1 << 20, NULL, &err);
	if (!ret)
		ret = vol_create("local", "m-t.qcow2", "qcow2", 1 << 20, NULL, &err);
	if (!ret)
		ret = vol_create("local", "m-cd.raw", "raw", 1 << 20, NULL, &err);
	if (!ret)
		ret = vm_set_keys("m", kv, 3, &err);
	if (!ret)
		ret = vm_snapshot_create("m", "s1", &err);
	quiet_end();
	assert_int_equal(ret, 0);
	assert_int_equal(vm_snapshot_list("m", &sn, &n, &err), 0);
	for (i = 0; i < n; i++) {
		on_s += !strcmp(sn[i].disk, "scsi0");
		on_t += !strcmp(sn[i].disk, "sata1");
	}
	free(sn);
	assert_int_equal(on_s, 1);
	assert_int_equal(on_t, 1);
	assert_int_equal(vm_clone("m", "m2", false, &err), 0);
	assert_int_equal(vm_load("m2", &d, &err), 0);
	assert_non_null(strstr(vm_def_get(&d, "scsi0"), "m2-disk"));
	assert_non_null(strstr(vm_def_get(&d, "sata1"), "m2-disk"));
	assert_string_equal(vm_def_get(&d, "ide2"), "local:m-cd.raw,media=cdrom");
	vm_def_free(&d);
	assert_int_equal(vm_delete("m2", true, &err), 0);
	assert_int_equal(vm_delete("m", true, &err), 0);
	assert_int_equal(access(mgmt_path(p, "images/m-s.qcow2"), F_OK), -1);
	assert_int_equal(access(mgmt_path(p, "images/m-t.qcow2"), F_OK), -1);
	assert_int_equal(access(mgmt_path(p, "images/m-cd.raw"), F_OK), 0);
	assert_true(vm_drive_key("scsi30") && vm_drive_key("ide2") && !vm_drive_key("scsihw") &&
		    !vm_drive_key("sata") && !vm_drive_key("net0"));
}

/* Does argv have flag followed by val? */
static bool has_arg(char **argv, const char *flag, const char *val)
{
	for (; argv[0] && argv[1]; argv++)
		if (!strcmp(argv[0], flag) && !strcmp(argv[1], val))
			return true;
	return false;
}

/*
 * A definition with a display starts its VNC server on run/vnc.sock (what
 * vmkit serve joins noVNC to), with keyboard: as the keymap; without vga
 * there is none, and a bad layout name is refused when written.
 */
static void test_display_arguments(void **state)
{
	struct vm_def d = { 0 };
	struct vk_err err = { 0 };
	char **argv = NULL;
	unsigned int i;

	assert_int_equal(vm_def_parse("name: g\nkernel: /boot/k\nvga: std\nkeyboard: de\n", "test",
				      &d, &err), 0);
	assert_int_equal(vm_build_argv(&d, "/bin/vmkit", &argv, &err), 0);
	assert_true(has_arg(argv, "--vga", "std"));
	assert_true(has_arg(argv, "--vnc", "unix:vnc.sock,keymap=de"));
	mgmt_strv_free(argv);
	vm_def_free(&d);

	assert_int_equal(vm_def_parse("name: g\nkernel: /boot/k\n", "test", &d, &err), 0);
	assert_int_equal(vm_build_argv(&d, "/bin/vmkit", &argv, &err), 0);
	for (i = 0; argv[i]; i++)
		assert_string_not_equal(argv[i], "--vnc");
	mgmt_strv_free(argv);
	vm_def_free(&d);

	assert_int_equal(vm_def_parse("name: g\nkernel: /boot/k\nkeyboard: de;rm\n", "test", &d,
				      &err), -EINVAL);
	assert_non_null(strstr(err.msg, "keyboard"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pools_and_volumes),
		cmocka_unit_test(test_create_and_change),
		cmocka_unit_test(test_clone_snapshot_delete),
		cmocka_unit_test(test_snapshot_failure_is_told),
		cmocka_unit_test(test_networks),
		cmocka_unit_test(test_display_arguments),
		cmocka_unit_test(test_scsi_sata_disks),
	};

	/* The vmkit binary for `vmkit img` steps, as vmkit-serve would set it. */
	if (argc > 1)
		mgmt_set_exe(argv[1]);
	return cmocka_run_group_tests(tests, setup, teardown);
}
