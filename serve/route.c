// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The API's routes: method, path pattern, handler. A "{}" segment captures
 * one name, which must be a valid vmkit name (letters, digits, '.', '_',
 * '-', not first, < 64): a path with "../" or "%2F" in a name never reaches
 * a handler. serve/API.md describes each.
 */
#include <string.h>

#include "serve.h"

static const struct route routes[] = {
	{ M_POST, "/api/access/ticket", api_ticket_post, R_PUBLIC, "Log in: a ticket cookie and CSRF token" },
	{ M_GET, "/api/access/ticket", api_ticket_get, 0, "Who is logged in" },
	{ M_POST, "/api/access/logout", api_logout, R_PUBLIC, "Log out (clears the cookie)" },
	{ M_GET, "/api/openapi.json", api_openapi, R_PUBLIC, "This API as OpenAPI 3" },
	{ M_GET, "/api/node/status", api_node_status, 0, "Host status" },
	{ M_GET, "/api/tasks", api_tasks, 0, "Tasks, newest first" },
	{ M_GET, "/api/tasks/{}", api_task, 0, "One task with its log" },

	{ M_GET, "/api/vms", api_vm_list, 0, "VMs with state and live figures" },
	{ M_POST, "/api/vms", api_vm_create, 0, "Create a VM (as vmkit create)" },
	{ M_GET, "/api/vms/{}", api_vm_get, 0, "A VM's definition and state" },
	{ M_DELETE, "/api/vms/{}", api_vm_delete, 0, "Delete a VM (?purge=1: its volumes too)" },
	{ M_PUT, "/api/vms/{}/config", api_vm_config, 0, "Set (or with null delete) definition keys" },
	{ M_GET, "/api/vms/{}/status/current", api_vm_current, 0, "A VM's state and live figures" },
	{ M_POST, "/api/vms/{}/status/{}", api_vm_action, 0,
	  "start, stop, shutdown, reboot, pause or resume" },
	{ M_POST, "/api/vms/{}/clone", api_vm_clone, 0, "Clone (linked unless full)" },
	{ M_POST, "/api/vms/{}/template", api_vm_template, 0, "Make the VM a template" },
	{ M_POST, "/api/vms/{}/migrate", api_vm_migrate, 0,
	  "Move the running VM to another host, live (as vmkit migrate)" },
	{ M_POST, "/api/vms/{}/balloon", api_vm_balloon, 0, "Set the balloon target" },
	{ M_POST, "/api/vms/{}/backup", api_vm_backup, 0,
	  "Back up the VM (running or not) into a pool's dump/ (as vzdump)" },
	{ M_GET, "/api/pools/{}/backups", api_backup_list, 0, "The backups in a pool's dump/" },
	{ M_POST, "/api/backups/restore", api_backup_restore, 0,
	  "Define a VM from a backup in a pool (as qmrestore)" },
	{ M_GET, "/api/vms/{}/snapshots", api_snap_list, 0, "Snapshots (disks, and RAM with vmstate)" },
	{ M_POST, "/api/vms/{}/snapshots", api_snap_create, 0, "Take a snapshot" },
	{ M_POST, "/api/vms/{}/snapshots/{}/rollback", api_snap_rollback, 0, "Revert to a snapshot" },
	{ M_DELETE, "/api/vms/{}/snapshots/{}", api_snap_delete, 0, "Delete a snapshot" },
	{ M_GET, "/api/vms/{}/console", NULL, R_WEBSOCKET, "WebSocket: the serial/virtio console" },
	{ M_GET, "/api/vms/{}/vnc", NULL, R_WEBSOCKET, "WebSocket: the graphical console (VNC)" },

	{ M_GET, "/api/pools", api_pool_list, 0, "Storage pools" },
	{ M_POST, "/api/pools", api_pool_create, 0, "Define a pool" },
	{ M_GET, "/api/pools/{}", api_pool_get, 0, "One pool" },
	{ M_DELETE, "/api/pools/{}", api_pool_delete, 0, "Remove a pool's definition" },
	{ M_POST, "/api/pools/{}/start", api_pool_action, 0, "Activate a pool" },
	{ M_POST, "/api/pools/{}/stop", api_pool_action, 0, "Deactivate a pool" },
	{ M_GET, "/api/pools/{}/volumes", api_vol_list, 0, "A pool's volumes" },
	{ M_POST, "/api/pools/{}/volumes", api_vol_create, 0, "Create a volume" },
	{ M_DELETE, "/api/pools/{}/volumes/{}", api_vol_delete, 0, "Delete a volume" },
	{ M_POST, "/api/pools/{}/upload", NULL, R_RAW_BODY, "Upload a file (?filename=NAME), raw body" },

	{ M_GET, "/api/networks", api_net_list, 0, "Networks" },
	{ M_POST, "/api/networks", api_net_create, 0, "Define a network" },
	{ M_DELETE, "/api/networks/{}", api_net_delete, 0, "Remove a network" },
	{ M_POST, "/api/networks/{}/start", api_net_action, 0, "Start a network" },
	{ M_POST, "/api/networks/{}/stop", api_net_action, 0, "Stop a network" },
	{ 0, NULL, NULL, 0, NULL },
};

const struct route *route_table(void)
{
	return routes;
}

const char *method_name(enum http_method m)
{
	static const char *const names[] = { "GET", "POST", "PUT", "DELETE", "OTHER" };

	return names[m];
}

static bool name_ok(const char *p, size_t n)
{
	size_t i;

	if (!n || n >= MGMT_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (i && (c == '.' || c == '_' || c == '-'))))
			return false;
	}
	return true;
}

/* Match path against pattern, capturing {} segments into arg. */
static bool match(const char *pat, const char *path, char arg[3][MGMT_NAME_MAX])
{
	unsigned int na = 0;

	while (*pat && *path) {
		if (pat[0] == '{' && pat[1] == '}') {
			size_t n = strcspn(path, "/");

			if (na >= 3 || !name_ok(path, n))
				return false;
			memcpy(arg[na], path, n);
			arg[na++][n] = 0;
			path += n;
			pat += 2;
			continue;
		}
		if (*pat++ != *path++)
			return false;
	}
	/* A trailing slash is the same path. */
	return !*pat && (!*path || !strcmp(path, "/"));
}

const struct route *route_find(enum http_method m, const char *path, char arg[3][MGMT_NAME_MAX],
			       bool *path_known)
{
	const struct route *r;

	*path_known = false;
	for (r = routes; r->pattern; r++) {
		if (!match(r->pattern, path, arg))
			continue;
		if (r->method == m)
			return r;
		*path_known = true;
	}
	return NULL;
}
