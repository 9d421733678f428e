// SPDX-License-Identifier: GPL-2.0
/* Kernel messages go to the host's print operation. */

#include <linux/console.h>
#include <linux/init.h>
#include <asm/host_ops.h>

static void host_console_write(struct console *con, const char *str,
			       unsigned int len)
{
	lkl_ops->print(str, len);
}

static struct console host_console = {
	.name	= "lkl",
	.write	= host_console_write,
	.flags	= CON_PRINTBUFFER | CON_ENABLED,
	.index	= -1,
};

/* Called first thing in setup_arch(), so even early panics are seen. */
void __init lkl_console_init(void)
{
	register_console(&host_console);
}
