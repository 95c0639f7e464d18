// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit img info: the vmdk "Format specific information", as qemu-img 7.2 prints it. */
#include <stdio.h>

#include "img.h"

void img_info_vmdk_human(const struct vk_blk_info *i)
{
	unsigned int k;

	printf("Format specific information:\n");
	printf("    cid: %u\n    parent cid: %u\n    create type: %s\n    extents:\n",
	       i->vmdk_cid, i->vmdk_parent_cid, i->vmdk_create_type);
	for (k = 0; k < i->vmdk_nb_extents; k++) {
		const struct vk_blk_vmdk_extent *e = &i->vmdk_extents[k];

		printf("        [%u]:\n", k);
		if (e->compressed)
			printf("            compressed: true\n");
		printf("            virtual size: %llu\n            filename: %s\n",
		       (unsigned long long)e->virtual_size, e->filename);
		if (e->cluster_size)
			printf("            cluster size: %llu\n", (unsigned long long)e->cluster_size);
		printf("            format: %s\n", e->format);
	}
}

static void str(const char *ind, const char *key, const char *val, bool comma)
{
	printf("%s\"%s\": ", ind, key);
	img_json_str(stdout, val);
	printf("%s\n", comma ? "," : "");
}

void img_info_vmdk_json(const struct vk_blk_info *i, const char *ind)
{
	unsigned int k;
	char in[64], ex[80];

	snprintf(in, sizeof(in), "%s        ", ind);
	snprintf(ex, sizeof(ex), "%s        ", in);
	printf("%s\"format-specific\": {\n%s    \"type\": \"vmdk\",\n%s    \"data\": {\n", ind, ind,
	       ind);
	printf("%s\"cid\": %u,\n%s\"parent-cid\": %u,\n", in, i->vmdk_cid, in, i->vmdk_parent_cid);
	str(in, "create-type", i->vmdk_create_type, true);
	printf("%s\"extents\": [\n", in);
	for (k = 0; k < i->vmdk_nb_extents; k++) {
		const struct vk_blk_vmdk_extent *e = &i->vmdk_extents[k];

		printf("%s    {\n", in);
		if (e->compressed)
			printf("%s\"compressed\": true,\n", ex);
		printf("%s\"virtual-size\": %llu,\n", ex, (unsigned long long)e->virtual_size);
		str(ex, "filename", e->filename, true);
		if (e->cluster_size)
			printf("%s\"cluster-size\": %llu,\n", ex, (unsigned long long)e->cluster_size);
		str(ex, "format", e->format, false);
		printf("%s    }%s\n", in, k + 1 < i->vmdk_nb_extents ? "," : "");
	}
	printf("%s]\n%s    }\n%s},\n", in, ind, ind);
}
