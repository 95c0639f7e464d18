// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img: a drop-in for qemu-img on raw and qcow2 images, with the same
 * commands, options, output and exit codes. One file per command; this one
 * dispatches and holds what they share.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "img.h"
#include "vmkit/blk-backend.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;
} img_commands[] = {
	{ "amend", img_amend, "[-f FMT] [-p] [-q] -o OPTS FILE" },
	{ "bench", img_bench, "[-c COUNT] [-d DEPTH] [-f FMT] [--flush-interval=N] [-i AIO] [-n] [--no-drain] [-o OFFSET] [--pattern=N] [-q] [-s SIZE] [-S STEP] [-t CACHE] [-w] [-U] FILE" },
	{ "bitmap", img_bitmap, "(--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b SRC [-F FMT]] [-g GRANULARITY] [-f FMT] FILE BITMAP" },
	{ "check", img_check, "[-q] [-f FMT] [--output=human|json] [-r leaks|all] [-U] FILE" },
	{ "commit", img_commit, "[-q] [-f FMT] [-t CACHE] [-b BASE] [-d] [-p] FILE" },
	{ "compare", img_compare, "[-f FMT] [-F FMT] [-p] [-q] [-s] [-U] FILE1 FILE2" },
	{ "convert", img_convert, "[-c] [-f FMT] [-O FMT] [-B BACKING -F FMT] [-o OPTS] [-p] [-q] [-n] [-m N] [-W] [-S SIZE] [-U] SRC DST" },
	{ "create", img_create, "[-q] [-f FMT] [-b BACKING [-F FMT]] [-u] [-o OPTS] FILE [SIZE]" },
	{ "dd", img_dd, "[-U] [-f FMT] [-O FMT] [bs=N] [count=N] [skip=N] if=IN of=OUT" },
	{ "info", img_info, "[-f FMT] [--output=human|json] [--backing-chain] [-U] FILE" },
	{ "map", img_map, "[-f FMT] [--output=human|json] [-U] FILE" },
	{ "measure", img_measure, "[--output=human|json] [-O FMT] [-o OPTS] [--size N | [-f FMT] [-U] FILE]" },
	{ "rebase", img_rebase, "[-q] [-f FMT] [-p] [-u] -b BACKING [-F FMT] FILE" },
	{ "resize", img_resize, "[-f FMT] [-q] [--shrink] [--preallocation=MODE] FILE [+|-]SIZE" },
	{ "snapshot", img_snapshot, "[-f FMT] [-q] [-U] [-l | -a NAME | -c NAME | -d NAME] FILE" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: vmkit img [--vmdk-extents-anywhere] COMMAND [OPTIONS]  (qemu-img compatible)\n\n");
	for (i = 0; i < ARRAY_SIZE(img_commands); i++)
		fprintf(f, "  %s %s\n", img_commands[i].name, img_commands[i].args);
	fprintf(f, "\nFormats: %s (created: %s)\n", vk_blk_formats(), vk_blk_creatable_formats());
}

unsigned int img_global_flags;
/* "qemu-img" when run under that name, else "vmkit img": the name the Try hint gives. */
static const char *img_prog = "vmkit img";

int cmd_img(int argc, char **argv)
{
	size_t i;

	if (!strcmp(basename(argv[0]), "qemu-img"))
		img_prog = "qemu-img";

	/* Not a qemu-img option: qemu-img follows a vmdk extent anywhere. */
	while (argc >= 2 && !strcmp(argv[1], "--vmdk-extents-anywhere")) {
		img_global_flags |= VK_BLK_ANY_EXTENTS;
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	if (argc < 2)
		return img_error_try("Not enough arguments");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(img_commands); i++)
		if (!strcmp(argv[1], img_commands[i].name))
			return img_commands[i].fn(argc - 1, argv + 1);
	return img_error_try("Command not found: %s", argv[1]);
}

void img_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vk_vmsg(fmt, ap);
	va_end(ap);
}

int img_error_try(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vk_vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information\n", img_prog);
	return 1;
}

int img_bad_option(int ch, char **argv)
{
	/* qemu-img names argv[optind - 1], whatever getopt stopped in ("-qx" names the one before). */
	if (ch == ':')
		return img_error_try("missing argument for option '%s'", argv[optind - 1]);
	return img_error_try("unrecognized option '%s'", argv[optind - 1]);
}

/* QEMU's warning on opening an image whose bitmaps a program without their support made stale. */
static void warn_stale_bitmaps(bool v2)
{
	if (v2)
		img_error("warning: This qcow2 v2 image contains bitmaps, but they may have been modified by a program without persistent bitmap support; so now they must all be considered inconsistent");
	else
		img_error("warning: a program lacking bitmap support modified this file, so all bitmaps are now considered inconsistent");
	fputs("Some clusters may be leaked, run 'qemu-img check -r' on the image file to fix.", stderr);
}

int img_open(const char *filename, const char *fmt, unsigned int flags, struct vk_blk **out)
{
	struct vk_blk_opts o = { .format = fmt, .flags = flags | img_global_flags };
	struct vk_err err = { 0 };
	const char *msg;
	int r;

	if ((flags & VK_BLK_IMAGE_OPTS) && fmt) {
		img_error("--image-opts and --format are mutually exclusive");
		return -EINVAL;
	}
	r = vk_blk_open(filename, &o, out, &err);
	img_qemu_assert(r, &err);
	msg = img_without_name(err.msg, filename);

	/* As qemu-img: "Could not open 'X': " and the cause. */
	if (r < 0)
		img_error("Could not open '%s': %s", filename, msg[0] ? msg : strerror(-r));
	else if (flags & VK_BLK_RDWR)
		img_warn_probed(*out);
	if (r >= 0 && vk_blk_bitmaps_stale(*out))
		warn_stale_bitmaps(vk_blk_bitmaps_stale(*out) == 2);
	return r;
}

void img_qemu_assert(int r, const struct vk_err *err)
{
	const char *nl = strchr(err->msg, '\n');

	if (r != -ENOTRECOVERABLE || !nl)
		return;
	fprintf(stderr, "%.*s\n", (int)(nl - err->msg), err->msg);
	img_error("%s", nl + 1);
	abort();
}

void img_warn_probed(struct vk_blk *bs)
{
	if (bs->probed)
		fprintf(stderr, "WARNING: Image format was not specified for '%s' and probing guessed raw.\n"
			"         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n"
			"         Specify the 'raw' format explicitly to remove the restrictions.\n",
			bs->display ? bs->display : bs->filename);
}

/* qemu-img's two lines for a size it cannot parse ("image size", "start offset", ...). */
void img_bad_size(const char *what)
{
	img_error("Invalid %s specified. You may use k, M, G, T, P or E suffixes for", what);
	img_error("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
}

/* The hint QemuOpts prints after a size option it cannot parse (no program name). */
void img_size_suffix_hint(void)
{
	fprintf(stderr, "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
			"and exabytes, respectively.\n");
}

const char *img_without_name(const char *msg, const char *name)
{
	size_t n = strlen(name);

	return !strncmp(msg, name, n) && !strncmp(msg + n, ": ", 2) ? msg + n + 2 : msg;
}

void img_size_str(uint64_t v, char *buf, size_t len)
{
	static const char *const suffixes[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
	int i;

	/* The largest unit for which v stays under 1000 of them (rounding aside), as QEMU. */
	for (i = 0; i < 6 && (double)v * 1.024 >= (double)(1ULL << (10 * (i + 1))); i++)
		;
	snprintf(buf, len, "%0.3g %sB", (double)v / (double)(1ULL << (i * 10)), suffixes[i]);
}

void img_json_str(FILE *f, const char *s)
{
	vk_json_str(f, s);
}

int img_parse_size(const char *s, uint64_t *out)
{
	return vk_parse_img_size(s, out);
}

void img_progress(struct img_progress *p, double pct)
{
	if (!p->on || (pct - p->last < 1.0 && pct != 0.0 && pct < 100.0))
		return;
	p->last = pct;
	printf("    (%0.2f/100%%)\r", pct);
	fflush(stdout);
}

void img_progress_end(struct img_progress *p)
{
	if (!p->on)
		return;
	printf("    (100.00/100%%)\r\n");
	fflush(stdout);
}

bool img_output_and_one_file(const char *output, int argc, int optind)
{
	if (strcmp(output, "human") && strcmp(output, "json")) {
		img_error("--output must be used with human or json as argument.");
		return false;
	}
	if (optind != argc - 1) {
		img_error_try("Expecting one image file name");
		return false;
	}
	return true;
}

bool img_cache_mode_known(const char *mode)
{
	return blk_cache_parse(mode) >= 0;
}

int img_cache_unsafe(const char *mode, bool *unsafe)
{
	if (!img_cache_mode_known(mode)) {
		img_error("Invalid cache option: %s", mode);
		return -EINVAL;
	}
	*unsafe = !strcmp(mode, "unsafe");
	return 0;
}

void img_remove_partial(const char *path)
{
	struct stat st;

	/* Only a regular file this command created: never a device or an existing image. */
	if (!stat(path, &st) && S_ISREG(st.st_mode))
		unlink(path);
}
