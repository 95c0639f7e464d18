// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit migrate NAME HOST (issue 15), as `qm migrate --online` and `virsh
 * migrate --live`: the running VM and its definition move to HOST.
 *
 * A remote shell (ssh, or VMKIT_MIGRATE_RSH) runs `vmkit migrate-incoming
 * NAME` on HOST, and the two talk over its stdin and stdout:
 *   here -> there   "DEF <bytes> <disks> <tls>\n" and the definition
 *   there -> here   "PORT <n>\n" once the VM is defined and its monitor
 *                   waits (vmkit run --incoming tcp:0:<n>), or "ERROR <why>\n"
 *   here -> there   "OK\n" once the migration completed, else "FAIL\n"
 *   there -> here   "DONE\n"
 * On OK the monitor here quits and the definition here is removed; on FAIL
 * (or a lost connection) the one there is removed and its monitor stopped,
 * and the VM runs on here. The pools of the definition must exist there too.
 *
 * Disks are on storage both hosts see under the same paths (shared
 * storage), or, with local disks (Proxmox's --with-local-disks), copied
 * with the RAM (QMP migrate "blk"): then "DEF <bytes> <n>" is followed by n
 * lines "DISK <key> <format> <bytes>", and there each disk is made anew,
 * empty, where the definition puts it (it must not exist there); on OK the
 * disks here are deleted with the definition, on FAIL the new ones there.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <netinet/in.h>

#include "vmkit/block.h"
#include "vmkit/mgmt-ops.h"
#include "vmkit/migrate.h"

#define DEF_MAX		(1u << 20)
#define MAX_DISKS	32
#define PORT_FIRST	49152
#define PORT_TRIES	200

/* ---- there ---- */

/* A port free now on every address: the monitor binds it a moment later (a race it reports). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	unsigned int i, seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	int fd, port;

	for (i = 0; i < PORT_TRIES; i++) {
		port = PORT_FIRST + (int)(rand_r(&seed) % 16000);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		a.sin_port = htons(port);
		if (!bind(fd, (struct sockaddr *)&a, sizeof(a))) {
			close(fd);
			return port;
		}
		close(fd);
	}
	return -EADDRINUSE;
}

struct disk_line {
	char key[32], format[16];
	unsigned long long size;
};

static int read_def(FILE *in, char **text, struct disk_line *disks, unsigned int *ndisks,
		    bool *tls, struct vk_err *err)
{
	char line[160];
	unsigned long n;
	unsigned int i, nd = 0, t = 0;

	if (!fgets(line, sizeof(line), in) || sscanf(line, "DEF %lu %u %u", &n, &nd, &t) < 1 ||
	    n > DEF_MAX || nd > MAX_DISKS)
		return vk_fail(err, -EPROTO, "migrate-incoming: no definition on standard input");
	*tls = t == 1;
	*text = calloc(1, n + 1);
	if (!*text)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (fread(*text, 1, n, in) != n) {
		free(*text);
		return vk_fail(err, -EPROTO, "migrate-incoming: the definition was cut short");
	}
	for (i = 0; i < nd; i++) {
		struct disk_line *d = &disks[i];

		if (!fgets(line, sizeof(line), in) ||
		    sscanf(line, "DISK %31s %15s %llu", d->key, d->format, &d->size) != 3 ||
		    !vm_drive_key(d->key) || !vk_blk_format_creatable(d->format)) {
			free(*text);
			return vk_fail(err, -EPROTO, "migrate-incoming: a damaged DISK line");
		}
	}
	*ndisks = nd;
	return 0;
}

/*
 * Local disks: each disk of the definition made here, empty, of the size
 * and format the source's has; none may be here already (that is shared
 * storage, migrated without copying).
 */
static int make_disks(const char *name, const struct disk_line *disks, unsigned int nd,
		      struct vk_err *err)
{
	struct vm_def d;
	unsigned int i, k, made = 0;
	char ref[PATH_MAX], file[PATH_MAX], (*files)[PATH_MAX] = calloc(MAX_DISKS, PATH_MAX);
	int ret = files ? vm_load(name, &d, err) : vk_fail(err, -ENOMEM, "out of memory");

	if (!files)
		return ret;
	for (i = 0; i < d.n && !ret; i++) {
		const char *val = d.kv[i].val;

		if (!vm_disk_entry(d.kv[i].key, val))
			continue;
		for (k = 0; k < nd && strcmp(disks[k].key, d.kv[i].key); k++)
			;
		if (k == nd) {
			ret = vk_fail(err, -EPROTO, "%s: not among the disks the source sends",
				      d.kv[i].key);
			break;
		}
		snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(val, ","), val);
		ret = vol_resolve(ref, false, file, err);
		if (!ret && !access(file, F_OK))
			ret = vk_fail(err, -EEXIST, "%s: %s exists on this host (shared storage? then "
				      "migrate without --with-local-disks)", d.kv[i].key, ref);
		if (!ret && made == MAX_DISKS)
			ret = vk_fail(err, -E2BIG, "more than %d disks", MAX_DISKS);
		if (!ret)
			ret = vol_create_file(file, disks[k].format, disks[k].size, NULL, NULL, err);
		if (!ret)
			snprintf(files[made++], PATH_MAX, "%s", file);
	}
	if (!ret && made != nd)
		ret = vk_fail(err, -EPROTO, "the source sends %u disks, the definition has %u", nd,
			      made);
	/* Only what was made here goes again: a file that was here is never touched. */
	while (ret && made)
		unlink(files[--made]);
	vm_def_free(&d);
	free(files);
	return ret;
}

/* The VM defined here from text, which must name it as the source does. */
static int define(const char *name, const char *text, struct vk_err *err)
{
	char got[MGMT_NAME_MAX];
	struct vm_def d;
	int ret;

	if (vm_exists(name))
		return vk_fail(err, -EEXIST, "VM '%s' exists on this host already", name);
	ret = vm_def_parse(text, "the migrating VM's definition", &d, err);
	if (ret)
		return ret;
	if (strcmp(d.name, name))
		ret = vk_fail(err, -EINVAL, "the definition is VM '%s's, not '%s's", d.name, name);
	vm_def_free(&d);
	return ret ? ret : vm_define(text, "the migrating VM's definition", got, err);
}

int vm_migrate_incoming(const char *name, FILE *in, FILE *out, struct vk_err *err)
{
	char uri[64], line[32], *text = NULL;
	struct vk_err ignored = { 0 };
	struct disk_line disks[MAX_DISKS];
	unsigned int nd = 0;
	char tls_dir[PATH_MAX];
	bool defined = false, tls = false;
	int ret, port;

	ret = mgmt_check_name("VM", name, err);
	if (!ret)
		ret = read_def(in, &text, disks, &nd, &tls, err);
	/* Both ends alike, said before anything is made here. */
	if (!ret && tls && !vm_tls_dir(tls_dir))
		ret = vk_fail(err, -EACCES, "the source migrates over TLS, and this host has no "
			      "credentials (%s/ca-cert.pem, server-cert.pem, server-key.pem)",
			      tls_dir);
	if (!ret && !tls && vm_tls_dir(tls_dir))
		ret = vk_fail(err, -EACCES, "this host takes migrations over TLS only (%s), and "
			      "the source has no credentials", tls_dir);
	if (!ret)
		ret = define(name, text, err);
	defined = !ret;
	free(text);
	if (!ret && nd)
		ret = make_disks(name, disks, nd, err);	/* on failure it removed what it made */
	if (ret) {
		if (defined)
			vm_delete(name, false, &ignored);
		fprintf(out, "ERROR %s\n", err->msg);
		fflush(out);
		return ret;
	}
	port = free_port();
	ret = port < 0 ? vk_fail(err, port, "no free port: %s", strerror(-port)) : 0;
	snprintf(uri, sizeof(uri), "tcp:0:%d", port);
	if (!ret)
		ret = vm_start_incoming(name, uri, err);
	if (ret) {
		vm_delete(name, nd > 0, &ignored);
		fprintf(out, "ERROR %s\n", err->msg);
		fflush(out);
		return ret;
	}
	fprintf(out, "PORT %d\n", port);
	fflush(out);
	if (fgets(line, sizeof(line), in) && !strcmp(line, "OK\n")) {
		fprintf(out, "DONE\n");
		fflush(out);
		return 0;
	}
	/* FAIL, or the other side is gone: this copy must not run. */
	mgmt_vm_destroy(name, &ignored);
	vm_wait_stopped(name, 10);
	vm_delete(name, nd > 0, &ignored);
	return vk_fail(err, -ECANCELED, "the migration of VM '%s' failed: removed here again",
		       name);
}

/* ---- here ---- */

struct rsh {
	pid_t pid;
	FILE *to, *from;
};

/* RSH HOST vmkit migrate-incoming NAME, its stdin and stdout ours. */
static int rsh_start(struct rsh *r, const char *host, const char *name, struct vk_err *err)
{
	const char *env = getenv("VMKIT_MIGRATE_RSH");
	char *cmd = strdup(env && *env ? env : "ssh"), *argv[40], *tok, *save = NULL;
	int in[2], out[2], n = 0;

	if (!cmd)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (tok = strtok_r(cmd, " ", &save); tok && n < 34; tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n++] = (char *)host;
	argv[n++] = "vmkit";
	argv[n++] = "migrate-incoming";
	argv[n++] = (char *)name;
	argv[n] = NULL;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		free(cmd);
		return vk_fail(err, -errno, "pipe: %s", strerror(errno));
	}
	fflush(NULL);
	r->pid = fork();
	if (r->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execvp(argv[0], argv);
		fprintf(stderr, "vmkit: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	free(cmd);
	close(in[0]);
	close(out[1]);
	if (r->pid < 0) {
		close(in[1]);
		close(out[0]);
		return vk_fail(err, -errno, "fork: %s", strerror(errno));
	}
	r->to = fdopen(in[1], "w");
	r->from = fdopen(out[0], "r");
	if (!r->to || !r->from)
		return vk_fail(err, -ENOMEM, "out of memory");
	return 0;
}

static void rsh_end(struct rsh *r)
{
	if (r->to)
		fclose(r->to);
	if (r->from)
		fclose(r->from);
	if (r->pid > 0)
		waitpid(r->pid, NULL, 0);
}

/*
 * A host name or address, nothing else: it goes to ssh as an argument, where
 * a leading '-' would be an option (-oProxyCommand=...).
 */
int vm_migrate_check_host(const char *host, struct vk_err *err)
{
	size_t n = strlen(host);

	if (!n || n > 253 || host[0] == '-' ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]_") != n)
		return vk_fail(err, -EINVAL, "'%s' is not a host name or address", host);
	return 0;
}

/* The host's address as numbers: the monitor, in its sandbox, resolves nothing. */
static int host_address(const char *host, char *out, size_t len, struct vk_err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int r = getaddrinfo(host, NULL, &hints, &ai);

	if (r)
		return vk_fail(err, -EHOSTUNREACH, "%s: %s", host, gai_strerror(r));
	if (ai->ai_family == AF_INET6) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, a, sizeof(a));
		snprintf(out, len, "[%s]", a);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, out, len);
	}
	freeaddrinfo(ai);
	return 0;
}

/* query-migrate until it ends: 0 completed, else its error-desc in err. */
static int follow(const char *name, FILE *progress, struct vk_err *err)
{
	const struct timespec tick = { 0, 100 * 1000000L };
	char *ret = NULL;
	int r, rounds = 0;

	for (;;) {
		json_object *o, *v;
		const char *st;

		r = vm_qmp_call(name, "query-migrate", NULL, &ret, err);
		if (r)
			return r;
		o = json_tokener_parse(ret);
		free(ret);
		st = json_object_object_get_ex(o, "status", &v) ? json_object_get_string(v) : "";
		if (!strcmp(st, "completed")) {
			json_object_put(o);
			return 0;
		}
		if (!strcmp(st, "failed") || !strcmp(st, "cancelled")) {
			r = vk_fail(err, -EIO, "migration %s: %s", st,
				    json_object_object_get_ex(o, "error-desc", &v) ?
				    json_object_get_string(v) : "(no reason given)");
			json_object_put(o);
			return r;
		}
		if (progress && !(++rounds % 10) && json_object_object_get_ex(o, "ram", &v)) {
			json_object *t, *tot;

			if (json_object_object_get_ex(v, "transferred", &t) &&
			    json_object_object_get_ex(v, "total", &tot))
				fprintf(progress, "migrating: %lld of %lld MiB sent\n",
					(long long)(json_object_get_int64(t) >> 20),
					(long long)(json_object_get_int64(tot) >> 20));
		}
		json_object_put(o);
		nanosleep(&tick, NULL);
	}
}

/* "DISK <key> <format> <bytes>" for each of the VM's disks, into buf. */
static int disk_lines(const struct vm_def *d, char *buf, size_t len, unsigned int *n,
		      struct vk_err *err)
{
	unsigned int i;
	size_t at = 0;
	int ret = 0;

	*n = 0;
	buf[0] = 0;
	for (i = 0; i < d->n && !ret; i++) {
		struct vk_blk_opts o = { .flags = VK_BLK_FORCE_SHARE | VK_BLK_NO_BACKING };
		char ref[PATH_MAX], file[PATH_MAX];
		struct vk_blk_info info;
		struct vk_blk *bs;

		if (!vm_disk_entry(d->kv[i].key, d->kv[i].val))
			continue;
		snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(d->kv[i].val, ","), d->kv[i].val);
		ret = vol_resolve(ref, true, file, err);
		if (!ret)
			ret = vk_blk_open(file, &o, &bs, err);
		if (ret)
			break;
		vk_blk_get_info(bs, &info);
		/* The destination makes an image of the same format to copy into. */
		if (!vk_blk_format_creatable(info.format))
			ret = vk_fail(err, -ENOTSUP, "%s: a %s image; local disks are copied into %s "
				      "ones", d->kv[i].key, info.format, vk_blk_creatable_formats());
		else if (*n == MAX_DISKS)
			ret = vk_fail(err, -E2BIG, "more than %d disks", MAX_DISKS);
		else
			at += (size_t)snprintf(buf + at, len - at, "DISK %s %s %llu\n", d->kv[i].key,
					       info.format, (unsigned long long)vk_blk_length(bs));
		(*n)++;
		vk_blk_close(bs);
	}
	if (!ret && at >= len)
		ret = vk_fail(err, -E2BIG, "too many disks");
	return ret;
}

/*
 * Over TLS if this host has credentials: the monitor must have been
 * started with them. The destination's certificate must name HOST as the
 * user wrote it (a DNS name, or an address); host is checked, no quotes.
 */
static int set_tls(const char *name, const char *host, bool *tls, struct vk_err *err)
{
	char dir[PATH_MAX], args[400];
	size_t n = strlen(host);
	int r;

	*tls = vm_tls_dir(dir);
	if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (*tls)
		snprintf(args, sizeof(args), "{\"tls-creds\":\"%s\",\"tls-hostname\":\"%.*s\"}",
			 MIGRATE_TLS_ID, (int)n, host);
	else
		snprintf(args, sizeof(args), "{\"tls-creds\":\"\"}");
	r = vm_qmp_call(name, "migrate-set-parameters", args, NULL, err);
	if (r && *tls)
		return vk_fail(err, r, "VM '%s' was started before this host had TLS credentials "
			       "(%s): restart it to migrate it over TLS", name, dir);
	return r;
}

int vm_migrate(const char *name, const char *host, bool local_disks, FILE *progress,
	       struct vk_err *err)
{
	struct rsh r = { 0 };
	struct vm_status st;
	struct vm_def d;
	char addr[INET6_ADDRSTRLEN + 2], line[1200], args[160], *text = NULL;
	char disks[MAX_DISKS * 96];
	unsigned int nd = 0;
	bool tls = false;
	int ret, port;

	ret = vm_migrate_check_host(host, err);
	if (!ret)
		ret = vm_require_running(name, &st, err);
	if (!ret)
		ret = host_address(host, addr, sizeof(addr), err);
	if (!ret)
		ret = vm_load(name, &d, err);
	if (ret)
		return ret;
	if (local_disks)
		ret = disk_lines(&d, disks, sizeof(disks), &nd, err);
	if (!ret && local_disks && !nd)
		ret = vk_fail(err, -ENOENT, "VM '%s' has no disks to copy", name);
	text = ret ? NULL : vm_def_format(&d);
	vm_def_free(&d);
	if (!ret)
		ret = set_tls(name, host, &tls, err);
	if (ret) {
		free(text);
		return ret;
	}
	if (!text)
		return vk_fail(err, -ENOMEM, "out of memory");
	ret = rsh_start(&r, host, name, err);
	if (!ret) {
		fprintf(r.to, "DEF %zu %u %d\n%s%s", strlen(text), nd, tls, text, nd ? disks : "");
		fflush(r.to);
		if (!fgets(line, sizeof(line), r.from))
			ret = vk_fail(err, -EPROTO, "%s: no answer from vmkit there", host);
		else if (!strncmp(line, "ERROR ", 6))
			ret = vk_fail(err, -EIO, "%s: %.*s", host, (int)strcspn(line + 6, "\n"),
				      line + 6);
		else if (sscanf(line, "PORT %d", &port) != 1)
			ret = vk_fail(err, -EPROTO, "%s: unexpected answer '%.*s'", host,
				      (int)strcspn(line, "\n"), line);
	}
	free(text);
	if (!ret) {
		snprintf(args, sizeof(args), "{\"uri\":\"tcp:%s:%d\"%s}", addr, port,
			 nd ? ",\"blk\":true" : "");
		ret = vm_qmp_call(name, "migrate", args, NULL, err);
		if (!ret)
			ret = follow(name, progress, err);
		fputs(ret ? "FAIL\n" : "OK\n", r.to);
		fflush(r.to);
		if (!ret && (!fgets(line, sizeof(line), r.from) || strcmp(line, "DONE\n")))
			/* It runs there (the destination said so to the monitor); only the word is lost. */
			mgmt_warn("warning: %s did not confirm; the VM runs there", host);
	}
	rsh_end(&r);
	if (ret)
		return ret;
	/* It runs there now: the monitor here (paused, refusing cont) ends, the definition goes. */
	{
		struct vk_err e = { 0 };

		vm_qmp_call(name, "quit", NULL, NULL, &e);
		if (!vm_wait_stopped(name, 30))
			mgmt_vm_destroy(name, &e);
		vm_wait_stopped(name, 10);
		/* Local disks moved with it: the ones here go (as Proxmox's). */
		if (vm_delete(name, nd > 0, &e))
			mgmt_warn("warning: VM '%s' runs on %s, but its definition here stays: %s",
				  name, host, e.msg);
	}
	return 0;
}
