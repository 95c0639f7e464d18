// SPDX-License-Identifier: GPL-2.0-or-later
/* The BIOS linker/loader script (include/vmkit/bios-linker.h). */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/bios-linker.h"

static struct bios_linker_entry *add(struct bios_linker *l, uint32_t command)
{
	struct bios_linker_entry *e;

	if (l->error)
		return NULL;
	if (l->nr == l->cap) {
		unsigned int cap = l->cap ? 2 * l->cap : 16;

		e = realloc(l->e, cap * sizeof(*e));
		if (!e) {
			l->error = -ENOMEM;
			return NULL;
		}
		l->e = e;
		l->cap = cap;
	}
	e = &l->e[l->nr++];
	memset(e, 0, sizeof(*e));
	e->command = htole32(command);
	return e;
}

/* Copy a file name into a command; a name that does not fit fails the script. */
static void put_name(struct bios_linker *l, char *dst, const char *name)
{
	if (strlen(name) >= BIOS_LINKER_FILE_LEN) {
		l->error = -EINVAL;
		return;
	}
	strcpy(dst, name);
}

void bios_linker_alloc(struct bios_linker *l, const char *file, uint32_t align, uint8_t zone)
{
	struct bios_linker_entry *e = add(l, BIOS_LINKER_ALLOCATE);

	if (!e)
		return;
	put_name(l, e->alloc.file, file);
	e->alloc.align = htole32(align);
	e->alloc.zone = zone;
}

void bios_linker_add_pointer(struct bios_linker *l, const char *dest, uint32_t offset,
			     uint8_t size, const char *src)
{
	struct bios_linker_entry *e = add(l, BIOS_LINKER_ADD_POINTER);

	if (!e)
		return;
	put_name(l, e->pointer.dest_file, dest);
	put_name(l, e->pointer.src_file, src);
	e->pointer.offset = htole32(offset);
	e->pointer.size = size;
}

void bios_linker_add_checksum(struct bios_linker *l, const char *file, uint32_t start,
			      uint32_t length, uint32_t offset)
{
	struct bios_linker_entry *e = add(l, BIOS_LINKER_ADD_CHECKSUM);

	if (!e)
		return;
	put_name(l, e->cksum.file, file);
	e->cksum.offset = htole32(offset);
	e->cksum.start = htole32(start);
	e->cksum.length = htole32(length);
}

void bios_linker_free(struct bios_linker *l)
{
	free(l->e);
	*l = (struct bios_linker){ 0 };
}
