// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The QMP input commands (vmm/control/input-cmds.c) and HMP sendkey, run
 * as a client's request would be (qmp_execute: argument checks, then the
 * command) on a VM with only an input router, whose handler records what
 * reaches it; and the QKeyCode table (vmm/input/qcode.c).
 */
#include <linux/input-event-codes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../vmm/control/qmp.h"
#include "vmkit/input.h"
#include "vmkit/qcode.h"
#include "vmkit/vm.h"

static char log_buf[4096];
static size_t log_len;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_len += vsnprintf(log_buf + log_len, sizeof(log_buf) - log_len, fmt, ap);
	va_end(ap);
	assert_true(log_len < sizeof(log_buf));
}

static void rec_key(void *dev, unsigned int code, bool down)
{
	logf_("k%u%c ", code, down ? 'd' : 'u');
}

static void rec_rel(void *dev, int dx, int dy, int dz, unsigned int b)
{
	logf_("r%d,%d,%d,%u ", dx, dy, dz, b);
}

static void rec_abs(void *dev, unsigned int x, unsigned int y, unsigned int b)
{
	logf_("a%u,%u,%u ", x, y, b);
}

static const struct input_handler_ops rec_ops = { rec_key, rec_rel, rec_abs };
static int dev_rel, dev_abs;

static struct vm_config cfg;
static struct vm *vm;
static struct control *c;

static int setup(void **state)
{
	struct vk_err err = { 0 };

	vm = calloc(1, sizeof(*vm));
	vm->cfg = &cfg;
	assert_int_equal(input_router_new(vm, &err), 0);
	assert_int_equal(input_register(vm, INPUT_KBD | INPUT_REL, &rec_ops, &dev_rel, &err), 0);
	c = calloc(1, sizeof(*c));
	c->cfg = &cfg;
	c->vm = vm;
	pthread_mutex_init(&c->vm_lock, NULL);
	pthread_cond_init(&c->vm_cond, NULL);
	log_len = 0;
	log_buf[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	input_router_free(vm);
	free(vm);
	free(c);
	return 0;
}

/* Run a request's arguments (JSON text) through name; the error's desc, or NULL on success. */
static const char *run(const char *name, const char *json)
{
	static struct qmp_error e;
	json_object *args = json_tokener_parse(json), *ret = NULL;
	int r;

	assert_non_null(args);
	r = qmp_execute(c, name, args, &ret, &e);
	json_object_put(args);
	json_object_put(ret);
	return r ? e.desc : NULL;
}

static void ok(const char *name, const char *json, const char *want_log)
{
	const char *err = run(name, json);

	if (err)
		fail_msg("%s %s: %s", name, json, err);
	if (strcmp(log_buf, want_log))
		fail_msg("%s %s: got '%s', expected '%s'", name, json, log_buf, want_log);
	log_len = 0;
	log_buf[0] = '\0';
}

static void refused(const char *name, const char *json, const char *msg)
{
	const char *err = run(name, json);

	if (!err)
		fail_msg("%s %s: accepted", name, json);
	if (!strstr(err, msg))
		fail_msg("%s %s: message '%s' lacks '%s'", name, json, err, msg);
	if (log_len)
		fail_msg("%s %s: refused, yet sent '%s'", name, json, log_buf);
}

static void test_send_key(void **state)
{
	ok("send-key", "{\"keys\": [{\"type\": \"qcode\", \"data\": \"ctrl\"},"
	   "{\"type\": \"qcode\", \"data\": \"alt\"}, {\"type\": \"qcode\", \"data\": \"delete\"}],"
	   "\"hold-time\": 0}", "k29d k56d k111d k111u k56u k29u ");
	/* QEMU's numbers: 0x9d is right ctrl (0x80 for the E0 prefix). */
	ok("send-key", "{\"keys\": [{\"type\": \"number\", \"data\": 157},"
	   "{\"type\": \"number\", \"data\": 30}], \"hold-time\": 1}", "k97d k30d k30u k97u ");
	ok("send-key", "{\"keys\": [{\"type\": \"qcode\", \"data\": \"ret\"}]}", "k28d k28u ");
	refused("send-key", "{\"keys\": []}", "expects 1 to 16 keys");
	refused("send-key", "{\"keys\": [{\"type\": \"qcode\", \"data\": \"ctrl\"},"
		"{\"type\": \"qcode\", \"data\": \"nosuchkey\"}]}",
		"Parameter 'keys[1].data' does not accept value 'nosuchkey'");
	refused("send-key", "{\"keys\": [{\"type\": \"keysym\", \"data\": 65}]}",
		"'keys[0].type' does not accept value 'keysym'");
	refused("send-key", "{\"keys\": [{\"type\": \"number\", \"data\": 4096}]}", "no key has number 4096");
	refused("send-key", "{\"keys\": [{\"type\": \"number\", \"data\": \"a\"}]}", "expects a key number");
	refused("send-key", "{\"keys\": [\"a\"]}", "expects an object");
	refused("send-key", "{\"keys\": [{\"data\": \"a\"}]}", "expects an object");
	refused("send-key", "{\"keys\": [{\"type\": \"qcode\", \"data\": \"a\"}], \"hold-time\": -1}",
		"'hold-time' expects milliseconds");
	refused("send-key", "{\"keys\": [{\"type\": \"qcode\", \"data\": \"a\"}], \"hold-time\": 9999999}",
		"'hold-time' expects milliseconds");
	refused("send-key", "{\"keys\": \"ctrl\"}", "Invalid parameter type for 'keys'");
	refused("send-key", "{}", "Parameter 'keys' is missing");
	refused("send-key", "{\"keys\": [{\"type\": \"qcode\", \"data\": \"a\"}], \"x\": 1}",
		"Parameter 'x' is unexpected");
}

static void test_input_send_event(void **state)
{
	ok("input-send-event", "{\"events\": [{\"type\": \"key\", \"data\": {\"down\": true,"
	   "\"key\": {\"type\": \"qcode\", \"data\": \"a\"}}}, {\"type\": \"key\", \"data\":"
	   "{\"down\": false, \"key\": {\"type\": \"qcode\", \"data\": \"a\"}}}]}", "k30d k30u ");
	ok("input-send-event", "{\"events\": [{\"type\": \"rel\", \"data\": {\"axis\": \"x\", \"value\": 10}},"
	   "{\"type\": \"rel\", \"data\": {\"axis\": \"y\", \"value\": -4}},"
	   "{\"type\": \"rel\", \"data\": {\"axis\": \"x\", \"value\": 1}}]}", "r11,-4,0,0 ");
	/* A click in one command: press and release each reach the device. */
	ok("input-send-event", "{\"events\": [{\"type\": \"btn\", \"data\": {\"down\": true, \"button\": \"left\"}},"
	   "{\"type\": \"btn\", \"data\": {\"down\": false, \"button\": \"left\"}}]}", "r0,0,0,1 r0,0,0,0 ");
	/* Buttons held across commands. */
	ok("input-send-event", "{\"events\": [{\"type\": \"btn\", \"data\": {\"down\": true, \"button\": \"right\"}}]}",
	   "r0,0,0,4 ");
	ok("input-send-event", "{\"events\": [{\"type\": \"rel\", \"data\": {\"axis\": \"x\", \"value\": -3}},"
	   "{\"type\": \"btn\", \"data\": {\"down\": true, \"button\": \"wheel-down\"}},"
	   "{\"type\": \"btn\", \"data\": {\"down\": false, \"button\": \"wheel-down\"}},"
	   "{\"type\": \"btn\", \"data\": {\"down\": false, \"button\": \"right\"}}]}",
	   "r-3,0,0,20 r0,0,0,4 r0,0,0,0 ");
	/* Absolute events go nowhere without a tablet... */
	ok("input-send-event", "{\"events\": [{\"type\": \"abs\", \"data\": {\"axis\": \"x\", \"value\": 100}}]}", "");
	/* ...and to one when there is one, clamped to the range. */
	input_register(vm, INPUT_ABS, &rec_ops, &dev_abs, NULL);
	ok("input-send-event", "{\"events\": [{\"type\": \"abs\", \"data\": {\"axis\": \"x\", \"value\": 100}},"
	   "{\"type\": \"abs\", \"data\": {\"axis\": \"y\", \"value\": 99999}}]}", "a100,32767,0 ");
	refused("input-send-event", "{\"events\": []}", "expects 1 to 256 events");
	refused("input-send-event", "{\"events\": [{\"type\": \"key\", \"data\": {\"down\": true,"
		"\"key\": {\"type\": \"qcode\", \"data\": \"a\"}}}, {\"type\": \"key\", \"data\":"
		"{\"down\": 1, \"key\": {\"type\": \"qcode\", \"data\": \"a\"}}}]}",
		"'events[1].data.down' expects a boolean");
	refused("input-send-event", "{\"events\": [{\"type\": \"key\", \"data\": {\"down\": true,"
		"\"key\": {\"type\": \"qcode\", \"data\": \"bogus\"}}}]}",
		"'events[0].data.key.data' does not accept value 'bogus'");
	refused("input-send-event", "{\"events\": [{\"type\": \"btn\", \"data\": {\"down\": true, \"button\": \"fourth\"}}]}",
		"'events[0].data.button' does not accept value 'fourth'");
	refused("input-send-event", "{\"events\": [{\"type\": \"rel\", \"data\": {\"axis\": \"z\", \"value\": 1}}]}",
		"'events[0].data.axis' expects \"x\" or \"y\"");
	refused("input-send-event", "{\"events\": [{\"type\": \"rel\", \"data\": {\"axis\": \"x\", \"value\": 99999999999}}]}",
		"expects a 32-bit integer");
	refused("input-send-event", "{\"events\": [{\"type\": \"touch\", \"data\": {}}]}",
		"'events[0].type' does not accept value 'touch'");
	refused("input-send-event", "{\"events\": [7]}", "expects an object");
	refused("input-send-event", "{\"events\": [{\"type\": \"rel\", \"data\": {\"axis\": \"x\", \"value\": 1}}],"
		"\"device\": \"video0\"}", "naming one is not supported");
}

static void test_query_mice(void **state)
{
	json_object *ret = NULL;
	struct qmp_error e;

	assert_int_equal(qmp_execute(c, "query-mice", NULL, &ret, &e), 0);
	assert_string_equal(json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
			    "[{\"name\":\"PS/2 Mouse\",\"index\":0,\"current\":true,\"absolute\":false}]");
	json_object_put(ret);
}

static const char *hmp(const char *line)
{
	static char out[512];
	json_object *args = json_object_new_object(), *ret = NULL;
	struct qmp_error e;

	json_object_object_add(args, "command-line", json_object_new_string(line));
	assert_int_equal(qmp_execute(c, "human-monitor-command", args, &ret, &e), 0);
	snprintf(out, sizeof(out), "%s", json_object_get_string(ret));
	json_object_put(args);
	json_object_put(ret);
	return out;
}

static void test_hmp_sendkey(void **state)
{
	assert_string_equal(hmp("sendkey ctrl-alt-delete 0"), "");
	assert_string_equal(log_buf, "k29d k56d k111d k111u k56u k29u ");
	log_len = 0;
	assert_string_equal(hmp("sendkey 0x1d-0x9d 0"), "");	/* hex key numbers */
	assert_string_equal(log_buf, "k29d k97d k97u k29u ");
	log_len = 0;
	log_buf[0] = '\0';
	assert_non_null(strstr(hmp("sendkey ctrl-nokey"), "does not accept value 'nokey'"));
	assert_non_null(strstr(hmp("sendkey a 99999"), "not a hold time"));
	assert_int_equal(log_len, 0);
}

static void test_qcode_table(void **state)
{
	unsigned int i, j;
	const char *a, *b;

	for (i = 0; (a = input_qcode_name(i)); i++) {
		assert_int_not_equal(input_qcode_to_keycode(a), 0);
		for (j = 0; j < i; j++) {
			b = input_qcode_name(j);
			if (!strcmp(a, b))
				fail_msg("qcode '%s' listed twice", a);
		}
	}
	assert_true(i > 140);
	assert_int_equal(input_qcode_to_keycode("ctrl"), KEY_LEFTCTRL);
	assert_int_equal(input_qcode_to_keycode("kp_enter"), KEY_KPENTER);
	assert_int_equal(input_qcode_to_keycode("less"), KEY_102ND);
	assert_int_equal(input_qcode_to_keycode("unmap"), 0);
	assert_int_equal(input_qcode_to_keycode("CTRL"), 0);
	assert_int_equal(input_qcode_to_keycode(NULL), 0);
	assert_int_equal(input_qnum_to_keycode(0x1d), KEY_LEFTCTRL);
	assert_int_equal(input_qnum_to_keycode(0x9d), KEY_RIGHTCTRL);
	assert_int_equal(input_qnum_to_keycode(0xd3), KEY_DELETE);
	assert_int_equal(input_qnum_to_keycode(0xc6), KEY_PAUSE);
	assert_int_equal(input_qnum_to_keycode(0), 0);
	assert_int_equal(input_qnum_to_keycode(0x7f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_send_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_send_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_mice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hmp_sendkey, setup, teardown),
		cmocka_unit_test(test_qcode_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
