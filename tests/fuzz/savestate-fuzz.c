// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the VM state stream reader (lib/util/savestate.c):
 * what `vmkit restore` and an incoming migration read from a file or a
 * socket. The input's last four bytes are replaced by its CRC-32 before
 * parsing, so that the fuzzer explores the records rather than the
 * checksum (the unit test shows a wrong CRC is refused). A stream that
 * parses is then queried as the devices query it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "vmkit/savestate.h"

static void query(const struct ss_reader *r)
{
	static const char *const sections[] = { "serial", "rtc", "dev", "cpu" };
	static const char *const fields[] = { "ier", "rx", "cmos", "index", "x", "blob" };
	uint8_t buf[256];
	struct vk_err err = { 0 };
	const struct ss_section *s;
	uint64_t v;
	unsigned int i, j, inst;

	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		for (inst = 0; inst < 2; inst++) {
			s = ss_find(r, sections[i], inst);
			if (!s)
				continue;
			(void)ss_section_version(s);
			for (j = 0; j < sizeof(fields) / sizeof(fields[0]); j++) {
				ss_get_u64(s, fields[j], &v, &err);
				ss_get_bytes(s, fields[j], buf, 3, &err);
				ss_get_bytes(s, fields[j], buf, 128, &err);
			}
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vk_err err = { 0 };
	struct ss_reader *r;
	uint8_t *copy;
	uint32_t crc;

	if (size < 4)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	crc = htole32((uint32_t)crc32(0, copy, (uInt)(size - 4)));
	memcpy(copy + size - 4, &crc, 4);
	if (!ss_parse(&r, copy, size, &err)) {
		query(r);
		ss_reader_free(r);
	}
	free(copy);
	return 0;
}
