// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for `vmkit run`'s option parsers: --memory (and its
 * backing options), --cpus, --topology, --console, --disk, --net (tap and
 * user, with hostfwd), --balloon, --device, --qmp, --rng, the affinity
 * lists, as one configuration. cli/run.c is included here so that its
 * static parsers are reachable without a seam in the CLI; nothing is
 * opened or started (finish_config, which opens --kernel, is not called).
 *
 * Input: records of one byte naming the option then its value up to a NUL.
 * The parsers keep what they allocate for the life of the process, as
 * `vmkit run` does, so run.sh runs this target without leak detection, and
 * with stderr closed (-close_fd_mask=2): each refused option prints a line.
 */
#define VMKIT_VERSION "fuzz"
#include "../../cli/run.c"

#define FIRST_OPT	OPT_KERNEL
#define NR_OPTS		(OPT_NET - OPT_KERNEL + 1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config c = { .cpus = 1, .mem_bytes = 256 * MiB, .console = CONSOLE_STDIO };
	char *copy, *p, *end, *arg;
	int opt;

	copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (p = copy, end = copy + size; p < end; p = arg + strlen(arg) + 1) {
		opt = FIRST_OPT + (unsigned char)*p % NR_OPTS;
		arg = p + 1;
		if (opt == OPT_HELP)
			continue;
		/*
		 * Options with an optional value: an empty one stands for none.
		 * The first refused option ends it, as in parse_args (`vmkit run`
		 * exits: a refused --qmp leaves the freed old path in place).
		 */
		if (parse_one(&c, opt, !*arg && (opt == OPT_RNG || opt == OPT_BALLOON ||
						 opt == OPT_DEBUG_EXIT) ? NULL : arg))
			break;
	}
	run_finish_nets(&c);
	free(copy);
	return 0;
}
