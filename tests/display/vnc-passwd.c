// SPDX-License-Identifier: GPL-2.0-or-later
/* vnc-passwd PASSWORD FILE: a VNC password file (as vncpasswd writes) for vncsnapshot -passwd. */
#include <stdio.h>
#include <rfb/rfbproto.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: vnc-passwd PASSWORD FILE\n");
		return 2;
	}
	return rfbEncryptAndStorePasswd(argv[1], argv[2]) ? 1 : 0;
}
