/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the management commands (cli/vm-*.c, cli/pool.c, cli/vol.c). */
#ifndef VMKIT_VM_CLI_H
#define VMKIT_VM_CLI_H

#include <limits.h>
#include <stdbool.h>

#include "cli.h"
#include "vmkit/mgmt-ops.h"

/* Print "vmkit: <err>" and return the exit code for it (2 for bad input, 1 otherwise). */
int mgmt_report(const struct vk_err *err);
/* "vmkit CMD: <msg>", exit code 2. */
int mgmt_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True (and prints usage) for -h/--help as the first argument. */
bool mgmt_want_help(int argc, char **argv, const char *usage);

/* Warnings of the operations, as "vmkit: <msg>" on stderr (mgmt_set_warn). */
void mgmt_cli_warn(const char *msg);

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
/* save/restore (issue 15) */
int cmd_save(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_migrate_incoming(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore_backup(int argc, char **argv);
int cmd_balloon(int argc, char **argv);
int cmd_sendkey(int argc, char **argv);
int cmd_cdrom(int argc, char **argv);
int cmd_console(int argc, char **argv);
/* The graphical console (cli/vm-display.c) */
int cmd_screenshot(int argc, char **argv);
int cmd_vnc(int argc, char **argv);
int cmd_clone(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_pool(int argc, char **argv);
/* serve, token: exec vmkit-serve beside vmkit (cli/serve.c). */
int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_vol(int argc, char **argv);
int cmd_network(int argc, char **argv);
/* Start the autostart networks that are not active (cli/network.c); the exit code. */
int network_autostart_all(void);

#endif
