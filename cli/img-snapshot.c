// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img snapshot: -c create, -l list, -a apply, -d delete internal
 * snapshots, with qemu-img's table; and the snapshot parts of `info`.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "img.h"

/* One row (or the header, sn == NULL) as qemu's bdrv_snapshot_dump lays it out. */
static void dump_row(const struct vk_blk_snapshot *sn)
{
	char date[64], clock[64], size[32], icount[32] = "";
	uint64_t secs;
	time_t t;
	struct tm tm;

	if (!sn) {
		printf("%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK",
		       "ICOUNT");
		return;
	}
	t = (time_t)sn->date_sec;
	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	secs = sn->vm_clock_nsec / 1000000000;
	snprintf(clock, sizeof(clock), "%02d:%02d:%02d.%03d", (int)(secs / 3600),
		 (int)((secs / 60) % 60), (int)(secs % 60),
		 (int)((sn->vm_clock_nsec / 1000000) % 1000));
	img_size_str(sn->vm_state_size, size, sizeof(size));
	if (sn->icount >= 0)
		snprintf(icount, sizeof(icount), "%lld", (long long)sn->icount);
	printf("%-9s %-16s %8s%20s%13s%11s\n", sn->id, sn->name, size, date, clock, icount);
}

void img_print_snapshots(struct vk_blk *bs)
{
	struct vk_blk_snapshot *sn = NULL;
	struct vk_err err = { 0 };
	unsigned int n = 0, i;

	if (vk_blk_snapshot_list(bs, &sn, &n, &err) < 0 || !n) {
		free(sn);
		return;
	}
	printf("Snapshot list:\n");
	dump_row(NULL);
	for (i = 0; i < n; i++)
		dump_row(&sn[i]);
	free(sn);
}

/* The "snapshots" array of info --output=json, keys in qemu-img 7.2's order. */
void img_json_snapshots(struct vk_blk *bs, const char *ind)
{
	struct vk_blk_snapshot *sn = NULL;
	struct vk_err err = { 0 };
	unsigned int n = 0, i;

	if (vk_blk_snapshot_list(bs, &sn, &n, &err) < 0 || !n) {
		free(sn);
		return;
	}
	printf("%s\"snapshots\": [\n", ind);
	for (i = 0; i < n; i++) {
		printf("%s    {\n", ind);
		if (sn[i].icount >= 0)
			printf("%s        \"icount\": %lld,\n", ind, (long long)sn[i].icount);
		printf("%s        \"vm-clock-nsec\": %llu,\n", ind,
		       (unsigned long long)(sn[i].vm_clock_nsec % 1000000000));
		printf("%s        \"name\": ", ind);
		img_json_str(stdout, sn[i].name);
		printf(",\n%s        \"date-sec\": %llu,\n", ind, (unsigned long long)sn[i].date_sec);
		printf("%s        \"date-nsec\": %llu,\n", ind, (unsigned long long)sn[i].date_nsec);
		printf("%s        \"vm-clock-sec\": %llu,\n", ind,
		       (unsigned long long)(sn[i].vm_clock_nsec / 1000000000));
		printf("%s        \"id\": ", ind);
		img_json_str(stdout, sn[i].id);
		printf(",\n%s        \"vm-state-size\": %llu\n", ind,
		       (unsigned long long)sn[i].vm_state_size);
		printf("%s    }%s\n", ind, i + 1 < n ? "," : "");
	}
	printf("%s],\n", ind);
	free(sn);
}

enum { SN_LIST = 1, SN_CREATE, SN_APPLY, SN_DELETE };

static const struct option snapshot_long[] = {
	{ "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
	{ "force-share", no_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static int act(struct vk_blk *bs, int action, const char *name)
{
	struct vk_err err = { 0 };
	const char *what;
	int r;

	switch (action) {
	case SN_LIST:
		img_print_snapshots(bs);
		return 0;
	case SN_CREATE:
		what = "create";
		r = vk_blk_snapshot_create(bs, name, &err);
		break;
	case SN_APPLY:
		what = "apply";
		r = vk_blk_snapshot_goto(bs, name, &err);
		break;
	default:
		what = "delete";
		r = vk_blk_snapshot_delete(bs, NULL, name, &err);
		break;
	}
	if (r < 0) {
		img_error("Could not %s snapshot '%s': %s", what, name, err.msg);
		return 1;
	}
	return 0;
}

int img_snapshot(int argc, char **argv)
{
	const char *fmt = NULL, *name = NULL;
	unsigned int flags = 0;	/* qemu-img opens the backing chain, and fails on a missing one */
	struct vk_blk *bs;
	int ch, action = 0, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":la:c:d:f:hqU", snapshot_long, NULL)) != -1) {
		int want = ch == 'l' ? SN_LIST : ch == 'c' ? SN_CREATE : ch == 'a' ? SN_APPLY :
			   ch == 'd' ? SN_DELETE : 0;

		if (want) {
			if (action) {
				return img_error_try("Cannot mix '-l', '-a', '-c', '-d'");
			}
			action = want;
			name = want == SN_LIST ? NULL : optarg;
			continue;
		}
		switch (ch) {
		case 'f': fmt = optarg; break;
		case IMG_OPT_IMAGE_OPTS: flags |= VK_BLK_IMAGE_OPTS; break;
		case 'q': break;
		case 'U': flags |= VK_BLK_FORCE_SHARE; break;
		case 'h': printf("usage: vmkit img snapshot [-f FMT] [-q] [-U] [-l | -a NAME | -c NAME | -d NAME] FILE\n"); return 0;
		default: return img_bad_option(ch, argv);
		}
	}
	if (optind != argc - 1) {
		img_error_try("Expecting one image file name");
		return 1;
	}
	if (action != SN_LIST && action)
		flags |= VK_BLK_RDWR;
	if ((flags & VK_BLK_RDWR) && (flags & VK_BLK_FORCE_SHARE)) {
		img_error("force-share=on can only be used with read-only images");
		return 1;
	}
	if (img_open(argv[optind], fmt, flags, &bs) < 0)
		return 1;
	r = action ? act(bs, action, name) : 0;
	vk_blk_close(bs);
	return r;
}
