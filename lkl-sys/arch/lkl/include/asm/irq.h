/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_IRQ_H
#define _ASM_LKL_IRQ_H

/* IRQ 0 is never handed out; the clockevent and devices get the rest. */
#define NR_IRQS		64

#include <asm-generic/irq.h>

#endif
