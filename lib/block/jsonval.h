/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON values as QEMU's block layer reads and writes them in json: file
 * names: its parser's extensions ('single-quoted' strings) and error words,
 * and its writer's layout ({"a": 1, "b": "x"}) with objects in QDict order.
 */
#ifndef VMKIT_BLOCK_JSONVAL_H
#define VMKIT_BLOCK_JSONVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmkit/util.h"

enum vk_jv_type { VK_JV_NULL, VK_JV_BOOL, VK_JV_INT, VK_JV_UINT, VK_JV_DOUBLE, VK_JV_STR,
		  VK_JV_OBJ, VK_JV_ARR };

struct vk_jv {
	enum vk_jv_type type;
	bool b;
	int64_t i;
	uint64_t u;
	double d;
	char *s;
	/* Objects (keys[k] names items[k]) and arrays, in the order written. */
	size_t n;
	char **keys;
	struct vk_jv **items;
};

/* One JSON value, all of text; err->msg in QEMU's words ("JSON parse error, ..."). */
int vk_jv_parse(const char *text, struct vk_jv **out, struct vk_err *err);
void vk_jv_free(struct vk_jv *v);
struct vk_jv *vk_jv_new(enum vk_jv_type type);
/* Add key (copied) to an object, taking v; the last one added is written first in a tie. */
int vk_jv_put(struct vk_jv *obj, const char *key, struct vk_jv *v);
struct vk_jv *vk_jv_get(const struct vk_jv *obj, const char *key);
struct vk_jv *vk_jv_copy(const struct vk_jv *v);
/* As qobject_to_json: compact, ", " and ": ", object members in QDict order. */
void vk_jv_write(FILE *f, const struct vk_jv *v);

#endif
