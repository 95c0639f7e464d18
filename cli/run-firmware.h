/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmkit run's firmware options (issue 12): --firmware bios|uefi[,code=FILE]
 * [,vars=FILE], --boot order=LIST, --debugcon file:PATH. Each function
 * prints one line naming the option and the problem and returns -EINVAL
 * on bad input.
 */
#ifndef VMKIT_CLI_RUN_FIRMWARE_H
#define VMKIT_CLI_RUN_FIRMWARE_H

#include "vmkit/config.h"

int run_parse_firmware(struct vm_config *c, const char *arg);
int run_parse_boot(struct vm_config *c, const char *arg);
int run_parse_debugcon(struct vm_config *c, const char *arg);
int run_parse_machine(struct vm_config *c, const char *arg);
/* Once all options are known: the images exist and are readable. */
int run_check_firmware(struct vm_config *c);
/* Before the VM starts: create or empty the --debugcon file. */
int run_open_debugcon(const struct vm_config *c);

#endif
