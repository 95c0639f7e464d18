// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the management layer's definition files: a VM
 * definition (lib/mgmt/config.c, with every key's validation in
 * config-keys.c and the `vmkit run` arguments argv.c makes of it) and the
 * key: value files of pools and networks (kvfile.c). The first input byte
 * picks which; the rest is the file. A definition that parses must format
 * back to text that parses to the same definition.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmkit/mgmt.h"

static void free_argv(char **argv)
{
	char **a;

	for (a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

static void vm_definition(const char *text)
{
	struct vm_def d, again;
	struct vk_err err = { 0 };
	char **argv = NULL, *out;
	unsigned int i;

	if (vm_def_parse(text, "fuzz.conf", &d, &err))
		return;
	out = vm_def_format(&d);
	if (!out)
		abort();
	if (vm_def_parse(out, "formatted", &again, &err)) {
		fprintf(stderr, "config-fuzz: formatted definition does not parse: %s\n%s",
			err.msg, out);
		abort();
	}
	if (again.n != d.n || strcmp(again.name, d.name))
		abort();
	for (i = 0; i < d.n; i++)
		if (strcmp(vm_def_get(&again, d.kv[i].key), d.kv[i].val))
			abort();
	if (!vm_build_argv(&d, "vmkit", &argv, &err))
		free_argv(argv);
	free(out);
	vm_def_free(&again);
	vm_def_free(&d);
}

static int kv_set(void *ctx, const char *key, const char *val, struct vk_err *err)
{
	size_t *n = ctx;

	*n += strlen(key) + strlen(val);
	return key[0] == '!' ? vk_fail(err, -EINVAL, "%s: refused", key) : 0;
}

static void kv_file(const uint8_t *data, size_t size)
{
	struct vk_err err = { 0 };
	char path[64];
	size_t n = 0;
	int fd = memfd_create("kv", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	mgmt_load_kv(path, "pool", "fuzz", kv_set, &n, &err);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (!size)
		return 0;
	if (data[0] & 1) {
		kv_file(data + 1, size - 1);
		return 0;
	}
	text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	vm_definition(text);
	free(text);
	return 0;
}
