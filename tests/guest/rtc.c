/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rtc: reads the CMOS RTC (ports 0x70/0x71), honouring BCD/binary (register
 * B bit 2) and 12/24-hour mode (bit 1), century from register 0x32 when it is
 * sensible. Reports the time as ISO 8601 and as seconds since the epoch
 * (taking the RTC fields as UTC; the driver knows whether the RTC runs in
 * local time).
 */
#include "lib/rt.h"

RT_TEST("rtc");

static uint8_t cmos(uint8_t reg)
{
	outb(0x70, reg);	/* bit 7 clear: NMI stays enabled */
	return inb(0x71);
}

struct rtc_raw {
	uint8_t sec, min, hour, mday, mon, year, cent;
};

/* UIP stays set for at most ~2 ms; 0xff is what an absent RTC reads as. */
static bool wait_uip_clear(void)
{
	for (int i = 0; i < 20000; i++) {
		uint8_t a = cmos(0x0a);

		if (a == 0xff)
			return false;
		if (!(a & 0x80))
			return true;
	}
	return false;
}

static void read_raw(struct rtc_raw *r)
{
	r->sec = cmos(0x00);
	r->min = cmos(0x02);
	r->hour = cmos(0x04);
	r->mday = cmos(0x07);
	r->mon = cmos(0x08);
	r->year = cmos(0x09);
	r->cent = cmos(0x32);
}

static unsigned bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
	static const uint8_t dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

void guest_main(struct hvm_start_info *si)
{
	struct rtc_raw a, b;
	int tries = 0;

	/* Read until two consecutive reads agree, each outside an update. */
	do {
		if (!wait_uip_clear())
			rt_fail("RTC absent or update-in-progress never clears");
		read_raw(&a);
		if (!wait_uip_clear())
			rt_fail("RTC absent or update-in-progress never clears");
		read_raw(&b);
	} while (memcmp(&a, &b, sizeof(a)) && ++tries < 10);

	uint8_t regb = cmos(0x0b);
	bool binary = regb & 0x04, h24 = regb & 0x02;
	bool pm = !h24 && (b.hour & 0x80);
	uint8_t hour_raw = h24 ? b.hour : (b.hour & 0x7f);
	unsigned sec, min, hour, mday, mon, year, cent;

	if (binary) {
		sec = b.sec; min = b.min; hour = hour_raw;
		mday = b.mday; mon = b.mon; year = b.year; cent = b.cent;
	} else {
		sec = bcd(b.sec); min = bcd(b.min); hour = bcd(hour_raw);
		mday = bcd(b.mday); mon = bcd(b.mon); year = bcd(b.year); cent = bcd(b.cent);
	}
	if (!h24) {
		if (hour == 12)
			hour = 0;
		if (pm)
			hour += 12;
	}
	rt_info("rtc_regb=%#x", regb);
	rt_info("rtc_century_reg=%#x", b.cent);
	if (cent < 19 || cent > 30)
		cent = 20;
	year += cent * 100;

	rt_info("rtc=%04u-%02u-%02uT%02u:%02u:%02u", year, mon, mday, hour, min, sec);
	if (mon < 1 || mon > 12 || mday < 1 || mday > days_in_month(year, mon) ||
	    hour > 23 || min > 59 || sec > 59)
		rt_fail("RTC fields out of range");
	int64_t epoch = days_from_civil(year, mon, mday) * 86400 + hour * 3600 + min * 60 + sec;
	rt_info("rtc_epoch=%ld", epoch);
	if (year < 2024)
		rt_fail("RTC year %u < 2024", year);
	rt_pass();
}
