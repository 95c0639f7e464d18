// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * create/convert -o help: the creation options, listed as qemu-img lists them
 * (the format's own, or with a file name the format's and the file
 * protocol's merged, by name). The lists are the drivers' own
 * (vk_blk_driver.create_opts, vk_blk_file_create_opts): only what vmkit
 * accepts, so that a script that looks for an option here finds only what
 * will work.
 */
#include <stdio.h>
#include <string.h>

#include "img-opts.h"

static void print_opt(const struct vk_blk_create_opt *o)
{
	char head[64];

	snprintf(head, sizeof(head), "%s=<%s>", o->name, o->type);
	/* qemu pads the name column to 22 characters; longer ones get one space. */
	printf("  %-22s - %s\n", head, o->help);
}

void img_print_create_help(const char *fmt, bool with_file)
{
	const struct vk_blk_driver *drv = vk_blk_find_driver(fmt);
	const struct vk_blk_create_opt *a = drv->create_opts, *b = vk_blk_file_create_opts;
	int c;

	if (!with_file) {
		printf("Supported %s options:\n", fmt);
		for (; a->name; a++)
			print_opt(a);
		printf("\nThe protocol level may support further options.\n"
		       "Specify the target filename to include those options.\n");
		return;
	}
	/* Merged with the file protocol's, both sorted; where both have a name, the format's wins. */
	printf("Supported options:\n");
	while (a->name || b->name) {
		c = !a->name ? 1 : !b->name ? -1 : strcmp(a->name, b->name);
		print_opt(c <= 0 ? a : b);
		if (c <= 0)
			a++;
		if (c >= 0)
			b++;
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

/*
 * Is an -o string a list qemu-img takes: not empty, not starting with a
 * comma, and not ending in an odd number of them (",," is an escaped comma)?
 */
bool img_opts_list_valid(const char *opts)
{
	size_t len = strlen(opts), i = len;

	if (!len || opts[0] == ',')
		return false;
	while (i && opts[i - 1] == ',')
		i--;
	return (len - i) % 2 == 0;
}
