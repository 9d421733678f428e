/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_IRQFLAGS_H
#define _ASM_LKL_IRQFLAGS_H

/*
 * IRQs are host events queued while the CPU is busy or IRQs are off;
 * turning IRQs back on replays the queue.
 */
#define ARCH_IRQ_ENABLED	1
#define ARCH_IRQ_DISABLED	0

extern unsigned long lkl_irq_flags;
void lkl_run_pending_irqs(void);
extern unsigned long lkl_irqs_pending;

#include <linux/compiler.h>

#define arch_local_save_flags arch_local_save_flags
static inline unsigned long arch_local_save_flags(void)
{
	return lkl_irq_flags;
}

#define arch_local_irq_restore arch_local_irq_restore
static inline void arch_local_irq_restore(unsigned long flags)
{
	lkl_irq_flags = flags;
	if (flags == ARCH_IRQ_ENABLED && READ_ONCE(lkl_irqs_pending))
		lkl_run_pending_irqs();
}

#include <asm-generic/irqflags.h>

#endif /* _ASM_LKL_IRQFLAGS_H */
