// SPDX-License-Identifier: GPL-2.0
/*
 * IRQs raised by host threads. With the CPU free, the raising thread
 * takes it and runs the handler at once; otherwise the IRQ is queued and
 * replayed by the CPU's holder as soon as it enables IRQs or leaves.
 */

#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/irqchip.h>
#include <linux/hardirq.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <asm/irq_regs.h>
#include <asm/host_ops.h>
#include <asm/lkl.h>

unsigned long lkl_irq_flags = ARCH_IRQ_DISABLED;

/* Queued IRQs, one bit each; NR_IRQS fits a word. */
unsigned long lkl_irqs_pending;
static unsigned long used_mask = 1;	/* IRQ 0 is never handed out */
static const char *irq_users[NR_IRQS];

static_assert(NR_IRQS <= BITS_PER_LONG);

/*
 * Handlers see these "registers": the tick only does its per-tick work
 * (the timer wheel, process times) when get_irq_regs() is set.
 */
static struct pt_regs irq_regs;

void lkl_run_irq(int irq)
{
	struct pt_regs *old_regs;
	unsigned long flags;

	local_irq_save(flags);
	old_regs = set_irq_regs(&irq_regs);
	irq_enter();
	generic_handle_irq(irq);
	irq_exit();
	set_irq_regs(old_regs);
	local_irq_restore(flags);
}

void lkl_run_pending_irqs(void)
{
	unsigned long mask;
	int irq;

	mask = __atomic_exchange_n(&lkl_irqs_pending, 0, __ATOMIC_ACQ_REL);
	while (mask) {
		irq = __ffs(mask);
		mask &= ~BIT(irq);
		lkl_run_irq(irq);
	}
}

void lkl_irq_mark_pending(int irq)
{
	__atomic_fetch_or(&lkl_irqs_pending, BIT(irq), __ATOMIC_ACQ_REL);
}

int lkl_trigger_irq(int irq)
{
	if (irq <= 0 || irq >= NR_IRQS)
		return -EINVAL;
	/* IRQs are live from the start of boot (the first timer expiry may
	 * come before init has finished) until halt.
	 */
	if (!READ_ONCE(lkl_cpu_ready))
		return -ENODEV;

	if (lkl_cpu_is_mine()) {
		/* Raised from kernel code through a host operation. */
		lkl_irq_mark_pending(irq);
		if (!irqs_disabled())
			lkl_run_pending_irqs();
		return 0;
	}

	/*
	 * Queue first: if the CPU is busy its holder sees the bit before
	 * it frees the CPU (lkl_cpu_release() checks under the CPU lock).
	 */
	lkl_irq_mark_pending(irq);
	if (lkl_cpu_try_take())
		lkl_cpu_release();
	return 0;
}

static void lkl_irq_noop(struct irq_data *data)
{
}

static struct irq_chip lkl_irq_chip = {
	.name		= "lkl",
	.irq_mask	= lkl_irq_noop,
	.irq_unmask	= lkl_irq_noop,
};

int lkl_get_free_irq(const char *user)
{
	int irq;

	for (irq = 1; irq < NR_IRQS; irq++) {
		if (!(__atomic_fetch_or(&used_mask, BIT(irq),
					__ATOMIC_ACQ_REL) & BIT(irq))) {
			irq_users[irq] = user;
			return irq;
		}
	}
	return -EBUSY;
}

void lkl_put_irq(int irq, const char *user)
{
	if (irq <= 0 || irq >= NR_IRQS || irq_users[irq] != user)
		return;
	irq_users[irq] = NULL;
	__atomic_fetch_and(&used_mask, ~BIT(irq), __ATOMIC_ACQ_REL);
}

void __init init_IRQ(void)
{
	int irq;

	for (irq = 1; irq < NR_IRQS; irq++) {
		irq_set_chip_and_handler(irq, &lkl_irq_chip, handle_simple_irq);
		irq_clear_status_flags(irq, IRQ_NOREQUEST | IRQ_NOPROBE);
	}
}
