/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio devices (virtio 1.2): a device is one file with one ops table;
 * the transport (virtio-pci, vmm/virtio/pci.c) has a table of its own, so
 * a device never knows how its registers or interrupts reach the guest.
 */
#ifndef VMKIT_VIRTIO_H
#define VMKIT_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmkit/util.h"
#include "vmkit/virtq.h"

struct vm;
struct evloop;
struct virtio_dev;
struct ss_writer;
struct ss_section;

/* Device status bits */
#define VIRTIO_STATUS_ACKNOWLEDGE	1
#define VIRTIO_STATUS_DRIVER		2
#define VIRTIO_STATUS_DRIVER_OK		4
#define VIRTIO_STATUS_FEATURES_OK	8
#define VIRTIO_STATUS_NEEDS_RESET	0x40
#define VIRTIO_STATUS_FAILED		0x80

/* Transport-independent feature bits */
#define VIRTIO_F_INDIRECT_DESC		28
#define VIRTIO_F_EVENT_IDX		29
#define VIRTIO_F_VERSION_1		32

/* Device types */
#define VIRTIO_ID_NET		1
#define VIRTIO_ID_BLOCK		2
#define VIRTIO_ID_CONSOLE	3
#define VIRTIO_ID_RNG		4
#define VIRTIO_ID_SCSI		8

#define VIRTIO_MAX_QUEUES	64

struct virtio_dev_ops {
	const char *name;
	uint16_t type;			/* VIRTIO_ID_* */
	uint32_t pci_class;		/* PCI class code the transport shows */
	/* Read/write the device-specific configuration structure. */
	void (*config_read)(struct virtio_dev *v, unsigned int off, void *data, unsigned int len);
	void (*config_write)(struct virtio_dev *v, unsigned int off, const void *data,
			     unsigned int len);
	/* The driver set DRIVER_OK: queues are live. Non-zero sets NEEDS_RESET. */
	int (*activate)(struct virtio_dev *v);
	/* The driver made buffers available on queue q. */
	void (*queue_notify)(struct virtio_dev *v, unsigned int q);
	/*
	 * Optional: the device loop polls queue q's avail ring (on), or is
	 * about to block (off); the device sets virtq_set_poll under the lock
	 * its queue_notify takes. For on, it says whether q is to be polled
	 * (virtio-scsi's event queue is not); only those are, until the next
	 * on (the look after off included). NULL: the queues are only notified.
	 */
	bool (*queue_poll_mode)(struct virtio_dev *v, unsigned int q, bool on);
	/* The driver reset the device: drop in-flight state. */
	void (*reset)(struct virtio_dev *v);
	/*
	 * Register the firmware boot paths of what the device holds, now that
	 * its PCI function is in slot (include/vmkit/firmware.h). NULL: the
	 * function itself is one bootable disk (blk) or NIC (net), or nothing.
	 */
	int (*boot_paths)(struct virtio_dev *v, unsigned int slot, struct vk_err *err);
	/*
	 * Save/restore: held (v->held set) or released. Wait for what is
	 * running in the device's own threads to finish (take its locks once),
	 * stop backend input; on release start it again. Optional.
	 */
	void (*hold)(struct virtio_dev *v, bool on);
};

struct virtio_transport_ops {
	/* Used buffers were added to queue q: interrupt the driver if it wants. */
	void (*notify_queue)(struct virtio_dev *v, unsigned int q);
	void (*notify_config)(struct virtio_dev *v);
	/* Interrupt for queue q whatever the ring says (someone else, vhost, decided). */
	void (*interrupt)(struct virtio_dev *v, unsigned int q);
	/*
	 * The eventfd the guest's notifications for queue q arrive on: with
	 * serve false the event loop stops reading it (it is handed to vhost),
	 * with serve true it reads it again. -1 if there is none.
	 */
	int (*kick_fd)(struct virtio_dev *v, unsigned int q, bool serve);
	/* Save/restore: the transport's registers as fields of the device's section. */
	void (*save)(struct virtio_dev *v, struct ss_writer *w);
	int (*load)(struct virtio_dev *v, const struct ss_section *s, struct vk_err *err);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	const struct virtio_transport_ops *tops;
	void *transport;
	void *priv;			/* the device's own state */
	struct vm *vm;
	pthread_mutex_t lock;		/* status, features, queue setup */
	uint64_t host_features;		/* offered (device-specific + VERSION_1, INDIRECT, EVENT_IDX) */
	uint64_t guest_features;	/* accepted by the driver */
	uint8_t status;
	uint8_t config_generation;
	unsigned int nr_queues;
	uint16_t queue_max;		/* largest queue size offered */
	struct virtq vq[VIRTIO_MAX_QUEUES];
	bool vq_enabled[VIRTIO_MAX_QUEUES];
	/*
	 * Where queue notifications are served: the VM's device event loop,
	 * or an iothread's. The transport binds an ioeventfd per queue to it,
	 * so a vCPU's notify does not wait for the request.
	 */
	struct evloop *loop;
	/* Held for a save (vmm/virtio/state.c): queues read as not ready. */
	bool held;
};

/* Core (vmm/virtio/core.c) */
void virtio_dev_init(struct virtio_dev *v, struct vm *vm, const struct virtio_dev_ops *ops,
		     void *priv, uint64_t device_features, unsigned int nr_queues,
		     uint16_t queue_max);
/* The driver wrote the status register. */
void virtio_set_status(struct virtio_dev *v, uint8_t status);
void virtio_reset(struct virtio_dev *v);
/* A device found the driver broke the rules: tell it (DEVICE_NEEDS_RESET). */
void virtio_needs_reset(struct virtio_dev *v);
/* The driver set queue_enable: map the rings (or flag NEEDS_RESET). */
void virtio_enable_queue(struct virtio_dev *v, unsigned int i);
/* Whether notifications for queue i are to be served. */
bool virtio_queue_ready(const struct virtio_dev *v, unsigned int i);
bool virtio_has_feature(const struct virtio_dev *v, unsigned int bit);

/*
 * Save/restore (vmm/virtio/state.c): the common state and the transport's
 * as fields of the device's open section. rewind[q] (or NULL): chains the
 * device popped from queue q and did not use, given back to the driver.
 */
void virtio_dev_save(struct virtio_dev *v, struct ss_writer *w, const uint16_t *rewind);
int virtio_dev_load(struct virtio_dev *v, const struct ss_section *s, struct vk_err *err);
/*
 * After a device's load: serve each ready queue once, as if notified. A
 * notification the saved VM had not served yet (made available, kicked,
 * not popped) is not in the stream; without this the driver would wait.
 */
void virtio_dev_kick_queues(struct virtio_dev *v);
/* Hold the device for a save, or release it (then every ready queue is served once). */
void virtio_dev_hold(struct virtio_dev *v, bool on);

/* virtio-pci transport (vmm/virtio/pci.c): puts v on the PCI bus. */
int virtio_pci_create(struct virtio_dev *v, struct vk_err *err);
void virtio_pci_destroy(struct virtio_dev *v);

#endif
