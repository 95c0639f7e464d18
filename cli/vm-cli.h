/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the management commands (cli/vm-*.c, cli/pool.c, cli/vol.c). */
#ifndef VMKIT_VM_CLI_H
#define VMKIT_VM_CLI_H

#include <limits.h>
#include <stdbool.h>

#include "cli.h"
#include "vmkit/mgmt.h"

/* Print "vmkit: <err>" and return the exit code for it (2 for bad input, 1 otherwise). */
int mgmt_report(const struct vk_err *err);
/* "vmkit CMD: <msg>", exit code 2. */
int mgmt_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True (and prints usage) for -h/--help as the first argument. */
bool mgmt_want_help(int argc, char **argv, const char *usage);

/* Lifecycle helpers in cli/vm-start.c, used by start, reboot, clone... */
int vm_start(const char *name, struct vk_err *err);
/* Wait until the VM is no longer running; false on timeout. */
bool vm_wait_stopped(const char *name, double timeout_s);
/* The VM exists and its monitor runs (st filled); else err says which is not so. */
int vm_require_running(const char *name, struct vm_status *st, struct vk_err *err);
/* The VM's monitor is not running; else err: "VM 'x' is running; WHAT needs it shut off". */
int vm_require_shutoff(const char *name, const char *what, struct vk_err *err);
/* Pin a running VM's monitor threads and vCPUs to its affinity/vcpupin (cli/vm-pin.c). */
int vm_pin_live(const struct vm_def *d, pid_t pid, struct vk_err *err);
/* Open the VM's QMP socket (the VM must be running). */
int vm_qmp(const char *name, struct qmpc **q, struct vk_err *err);
/* Create a volume: format raw or qcow2, optional backing file (a path). */
int vol_create_file(const char *path, const char *format, uint64_t size, const char *backing,
		    const char *backing_fmt, struct vk_err *err);
/* The path of vmkit itself, for starting monitors and `vmkit img`. */
const char *vmkit_exe(void);
/* Run `vmkit img ARGS...`; returns its exit status, output to ours. */
int run_img(const char *const *args);

int cmd_create(int argc, char **argv);
int cmd_define(int argc, char **argv);
int cmd_dumpconfig(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_edit(int argc, char **argv);
int cmd_rename(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_autostart(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_shutdown(int argc, char **argv);
int cmd_reboot(int argc, char **argv);
int cmd_destroy(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_balloon(int argc, char **argv);
int cmd_console(int argc, char **argv);
int cmd_clone(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_template(int argc, char **argv);
/* Templates (cli/vm-template.c): a VM with template: 1 in its definition. */
bool vm_is_template(const struct vm_def *d);
/* "VM 'x' is a template: it cannot be WHAT" for a template, else 0. */
int vm_refuse_template(const struct vm_def *d, const char *what, struct vk_err *err);
/* A template whose disks a clone is built on: -EBUSY naming the clone's image. */
int vm_template_in_use(const struct vm_def *d, struct vk_err *err);
/*
 * Whether a disk of d is the backing file of some other image: > 0 with its
 * reference in ref and the overlay in who, 0 when none is, < 0 on error.
 */
int vm_disk_overlay(const struct vm_def *d, char ref[PATH_MAX], char *who, size_t who_size,
		    struct vk_err *err);
int cmd_pool(int argc, char **argv);
int cmd_vol(int argc, char **argv);
int cmd_network(int argc, char **argv);
/* Start the autostart networks that are not active (cli/network.c); the exit code. */
int network_autostart_all(void);

#endif
