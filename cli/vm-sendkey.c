// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit sendkey NAME KEYS...: each argument a chord of QKeyCode names
 * joined by '-' (ctrl-alt-delete), sent in turn through the VM's QMP
 * send-key, as virsh send-key and Proxmox's qm sendkey do. Key names are
 * checked before anything is sent, so a typo sends nothing.
 */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/qcode.h"
#include "vm-cli.h"

#define MAX_CHORD 16		/* as QMP send-key takes */

static const char usage[] =
	"usage: vmkit sendkey NAME [--hold-time MS] KEYS...\n"
	"Press keys in a running VM, one chord per argument: keys joined by '-' are\n"
	"pressed together in order and released in reverse after MS (default 100).\n"
	"Key names are QEMU's (QKeyCode): a-z 0-9 ret spc tab esc backspace ctrl alt\n"
	"shift meta_l delete f1-f12 up down left right ... e.g.\n"
	"  vmkit sendkey vm1 ctrl-alt-delete\n"
	"  vmkit sendkey vm1 h e l l o ret\n";

/* The send-key arguments for one chord; NULL (after a usage message) if a key is unknown. */
static json_object *chord_args(const char *chord, uint64_t hold_ms, int *rc)
{
	json_object *args = json_object_new_object(), *keys = json_object_new_array();
	char buf[256], *save = NULL, *tok;
	unsigned int n = 0;

	json_object_object_add(args, "keys", keys);
	json_object_object_add(args, "hold-time", json_object_new_int64(hold_ms));
	snprintf(buf, sizeof(buf), "%s", chord);
	for (tok = strtok_r(buf, "-", &save); tok; tok = strtok_r(NULL, "-", &save), n++) {
		json_object *kv = json_object_new_object();

		if (!input_qcode_to_keycode(tok) || n == MAX_CHORD) {
			*rc = n == MAX_CHORD ? mgmt_usage("sendkey", "'%s': more than %d keys in one chord",
							  chord, MAX_CHORD)
					     : mgmt_usage("sendkey", "'%s' is not a key name (QEMU's QKeyCode: "
							  "a, ret, ctrl, alt, delete, f1, ...)", tok);
			json_object_put(kv);
			json_object_put(args);
			return NULL;
		}
		json_object_object_add(kv, "type", json_object_new_string("qcode"));
		json_object_object_add(kv, "data", json_object_new_string(tok));
		json_object_array_add(keys, kv);
	}
	if (!n || strlen(chord) >= sizeof(buf)) {
		*rc = mgmt_usage("sendkey", "'%s' is not a chord of keys", chord);
		json_object_put(args);
		return NULL;
	}
	return args;
}

int cmd_sendkey(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hold-time", required_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vk_err err = { 0 };
	json_object **chords;
	uint64_t hold = 100;
	int c, i, n, rc = 0;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'h')
			return mgmt_usage("sendkey", "unknown option '%s' (see 'vmkit sendkey --help')",
					  argv[optind - 1]);
		if (vk_parse_uint(optarg, 0, 5000, &hold))
			return mgmt_usage("sendkey", "--hold-time: '%s' is not milliseconds from 0 to 5000",
					  optarg);
	}
	if (argc - optind < 2)
		return mgmt_usage("sendkey", "expected a VM NAME and at least one key");
	n = argc - optind - 1;
	chords = calloc(n, sizeof(*chords));
	for (i = 0; i < n && !rc; i++)
		chords[i] = chord_args(argv[optind + 1 + i], hold, &rc);
	for (i = 0; i < n && !rc; i++)
		if (vm_qmp_call(argv[optind], "send-key", json_object_to_json_string(chords[i]), NULL, &err))
			rc = mgmt_report(&err);
	for (i = 0; i < n; i++)
		json_object_put(chords[i]);
	free(chords);
	return rc;
}
