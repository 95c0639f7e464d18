/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio_console: hvc0 both ways, with the polling driver at CPL3. Finds
 * the virtio-console function (1af4:1043), sets up receiveq (0) and
 * transmitq (1), gives the device RX_BUFS small receive buffers, and says
 * `VMKIT-INFO hvc_ready=1` through transmitq. Then it reads what is typed
 * on the console until a CR or LF (buffers are given back as they come:
 * a long line crosses several), and reports it through transmitq as
 * `VMKIT-INFO hvc_typed=<line>` with `hvc_chunks=` (used buffers it took),
 * then PASS. With --console virtio the UART writes nowhere, so everything
 * this guest says goes through the device; a failure is also said there.
 */
#include "lib/rt.h"
#include "lib/virtio.h"

RT_TEST("virtio_console");

#define VIRTIO_ID_CONSOLE	3
#define RX_BUFS			4
#define RX_LEN			8	/* small, so a line takes several buffers */
#define LINE_MAX		200
#define WAIT_US			60000000ull

static struct virtio_pci vp;
static struct virtq rxq, txq;
static uint8_t rxbuf[RX_BUFS][RX_LEN] __attribute__((aligned(64)));
static char txbuf[256] __attribute__((aligned(64)));
static char line[LINE_MAX + 1];

/* One line out through transmitq, waiting until the device has used it. */
static bool hvc_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool hvc_say(const char *fmt, ...)
{
	struct virtq_buf b;
	uint32_t used;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = rt_vsnprintf(txbuf, sizeof(txbuf) - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(txbuf) - 2)
		n = sizeof(txbuf) - 2;
	txbuf[n++] = '\n';
	b = (struct virtq_buf){ (uintptr_t)txbuf, (uint32_t)n, false };
	return virtq_submit(&txq, &b, 1, false, &used, VIRTIO_TIMEOUT_US) == VQ_OK ||
	       rt_failf("transmitq: %s", virtio_error);
}

static bool give_rx(unsigned i)
{
	struct virtq_buf b = { (uintptr_t)rxbuf[i], RX_LEN, true };

	if (virtq_add(&rxq, &b, 1, false) < 0)
		return rt_failf("receiveq: %s", virtio_error);
	return true;
}

static bool setup(void)
{
	struct pci_dev pci;

	if (!pci_find(VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_MODERN(VIRTIO_ID_CONSOLE), 0, &pci))
		return rt_failf("no virtio-console function (1af4:1043) on bus 0");
	if (!virtio_pci_probe(&vp, &pci) || !virtio_init(&vp, 0))
		return rt_failf("virtio: %s", virtio_error);
	if (!virtq_setup(&rxq, &vp, 0, 16) || !virtq_setup(&txq, &vp, 1, 16))
		return rt_failf("queues: %s", virtio_error);
	if (!virtio_driver_ok(&vp))
		return rt_failf("DRIVER_OK: %s", virtio_error);
	for (unsigned i = 0; i < RX_BUFS; i++)
		if (!give_rx(i))
			return false;
	virtq_kick(&rxq);
	return true;
}

/* Typed bytes until CR or LF; each used buffer goes straight back. */
static bool read_line(unsigned *chunks)
{
	unsigned n = 0;

	for (;;) {
		uint32_t id, len;
		int r = virtq_get(&rxq, WAIT_US, &id, &len);
		unsigned i;

		if (r)
			return rt_failf("receiveq after %u bytes: %s", n, virtio_error);
		for (i = 0; i < RX_BUFS && (uintptr_t)rxbuf[i] != rxq.desc[id].addr; i++)
			;
		if (i == RX_BUFS || len > RX_LEN)
			return rt_failf("receiveq: used id %u len %u is none of our buffers", id, len);
		(*chunks)++;
		for (uint32_t k = 0; k < len; k++) {
			char c = rxbuf[i][k];

			if (c == '\r' || c == '\n') {
				line[n] = 0;
				return true;
			}
			if (n < LINE_MAX)
				line[n++] = c;
		}
		if (!give_rx(i))
			return false;
		virtq_kick(&rxq);
	}
}

static uint64_t run(void *arg)
{
	unsigned chunks = 0;

	(void)arg;
	if (!setup())
		return false;
	if (!hvc_say("VMKIT-INFO hvc_ready=1"))
		return false;
	if (!read_line(&chunks))
		return false;
	return hvc_say("VMKIT-INFO hvc_typed=%s", line) &&
	       hvc_say("VMKIT-INFO hvc_chunks=%u", chunks) &&
	       hvc_say("VMKIT-TEST virtio_console PASS");
}

static char why[sizeof(rt_why)];

static uint64_t say_fail(void *arg)
{
	(void)arg;
	return hvc_say("VMKIT-TEST virtio_console FAIL %s", why);
}

void guest_main(struct hvm_start_info *si)
{
	(void)si;
	if (!cpl3_call(run, 0)) {
		memcpy(why, rt_why, sizeof(why));
		/* Through the device if it got that far; on the UART in any case. */
		if (txq.vp)
			cpl3_call(say_fail, 0);
		rt_fail("%s", why);
	}
	rt_pass();
}
