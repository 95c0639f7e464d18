// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ATA and ATAPI on the AHCI ports: the commands Linux's libata and
 * SeaBIOS send, each turned into the SCSI command that does the same on
 * the port's LUN (READ DMA EXT into READ (16), FLUSH CACHE into
 * SYNCHRONIZE CACHE, DATA SET MANAGEMENT's TRIM ranges into UNMAP), so the
 * disk options behave as on virtio-scsi. PACKET carries an MMC CDB as it
 * is. IDENTIFY (PACKET) DEVICE is answered here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ahci-int.h"

enum {
	ATA_NOP = 0x00, DSM = 0x06, DEVICE_RESET = 0x08, READ_SECTORS = 0x20,
	READ_SECTORS_EXT = 0x24, READ_DMA_EXT = 0x25, READ_NATIVE_MAX_EXT = 0x27,
	WRITE_SECTORS = 0x30, WRITE_SECTORS_EXT = 0x34, WRITE_DMA_EXT = 0x35, VERIFY = 0x40,
	VERIFY_EXT = 0x42, DIAGNOSTIC = 0x90, INIT_PARAMS = 0x91, PACKET = 0xa0,
	IDENTIFY_PACKET = 0xa1, READ_MULTIPLE = 0xc4, WRITE_MULTIPLE = 0xc5, SET_MULTIPLE = 0xc6,
	READ_DMA = 0xc8, WRITE_DMA = 0xca, STANDBY_IMMEDIATE = 0xe0, IDLE_IMMEDIATE = 0xe1,
	CHECK_POWER = 0xe5, FLUSH_CACHE = 0xe7, FLUSH_CACHE_EXT = 0xea, IDENTIFY = 0xec,
	SET_FEATURES = 0xef,
};

#define DSM_MAX_BLOCKS	1	/* 512-byte blocks of TRIM ranges in one DSM (64 ranges) */

static uint64_t fis_lba48(const uint8_t *f)
{
	return (uint64_t)f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 |
	       (uint64_t)f[8] << 24 | (uint64_t)f[9] << 32 | (uint64_t)f[10] << 40;
}

static uint64_t fis_lba28(const uint8_t *f)
{
	return f[4] | f[5] << 8 | f[6] << 16 | (uint32_t)(f[7] & 0x0f) << 24;
}

/* An ATA string: space-padded, each word's two bytes swapped. */
static void id_string(uint16_t *w, const char *s, unsigned int words)
{
	unsigned int i, n = strlen(s);

	for (i = 0; i < 2 * words; i++) {
		uint8_t ch = i < n ? s[i] : ' ';

		if (i & 1)
			w[i / 2] |= ch;
		else
			w[i / 2] = ch << 8;
	}
}

static void id_common(struct ahci_port *p, uint16_t *w, const char *model)
{
	id_string(w + 10, p->serial, 10);
	id_string(w + 23, "1.0", 4);
	id_string(w + 27, model, 20);
	w[49] = 0x0300;			/* DMA, LBA */
	w[53] = 0x0006;			/* words 64-70 and 88 valid */
	w[63] = 0x0007;			/* multiword DMA 0-2 */
	w[64] = 0x0003;			/* PIO 3-4 */
	w[65] = w[66] = w[67] = w[68] = 120;
	w[76] = 0x0006;			/* SATA 1.5 and 3 Gb/s */
	w[80] = 0x01f0;			/* ATA/ATAPI-4 to ACS */
	w[88] = 0x207f;			/* UDMA 0-6, mode 5 selected */
}

static void identify_disk(struct ahci_port *p, uint16_t *w)
{
	struct scsi_lun_info info;
	uint64_t n;

	scsi_lun_info(p->lun, &info);
	n = info.size / 512;
	id_common(p, w, "VMKIT HARDDISK");
	w[0] = 0x0040;			/* fixed */
	w[1] = n / (16 * 63) > 16383 ? 16383 : n / (16 * 63);
	w[3] = 16;
	w[6] = 63;
	w[47] = 0x8010;			/* READ/WRITE MULTIPLE: 16 sectors */
	w[50] = 0x4000;
	w[59] = 0x0110;
	w[60] = (n > 0x0fffffff ? 0x0fffffff : n) & 0xffff;
	w[61] = (n > 0x0fffffff ? 0x0fffffff : n) >> 16;
	w[82] = 0x4020;			/* NOP, write cache */
	w[83] = 0x7400;			/* FLUSH CACHE (EXT), 48-bit */
	w[84] = 0x4000;
	w[85] = 0x4000 | (scsi_lun_wce(p->lun) ? 0x20 : 0);
	w[86] = 0x3400;
	w[87] = 0x4000;
	w[100] = n;
	w[101] = n >> 16;
	w[102] = n >> 32;
	w[103] = n >> 48;
	w[106] = 0x4000;		/* one logical sector per physical */
	if (!info.readonly && !p->discard_ignore) {
		w[169] = 0x0001;	/* DATA SET MANAGEMENT: TRIM */
		w[105] = DSM_MAX_BLOCKS;
	}
	w[217] = 1;			/* not rotating */
}

static void identify_packet(struct ahci_port *p, uint16_t *w)
{
	id_common(p, w, "VMKIT DVD-ROM");
	w[0] = 0x85c0;			/* ATAPI, CD-ROM, removable, 12-byte packets */
	w[82] = 0x4214;			/* NOP, DEVICE RESET, PACKET, removable */
	w[83] = 0x4000;
	w[84] = 0x4000;
	w[85] = 0x4214;
	w[87] = 0x4000;
}

/* PIO data in from a buffer of ours (IDENTIFY): into the PRDT. */
static int reply(struct ahci_cmd *c, const void *buf, size_t len)
{
	c->len = vk_iov_copy(c->iov, c->niov, 0, (void *)buf, len, true);
	c->pio = true;
	c->status = ATA_DRDY | ATA_DSC;
	return 0;
}

static int abort_cmd(struct ahci_cmd *c)
{
	c->status = ATA_DRDY | ATA_ERR;
	c->error = ATA_ABRT;
	return 0;
}

/* Run cdb on the LUN with the PRDT as its data (in, or out when write). */
static int run_cdb(struct ahci_port *p, struct ahci_cmd *c, const uint8_t *cdb,
		   unsigned int cdb_len, const struct iovec *out, unsigned int nout, size_t out_len,
		   bool write)
{
	struct scsi_req *r = calloc(1, scsi_req_size(MAX(c->niov, 1u)));
	struct scsi_buf data = { c->iov, c->niov, 0 };
	unsigned int i;
	int ret;

	if (!r)
		return abort_cmd(c);
	for (i = 0; i < c->niov; i++)
		data.len += c->iov[i].iov_len;
	memcpy(r->cdb, cdb, cdb_len);
	r->cdb_len = cdb_len;
	if (out)
		r->out = (struct scsi_buf){ out, nout, out_len };
	else if (write)
		r->out = data;
	else
		r->in = data;
	r->done = ahci_cmd_done;
	r->opaque = c;
	c->r = r;
	ret = scsi_lun_exec(p->lun, r);
	if (ret == -EINPROGRESS)
		return ret;
	ata_result(p, c);
	return 0;
}

static int rw(struct ahci_port *p, struct ahci_cmd *c, uint64_t lba, uint32_t count, bool write)
{
	uint8_t cdb[16] = { write ? 0x8a : 0x88 };
	unsigned int i;

	for (i = 0; i < 8; i++)
		cdb[2 + i] = lba >> (56 - 8 * i);
	for (i = 0; i < 4; i++)
		cdb[10 + i] = count >> (24 - 8 * i);
	return run_cdb(p, c, cdb, 16, NULL, 0, 0, write);
}

/* TRIM: each 8-byte range (48-bit LBA, 16-bit length) becomes an UNMAP descriptor. */
static int dsm(struct ahci_port *p, struct ahci_cmd *c, const uint8_t *f)
{
	unsigned int blocks = f[12] | f[13] << 8, i, n = 0;
	uint8_t ranges[DSM_MAX_BLOCKS * 512], *param;
	uint8_t cdb[10] = { 0x42 };
	size_t plen;

	if (!(f[3] & 1) || !blocks || blocks > DSM_MAX_BLOCKS)
		return abort_cmd(c);
	if (vk_iov_copy(c->iov, c->niov, 0, ranges, blocks * 512, false) < blocks * 512u)
		return abort_cmd(c);
	param = c->param = calloc(1, 8 + 16 * 64 * DSM_MAX_BLOCKS);
	if (!param)
		return abort_cmd(c);
	for (i = 0; i < blocks * 64; i++) {
		uint64_t e, lba;
		unsigned int j;

		memcpy(&e, ranges + 8 * i, 8);
		lba = e & 0xffffffffffffULL;
		if (!(e >> 48))
			continue;
		for (j = 0; j < 8; j++)
			param[8 + 16 * n + j] = lba >> (56 - 8 * j);
		param[8 + 16 * n + 10] = e >> 56;
		param[8 + 16 * n + 11] = e >> 48;
		n++;
	}
	plen = 8 + 16 * n;
	param[0] = (plen - 2) >> 8;
	param[1] = plen - 2;
	param[2] = (16 * n) >> 8;
	param[3] = 16 * n;
	cdb[7] = plen >> 8;
	cdb[8] = plen;
	c->one = (struct iovec){ param, plen };
	return run_cdb(p, c, cdb, 10, &c->one, 1, plen, true);
}

static int set_features(struct ahci_port *p, struct ahci_cmd *c, const uint8_t *f)
{
	if (f[3] == 0x02 || f[3] == 0x82)
		scsi_lun_set_wce(p->lun, f[3] == 0x02);
	/* Transfer modes (03h) and the rest: nothing to set on a file. */
	c->status = ATA_DRDY | ATA_DSC;
	return 0;
}

static int disk_cmd(struct ahci_port *p, struct ahci_cmd *c, const uint8_t *f, bool write)
{
	uint8_t cmd = f[2], cdb[10] = { 0x35 };
	uint32_t n28 = f[12] ? f[12] : 256, n48 = (f[12] | f[13] << 8) ? (f[12] | f[13] << 8) : 65536;
	uint16_t id[256] = { 0 };

	switch (cmd) {
	case IDENTIFY:
		identify_disk(p, id);
		return reply(c, id, sizeof(id));
	case READ_DMA: case READ_SECTORS: case READ_MULTIPLE:
	case WRITE_DMA: case WRITE_SECTORS: case WRITE_MULTIPLE:
		c->pio = cmd != READ_DMA && cmd != WRITE_DMA;
		return rw(p, c, fis_lba28(f), n28, cmd == WRITE_DMA || cmd == WRITE_SECTORS ||
			  cmd == WRITE_MULTIPLE);
	case READ_DMA_EXT: case READ_SECTORS_EXT: case WRITE_DMA_EXT: case WRITE_SECTORS_EXT:
		c->pio = cmd == READ_SECTORS_EXT || cmd == WRITE_SECTORS_EXT;
		return rw(p, c, fis_lba48(f), n48, cmd == WRITE_DMA_EXT || cmd == WRITE_SECTORS_EXT);
	case FLUSH_CACHE: case FLUSH_CACHE_EXT:
		return run_cdb(p, c, cdb, 10, NULL, 0, 0, false);
	case DSM:
		return dsm(p, c, f);
	case VERIFY: case VERIFY_EXT:
		cdb[0] = 0x2f;
		return run_cdb(p, c, cdb, 10, NULL, 0, 0, false);
	case SET_FEATURES:
		return set_features(p, c, f);
	case CHECK_POWER:
		c->count = 0xff;	/* active */
		/* fall through */
	case SET_MULTIPLE: case INIT_PARAMS: case STANDBY_IMMEDIATE: case IDLE_IMMEDIATE:
	case DIAGNOSTIC:
		c->status = ATA_DRDY | ATA_DSC;
		return 0;
	case READ_NATIVE_MAX_EXT: {
		struct scsi_lun_info info;

		scsi_lun_info(p->lun, &info);
		c->lba = info.size / 512 ? info.size / 512 - 1 : 0;
		c->status = ATA_DRDY | ATA_DSC;
		return 0;
	}
	}
	return abort_cmd(c);
}

static int atapi_cmd(struct ahci_port *p, struct ahci_cmd *c, const uint8_t *f,
		     const uint8_t *acmd, bool write)
{
	uint16_t id[256] = { 0 };

	switch (f[2]) {
	case IDENTIFY_PACKET:
		identify_packet(p, id);
		return reply(c, id, sizeof(id));
	case PACKET:
		return run_cdb(p, c, acmd, 16, NULL, 0, 0, write);
	case DEVICE_RESET:
		scsi_lun_reset(p->lun);
		c->status = 0;
		return 0;
	case IDENTIFY:
		/* An ATAPI device aborts IDENTIFY and shows its signature (ATA8-ACS 7.16). */
		c->atapi_sig = true;
		return abort_cmd(c);
	case SET_FEATURES: case CHECK_POWER: case IDLE_IMMEDIATE: case STANDBY_IMMEDIATE:
		c->status = ATA_DRDY | ATA_DSC;
		return 0;
	}
	return abort_cmd(c);
}

int ata_start(struct ahci_port *p, struct ahci_cmd *c, const uint8_t *fis, const uint8_t *acmd,
	      bool write)
{
	if (fis[0] != 0x27 || !(fis[1] & 0x80))	/* an H2D register FIS with a command */
		return abort_cmd(c);
	return p->atapi ? atapi_cmd(p, c, fis, acmd, write) : disk_cmd(p, c, fis, write);
}

void ata_result(struct ahci_port *p, struct ahci_cmd *c)
{
	const struct scsi_req *r = c->r;
	uint8_t key = r->sense[2] & 0x0f, asc = r->sense[12];

	c->len = r->xfer;
	if (r->status == SCSI_GOOD) {
		c->status = ATA_DRDY | ATA_DSC;
		c->error = 0;
		return;
	}
	c->status = ATA_DRDY | ATA_ERR;
	if (p->atapi) {
		/* ATAPI: the sense key in the error register; REQUEST SENSE gets the rest. */
		c->error = key << 4 | ATA_ABRT;
		return;
	}
	if (asc == 0x21)
		c->error = ATA_IDNF;
	else if (key == SENSE_MEDIUM_ERROR)
		c->error = ATA_UNC;
	else
		c->error = ATA_ABRT;
}
