/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Runtime of the vmkit test guests: console, formatting, IDT, reporting. */
#include "rt.h"

struct hvm_start_info *rt_start_info;
bool (*rt_fault_hook)(struct rt_frame *f);
struct rt_dtr rt_idt_ptr;

extern uint32_t rt_start_info32;
extern uint64_t rt_gdt[];
extern uint8_t rt_tss[];
extern const char rt_tss_limit[];	/* absolute symbol */
extern const uint64_t rt_isr_table[32];
extern const uint64_t rt_irq_table[RT_IRQ_VECTORS];
void (*rt_irq_hook)(struct rt_frame *f);
extern void rt_cpl3_return(void);
extern const char rt_cpl3_exit[];
extern uint64_t rt_cpl3_saved_rsp;

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));

/* ---- libc bits ---- */

void *memcpy(void *d, const void *s, size_t n)
{
	void *ret = d;
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
	return ret;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	if (dp <= sp || dp >= sp + n)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

void *memset(void *d, int c, size_t n)
{
	void *ret = d;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return ret;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

/* ---- serial ---- */

void serial_putc(char c)
{
	/* LSR bit 5: THR empty. Bounded, so a missing UART cannot hang us. */
	for (unsigned i = 0; i < 100000; i++)
		if (inb(COM1 + 5) & 0x20)
			break;
	outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

/* ---- formatting ---- */

struct sink {
	char *buf;		/* NULL: serial */
	size_t size, len;
};

static void sink_put(struct sink *s, char c)
{
	if (!s->buf)
		serial_putc(c);
	else if (s->len + 1 < s->size)
		s->buf[s->len] = c;
	s->len++;
}

static void fmt_num(struct sink *s, uint64_t v, unsigned base, bool upper, bool neg,
		    int width, bool zero, bool left, const char *prefix)
{
	char tmp[24];
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	int n = 0, plen = prefix ? (int)strlen(prefix) : 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	int len = n + (neg ? 1 : 0) + plen;
	if (!left && !zero)
		for (; width > len; width--)
			sink_put(s, ' ');
	if (neg)
		sink_put(s, '-');
	for (int i = 0; i < plen; i++)
		sink_put(s, prefix[i]);
	if (!left && zero)
		for (; width > len; width--)
			sink_put(s, '0');
	while (n)
		sink_put(s, tmp[--n]);
	if (left)
		for (; width > len; width--)
			sink_put(s, ' ');
}

static void vformat(struct sink *s, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			sink_put(s, *fmt);
			continue;
		}
		bool zero = false, left = false, alt = false;
		int width = 0, lng = 0;

		for (;; fmt++) {
			if (fmt[1] == '0')
				zero = true;
			else if (fmt[1] == '-')
				left = true;
			else if (fmt[1] == '#')
				alt = true;
			else
				break;
		}
		while (fmt[1] >= '0' && fmt[1] <= '9')
			width = width * 10 + (*++fmt - '0');
		while (fmt[1] == 'l' || fmt[1] == 'z') {
			lng++;
			fmt++;
		}
		char c = *++fmt;
		switch (c) {
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			fmt_num(s, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, false, v < 0,
				width, zero, left, NULL);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			fmt_num(s, v, c == 'u' ? 10 : 16, c == 'X', false, width, zero, left,
				alt && c != 'u' ? "0x" : NULL);
			break;
		}
		case 'p':
			fmt_num(s, (uintptr_t)va_arg(ap, void *), 16, false, false, width, zero,
				left, "0x");
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			int len;

			if (!str)
				str = "(null)";
			len = (int)strlen(str);
			if (!left)
				for (; width > len; width--)
					sink_put(s, ' ');
			while (*str)
				sink_put(s, *str++);
			if (left)
				for (; width > len; width--)
					sink_put(s, ' ');
			break;
		}
		case 'c':
			sink_put(s, (char)va_arg(ap, int));
			break;
		case '%':
			sink_put(s, '%');
			break;
		case '\0':
			return;
		default:
			sink_put(s, '%');
			sink_put(s, c);
			break;
		}
	}
}

int rt_vprintf(const char *fmt, va_list ap)
{
	struct sink s = { 0 };

	vformat(&s, fmt, ap);
	return (int)s.len;
}

int rt_printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = rt_vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int rt_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct sink s = { .buf = buf, .size = n };

	vformat(&s, fmt, ap);
	if (n)
		buf[s.len < n ? s.len : n - 1] = '\0';
	return (int)s.len;
}

int rt_snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = rt_vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- reporting ---- */

void rt_info(const char *fmt, ...)
{
	va_list ap;

	serial_puts("VMKIT-INFO ");
	va_start(ap, fmt);
	rt_vprintf(fmt, ap);
	va_end(ap);
	serial_putc('\n');
}

void rt_report_pass(void)
{
	rt_printf("VMKIT-TEST %s PASS\n", rt_test_name);
}

static void report_vfail(const char *fmt, va_list ap)
{
	rt_printf("VMKIT-TEST %s FAIL ", rt_test_name);
	rt_vprintf(fmt, ap);
	serial_putc('\n');
}

void rt_report_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_vfail(fmt, ap);
	va_end(ap);
}

void rt_pass(void)
{
	rt_report_pass();
	acpi_poweroff();
}

void rt_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_vfail(fmt, ap);
	va_end(ap);
	acpi_poweroff();
}

/* ---- start info ---- */

unsigned rt_memmap(const struct hvm_memmap_entry **out)
{
	struct hvm_start_info *si = rt_start_info;

	*out = NULL;
	if (!si || si->magic != HVM_START_MAGIC || si->version < 1 ||
	    !si->memmap_paddr || !si->memmap_entries)
		return 0;
	*out = (const struct hvm_memmap_entry *)(uintptr_t)si->memmap_paddr;
	return si->memmap_entries;
}

/* ---- interrupts ---- */

static void set_gate(unsigned vec, uint64_t handler, uint8_t type_attr)
{
	struct idt_gate *g = &idt[vec];

	g->off_lo = (uint16_t)handler;
	g->sel = SEL_KCODE64;
	g->ist = 0;
	g->type_attr = type_attr;
	g->off_mid = (uint16_t)(handler >> 16);
	g->off_hi = (uint32_t)(handler >> 32);
	g->zero = 0;
}

void rt_init(void);
void rt_init(void)
{
	uint64_t tss = (uintptr_t)rt_tss;

	rt_start_info = (struct hvm_start_info *)(uintptr_t)rt_start_info32;

	for (unsigned v = 0; v < 32; v++)
		set_gate(v, rt_isr_table[v], 0x8e);	/* present, DPL0, interrupt gate */
	for (unsigned v = 0; v < RT_IRQ_VECTORS; v++)
		set_gate(RT_IRQ_BASE + v, rt_irq_table[v], 0x8e);
	rt_idt_ptr.limit = sizeof(idt) - 1;
	rt_idt_ptr.base = (uintptr_t)idt;
	__asm__ volatile("lidt %0" :: "m"(rt_idt_ptr));

	/* 64-bit TSS with an all-allowing I/O bitmap; RSP0 is set by cpl3_call. */
	uint64_t limit = (uintptr_t)rt_tss_limit;
	rt_gdt[SEL_TSS / 8] = (limit & 0xffff) | ((tss & 0xffffff) << 16) | (0x89ull << 40) |
			      ((limit >> 16) & 0xf) << 48 | ((tss >> 24) & 0xff) << 56;
	rt_gdt[SEL_TSS / 8 + 1] = tss >> 32;
	__asm__ volatile("ltr %w0" :: "r"(SEL_TSS));
}

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	"#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23",
	"#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

void rt_exception(struct rt_frame *f);
void rt_exception(struct rt_frame *f)
{
	static volatile int nested;
	uint64_t cr2;

	/* The way back from cpl3_call(): resume at rt_cpl3_return at CPL0. */
	if (f->vector == 6 && (f->cs & 3) == 3 && f->rip == (uintptr_t)rt_cpl3_exit) {
		f->rip = (uintptr_t)rt_cpl3_return;
		f->cs = SEL_KCODE64;
		f->ss = SEL_KDATA;
		f->rsp = rt_cpl3_saved_rsp;
		f->rflags = 0x2;
		return;
	}
	if (f->vector >= RT_IRQ_BASE && rt_irq_hook) {
		rt_irq_hook(f);
		return;
	}
	if (rt_fault_hook && rt_fault_hook(f))
		return;
	if (nested++)
		rt_halt();
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	rt_info("exception vector=%lu error=%#lx rip=%#lx cs=%#lx rflags=%#lx rsp=%#lx cr2=%#lx",
		f->vector, f->error_code, f->rip, f->cs, f->rflags, f->rsp, cr2);
	rt_fail("exception %lu %s at rip %#lx", f->vector,
		f->vector < 32 ? exc_names[f->vector] : "?", f->rip);
}

/* ---- PIT channel 2 delay ---- */

bool pit_delay_us(uint32_t us)
{
	while (us) {
		uint32_t chunk = us > 50000 ? 50000 : us;
		uint32_t count = (uint32_t)(((uint64_t)chunk * 1193182 + 999999) / 1000000);
		uint8_t p61;
		unsigned polls = 0;

		if (count < 2)
			count = 2;
		p61 = inb(0x61);
		outb(0x61, (p61 & ~0x02) | 0x01);	/* gate 2 on, speaker off */
		outb(0x43, 0xb0);			/* ch2, lo/hi, mode 0, binary */
		outb(0x42, count & 0xff);
		outb(0x42, count >> 8);
		while (!(inb(0x61) & 0x20)) {
			polls++;
			if (polls > 10000000)
				return false;
		}
		/* A count of ~100 ticks outlasts one port read: OUT2 already high
		 * at the first read means there is no working PIT. */
		if (!polls && count > 120)
			return false;
		us -= chunk;
	}
	return true;
}

void rt_settle(void)
{
	if (!pit_delay_us(200000))
		for (int i = 0; i < 20000; i++)
			inb(0x80);
}

char rt_why[240];

bool rt_failf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rt_vsnprintf(rt_why, sizeof(rt_why), fmt, ap);
	va_end(ap);
	return false;
}
