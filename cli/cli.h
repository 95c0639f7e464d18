/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Subcommands: each is one file with one entry point, listed in main.c. */
#ifndef VMKIT_CLI_H
#define VMKIT_CLI_H

#include <sys/types.h>

/* Exit codes shared by all subcommands. */
#define EXIT_GUEST_ERROR 1	/* the VM failed while running */
#define EXIT_USAGE 2		/* bad option or file: nothing was started */

int cmd_run(int argc, char **argv);
int cmd_img(int argc, char **argv);
int cmd_net(int argc, char **argv);

/* vmkit run --net (cli/run-net.c) */
struct vm_config;
int run_parse_net(struct vm_config *c, const char *arg);
void run_finish_nets(struct vm_config *c);
int run_open_nets(struct vm_config *c);
void run_close_nets(struct vm_config *c);

/* vmkit run --vga, --vnc (cli/run-display.c) */
int run_parse_vga(struct vm_config *c, const char *arg);
int run_parse_vnc(struct vm_config *c, const char *arg);
int run_open_display(struct vm_config *c);
/* --runas: the VNC server's unix socket becomes the user's (as the QMP and console ones). */
void run_give_display(uid_t uid, gid_t gid);
/* After the privilege drop: the threads that serve the display. */
int run_start_display(struct vm_config *c);
void run_close_display(struct vm_config *c);

#endif
