// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * create/convert -o help: the creation options, listed as qemu-img lists them
 * (the format's own, or with a file name the format's and the file
 * protocol's merged, by name). Only what vmkit accepts is listed: qemu-img's
 * encryption options, nocow and extended_l2 are left out, so that a script
 * that looks for an option here finds only what will work.
 */
#include <stdio.h>
#include <string.h>

#include "img-opts.h"

enum { QCOW2 = 1, RAW = 2, FILE_PROTO = 4 };

struct opt_help {
	const char *name, *type, *help;
	unsigned int where;
};

/* Sorted by name, as qemu-img prints them. */
static const struct opt_help opts[] = {
	{ "backing_file", "str", "File name of a base image", QCOW2 },
	{ "backing_fmt", "str", "Image format of the base image", QCOW2 },
	{ "cluster_size", "size", "qcow2 cluster size", QCOW2 },
	{ "compat", "str", "Compatibility level (v2 [0.10] or v3 [1.1])", QCOW2 },
	{ "compression_type", "str", "Compression method used for image cluster compression",
	  QCOW2 },
	{ "data_file", "str", "File name of an external data file", QCOW2 },
	{ "data_file_raw", "bool (on/off)", "The external data file must stay valid as a raw image",
	  QCOW2 },
	{ "extent_size_hint", "size", "Extent size hint for the image file, 0 to disable",
	  FILE_PROTO },
	{ "lazy_refcounts", "bool (on/off)", "Postpone refcount updates", QCOW2 },
	{ "preallocation", "str", "Preallocation mode (allowed values: off, metadata, falloc, full)",
	  QCOW2 },
	{ "preallocation", "str", "Preallocation mode (allowed values: off, falloc, full)",
	  FILE_PROTO },
	{ "refcount_bits", "num", "Width of a reference count entry in bits", QCOW2 },
	{ "size", "size", "Virtual disk size", QCOW2 | RAW | FILE_PROTO },
};

static void print_opt(const struct opt_help *o)
{
	char head[64];

	snprintf(head, sizeof(head), "%s=<%s>", o->name, o->type);
	/* qemu pads the name column to 22 characters; longer ones get one space. */
	printf("  %-22s - %s\n", head, o->help);
}

void img_print_create_help(const char *fmt, bool with_file)
{
	unsigned int mask = !strcmp(fmt, "qcow2") ? QCOW2 : RAW;
	const char *last = "";
	size_t i;

	if (!with_file) {
		printf("Supported %s options:\n", fmt);
		for (i = 0; i < ARRAY_SIZE(opts); i++)
			if (opts[i].where & mask)
				print_opt(&opts[i]);
		printf("\nThe protocol level may support further options.\n"
		       "Specify the target filename to include those options.\n");
		return;
	}
	/* Merged with the file protocol's; where both have a name, the format's wins. */
	printf("Supported options:\n");
	for (i = 0; i < ARRAY_SIZE(opts); i++) {
		if (!(opts[i].where & (mask | FILE_PROTO)) || !strcmp(opts[i].name, last))
			continue;
		print_opt(&opts[i]);
		last = opts[i].name;
	}
}

/* Does an -o string ask for help ("help" or "?" among its comma-separated keys)? */
bool img_opts_want_help(const char *opts)
{
	const char *p = opts, *end;
	size_t n;

	while (p && *p) {
		end = strchr(p, ',');
		n = end ? (size_t)(end - p) : strlen(p);
		if ((n == 4 && !strncmp(p, "help", 4)) || (n == 1 && *p == '?'))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}
