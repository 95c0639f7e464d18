/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tiny freestanding runtime for the vmkit test guests.
 *
 * Each guest is a PVH ELF image linked at 1 MiB. rt.S takes the PVH entry
 * (32-bit protected mode, %ebx = struct hvm_start_info), switches to 64-bit
 * long mode on an identity map of the first 4 GiB (2 MiB pages, U bit set so
 * cpl3_call() can run any function at CPL3), installs an IDT and calls
 * guest_main(). When guest_main() returns the runtime powers off via ACPI.
 *
 * Reporting convention, one line each, on the 8250 UART at 0x3f8:
 *   VMKIT-TEST <name> PASS
 *   VMKIT-TEST <name> FAIL <reason>
 *   VMKIT-INFO key=value
 */
#ifndef VMKIT_GUEST_RT_H
#define VMKIT_GUEST_RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- PVH boot ABI (xen/include/public/arch-x86/hvm/start_info.h) ---- */

#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;		/* version >= 1 */
	uint32_t memmap_entries;	/* version >= 1 */
	uint32_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#define E820_RAM 1

/* Each guest names itself once: RT_TEST("hello"); */
extern const char rt_test_name[];
#define RT_TEST(name) const char rt_test_name[] = name

/* Implemented by each guest. */
void guest_main(struct hvm_start_info *si);

/* The start-info pointer as handed over in %ebx (also passed to guest_main). */
extern struct hvm_start_info *rt_start_info;

/* Memory map from start info; returns number of entries (0 = none). */
unsigned rt_memmap(const struct hvm_memmap_entry **out);

/* ---- port I/O and other instructions ---- */

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

static inline uint8_t mmio_read8(uint64_t a) { return *(volatile uint8_t *)a; }
static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write8(uint64_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void mmio_write16(uint64_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }

__attribute__((noreturn)) void rt_halt(void);	/* cli; hlt forever */

/* ---- serial console (8250 at 0x3f8) and formatting ---- */

#define COM1 0x3f8

void serial_putc(char c);
void serial_puts(const char *s);
/* printf subset: %d %i %u %x %X %p %s %c %%, length l/ll/z, flags 0 and -, width. */
int rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_vprintf(const char *fmt, va_list ap);
int rt_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int rt_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

/* "VMKIT-INFO <fmt>\n" */
void rt_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "VMKIT-TEST <name> PASS\n" (does not power off) */
void rt_report_pass(void);
/* "VMKIT-TEST <name> FAIL <fmt>\n" (does not power off) */
void rt_report_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * For code that must not stop on the spot (e.g. at CPL3, where rt_fail's
 * power-off cannot run): format the reason into rt_why and return false,
 * so the caller unwinds and reports rt_why at CPL0.
 */
extern char rt_why[240];
bool rt_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report and power off. */
__attribute__((noreturn)) void rt_pass(void);
__attribute__((noreturn)) void rt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- libc bits the compiler may call ---- */

void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* ---- interrupts and faults ---- */

/* Saved state of an exception, as pushed by the stubs in rt.S. */
struct rt_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss;
};

/*
 * A test that wants to observe a fault sets this hook; when it returns true
 * the faulting context is resumed (with whatever the hook changed in the
 * frame, e.g. rip). Otherwise the vector is reported as a FAIL and the
 * machine powered off.
 */
extern bool (*rt_fault_hook)(struct rt_frame *f);

/*
 * Device interrupts: vectors RT_IRQ_BASE .. +RT_IRQ_VECTORS-1 have gates
 * that call rt_irq_hook (at CPL0, interrupts off; the hook sends the EOI).
 * Without a hook such a vector is reported as a FAIL.
 */
#define RT_IRQ_BASE	64
#define RT_IRQ_VECTORS	8
extern void (*rt_irq_hook)(struct rt_frame *f);

/* The IDT pseudo-descriptor (loaded by APs too). */
struct __attribute__((packed)) rt_dtr {
	uint16_t limit;
	uint64_t base;
};
extern struct rt_dtr rt_idt_ptr;
extern struct rt_dtr rt_gdt_ptr;	/* 10-byte form; base < 4 GiB */
extern uint64_t rt_pml4[512];
extern uint64_t rt_pdpt[512];

/* GDT selectors */
#define SEL_KCODE64 0x08
#define SEL_KDATA   0x10
#define SEL_KCODE32 0x18
#define SEL_UDATA   0x23
#define SEL_UCODE64 0x2b
#define SEL_TSS     0x30

/*
 * Run fn(arg) at CPL3 (IOPL=3 and an all-allowing TSS I/O bitmap, so in/out
 * work; interrupts off) on a private user stack and
 * return its result. The user code comes back to CPL0 through a ud2 (#UD)
 * that the exception handler recognises (see rt.S for why not a gate).
 */
uint64_t cpl3_call(uint64_t (*fn)(void *), void *arg);

static inline unsigned current_cpl(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}

/* ---- ACPI ---- */

struct acpi_sdt {
	char sig[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));

/* Physical address of the RSDP, or 0 (cached). */
uint64_t acpi_find_rsdp(void);
/* The first table with this signature from XSDT/RSDT ("FACP", "APIC"...), or NULL. */
const struct acpi_sdt *acpi_find_table(const char sig[4]);
/* Does [a, a+len) overlap the RSDP, the root table, a table it lists or the DSDT? */
bool acpi_overlaps(uint64_t a, uint64_t len);
/* Try ACPI S5; if still alive print FAIL and halt. */
__attribute__((noreturn)) void acpi_poweroff(void);
/* Write the FADT RESET_REG if the FADT has one; returns if that did nothing. */
void acpi_reset(void);

/* ---- timing ---- */

/*
 * Busy-wait about us microseconds using PIT channel 2 (port 0x61 gate).
 * Returns false if the PIT does not appear to count (then no time passed).
 */
bool pit_delay_us(uint32_t us);

/*
 * Give the monitor a moment (~200 ms) to act on a power-off or reset request
 * (QEMU does it asynchronously in its main loop) before concluding that it
 * did not happen.
 */
void rt_settle(void);

#endif
