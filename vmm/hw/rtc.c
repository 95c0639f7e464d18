// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * MC146818 CMOS RTC (ports 0x70/0x71): the time registers read the host's
 * clock at the moment of the read, in UTC or, with --rtc localtime, the
 * host's local time (what Windows guests expect). 24-hour BCD mode, as a
 * PC BIOS leaves it. The other 114 bytes are plain CMOS RAM.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "vmkit/device.h"
#include "vmkit/hw.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"

#define RTC_SECONDS	0x00
#define RTC_MINUTES	0x02
#define RTC_HOURS	0x04
#define RTC_WEEKDAY	0x06
#define RTC_DAY		0x07
#define RTC_MONTH	0x08
#define RTC_YEAR	0x09
#define RTC_REG_A	0x0a
#define RTC_REG_B	0x0b
#define RTC_REG_C	0x0c
#define RTC_REG_D	0x0d
#define RTC_CENTURY	0x32	/* the FADT's CENTURY field names this index */

#define REG_B_24H	0x02
#define REG_B_BINARY	0x04
#define REG_D_VRT	0x80	/* valid RAM and time */

struct rtc {
	pthread_mutex_t lock;
	bool localtime;
	uint8_t index;
	uint8_t cmos[128];
};

static uint8_t to_bcd(struct rtc *r, unsigned int v)
{
	if (r->cmos[RTC_REG_B] & REG_B_BINARY)
		return v;
	return ((v / 10) << 4) | (v % 10);
}

static uint8_t hour_reg(struct rtc *r, unsigned int h)
{
	unsigned int h12;

	if (r->cmos[RTC_REG_B] & REG_B_24H)
		return to_bcd(r, h);
	h12 = h % 12 ? h % 12 : 12;
	return to_bcd(r, h12) | (h >= 12 ? 0x80 : 0);
}

static uint8_t time_reg(struct rtc *r, unsigned int idx)
{
	time_t now = time(NULL);
	struct tm tm;

	if (r->localtime)
		localtime_r(&now, &tm);
	else
		gmtime_r(&now, &tm);
	switch (idx) {
	case RTC_SECONDS: return to_bcd(r, tm.tm_sec);
	case RTC_MINUTES: return to_bcd(r, tm.tm_min);
	case RTC_HOURS: return hour_reg(r, tm.tm_hour);
	case RTC_WEEKDAY: return to_bcd(r, tm.tm_wday + 1);
	case RTC_DAY: return to_bcd(r, tm.tm_mday);
	case RTC_MONTH: return to_bcd(r, tm.tm_mon + 1);
	case RTC_YEAR: return to_bcd(r, tm.tm_year % 100);
	default: return to_bcd(r, (tm.tm_year + 1900) / 100);
	}
}

static uint8_t cmos_read(struct rtc *r, unsigned int idx)
{
	uint8_t v;

	switch (idx) {
	case RTC_SECONDS: case RTC_MINUTES: case RTC_HOURS: case RTC_WEEKDAY:
	case RTC_DAY: case RTC_MONTH: case RTC_YEAR: case RTC_CENTURY:
		return time_reg(r, idx);
	case RTC_REG_A:
		return r->cmos[idx] & 0x7f;	/* never "update in progress" */
	case RTC_REG_C:
		v = r->cmos[idx];
		r->cmos[idx] = 0;		/* reading C acknowledges */
		return v;
	case RTC_REG_D:
		return REG_D_VRT;
	default:
		return r->cmos[idx];
	}
}

static void rtc_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct rtc *r = dev;

	memset(data, 0xff, len);
	if (off != 1)
		return;	/* the index port is write-only */
	pthread_mutex_lock(&r->lock);
	*(uint8_t *)data = cmos_read(r, r->index);
	pthread_mutex_unlock(&r->lock);
}

static void rtc_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct rtc *r = dev;
	uint8_t v = *(const uint8_t *)data;

	pthread_mutex_lock(&r->lock);
	if (off == 0) {
		r->index = v & 0x7f;	/* bit 7 is the NMI mask */
	} else if (r->index == RTC_REG_B) {
		r->cmos[RTC_REG_B] = v & ~0x80;	/* SET bit ignored: time is the host's */
	} else if (r->index > RTC_YEAR && r->index != RTC_CENTURY &&
		   r->index != RTC_REG_C && r->index != RTC_REG_D) {
		r->cmos[r->index] = v;
	}
	pthread_mutex_unlock(&r->lock);
}

static const struct io_ops rtc_ops = { .read = rtc_read, .write = rtc_write };

int rtc_create(struct vm *vm, struct vk_err *err)
{
	struct rtc *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return vk_fail(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&r->lock, NULL);
	r->localtime = vm->cfg->rtc_localtime;
	r->cmos[RTC_REG_A] = 0x26;	/* 32.768 kHz time base, 1024 Hz rate */
	r->cmos[RTC_REG_B] = REG_B_24H;
	ret = io_bus_register(&vm->pio, 0x70, 2, &rtc_ops, r);
	if (ret) {
		free(r);
		return vk_fail(err, ret, "rtc: cannot claim ports 0x70-0x71");
	}
	vm->rtc = r;
	return 0;
}

void rtc_destroy(struct vm *vm)
{
	struct rtc *r = vm->rtc;

	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
	vm->rtc = NULL;
}

/*
 * Version 1: the index and CMOS RAM. The clock registers are not state:
 * they read the host's time, which is what a restored guest should see.
 */
static void rtc_save(struct vm *vm, struct ss_writer *w)
{
	struct rtc *r = vm->rtc;

	pthread_mutex_lock(&r->lock);
	ss_begin(w, "rtc", 0, 1);
	ss_put_u64(w, "index", r->index);
	ss_put_bytes(w, "cmos", r->cmos, sizeof(r->cmos));
	ss_end(w);
	pthread_mutex_unlock(&r->lock);
}

static int rtc_load(struct vm *vm, const struct ss_reader *rd, struct vk_err *err)
{
	const struct ss_section *s = ss_find(rd, "rtc", 0);
	struct rtc *r = vm->rtc;
	uint8_t cmos[sizeof(r->cmos)];
	uint64_t index;
	int ret;

	if (!s)
		return vk_fail(err, -ENOENT, "state: no rtc section");
	ret = ss_get_u64(s, "index", &index, err);
	if (!ret && index > 0x7f)
		ret = vk_fail(err, -EINVAL, "state of rtc: index %llu out of range",
			      (unsigned long long)index);
	if (!ret)
		ret = ss_get_bytes(s, "cmos", cmos, sizeof(cmos), err);
	if (ret)
		return ret;
	pthread_mutex_lock(&r->lock);
	r->index = index;
	memcpy(r->cmos, cmos, sizeof(cmos));
	pthread_mutex_unlock(&r->lock);
	return 0;
}

const struct vm_device_class rtc_class = {
	.name = "rtc", .create = rtc_create, .destroy = rtc_destroy,
	.save = rtc_save, .load = rtc_load,
};
