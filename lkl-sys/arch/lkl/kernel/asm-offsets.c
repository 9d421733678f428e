// SPDX-License-Identifier: GPL-2.0
/* Nothing here is written in assembly; kbuild still wants the file. */
#define COMPILE_OFFSETS
#include <linux/kbuild.h>

int main(void)
{
	return 0;
}
