// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sense data (SPC-4 4.5) in the two formats a REQUEST SENSE may ask for,
 * and the small helpers every part of the SCSI emulation shares.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vmkit/scsi.h"

unsigned int scsi_sense_fixed(uint8_t *buf, struct scsi_sense s)
{
	memset(buf, 0, SCSI_SENSE_FIXED_LEN);
	buf[0] = 0x70;			/* current error, fixed format */
	buf[2] = s.key;
	buf[7] = SCSI_SENSE_FIXED_LEN - 8;	/* additional sense length */
	buf[12] = s.asc;
	buf[13] = s.ascq;
	return SCSI_SENSE_FIXED_LEN;
}

unsigned int scsi_sense_desc(uint8_t *buf, struct scsi_sense s)
{
	memset(buf, 0, 8);
	buf[0] = 0x72;			/* current error, descriptor format, no descriptors */
	buf[1] = s.key;
	buf[2] = s.asc;
	buf[3] = s.ascq;
	return 8;
}


