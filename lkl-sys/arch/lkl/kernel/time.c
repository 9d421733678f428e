// SPDX-License-Identifier: GPL-2.0
/*
 * Time from the host: a clocksource on the host monotonic clock and a
 * one-shot clockevent on a host timer whose expiry raises an IRQ.
 */

#include <linux/clocksource.h>
#include <linux/clockchips.h>
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/delay.h>
#include <linux/sched/clock.h>
#include <asm/host_ops.h>
#include <asm/lkl.h>

static unsigned long long boot_ns;
static struct lkl_timer *timer;
static int timer_irq;
/*
 * Host-clock time the clockevent is programmed for; 0 when disarmed. An
 * expiry that arrives before it is stale (from an earlier programming,
 * queued while the CPU was busy) and is ignored: the host timer fires
 * again for the current one.
 */
static unsigned long long timer_deadline;


unsigned long long sched_clock(void)
{
	if (!lkl_ops)
		return 0;
	return lkl_ops->time() - boot_ns;
}

void lkl_ndelay(unsigned long nsecs)
{
	unsigned long long until = lkl_ops->time() + nsecs;

	while (lkl_ops->time() < until)
		cpu_relax();
}

static u64 clock_read(struct clocksource *cs)
{
	return lkl_ops->time();
}

static struct clocksource host_clock = {
	.name	= "lkl",
	.rating	= 400,
	.read	= clock_read,
	.flags	= CLOCK_SOURCE_IS_CONTINUOUS | CLOCK_SOURCE_VALID_FOR_HRES,
	.mask	= CLOCKSOURCE_MASK(64),
};

static int timer_set_next_event(unsigned long delta,
				struct clock_event_device *evt)
{
	WRITE_ONCE(timer_deadline, lkl_ops->time() + delta);
	return lkl_ops->timer_set_oneshot(timer, delta);
}

static int host_timer_shutdown(struct clock_event_device *evt)
{
	/* A late expiry is ignored rather than cancelled at the host. */
	WRITE_ONCE(timer_deadline, 0);
	return 0;
}

static struct clock_event_device host_timer = {
	.name			= "lkl",
	.features		= CLOCK_EVT_FEAT_ONESHOT,
	.set_next_event		= timer_set_next_event,
	.set_state_shutdown	= host_timer_shutdown,
	.set_state_oneshot_stopped = host_timer_shutdown,
	.rating			= 400,
	.cpumask		= cpu_possible_mask,
};

static irqreturn_t timer_irq_handler(int irq, void *dev_id)
{
	struct clock_event_device *evt = dev_id;

	unsigned long long deadline = READ_ONCE(timer_deadline);

	if (!deadline || lkl_ops->time() < deadline)
		return IRQ_HANDLED;
	WRITE_ONCE(timer_deadline, 0);
	evt->event_handler(evt);
	return IRQ_HANDLED;
}

/* Host timer thread: the clockevent fired. */
static void timer_expired(void *arg)
{
	lkl_trigger_irq(timer_irq);
}

void lkl_time_release(void)
{
	if (timer)
		lkl_ops->timer_free(timer);
	timer = NULL;
}

void __init time_init(void)
{
	int ret;

	boot_ns = lkl_ops->time();
	/* Busy waits use the host clock: skip the delay loop calibration. */
	lpj_fine = 1000000000 / HZ;

	ret = clocksource_register_hz(&host_clock, NSEC_PER_SEC);
	if (ret)
		panic("lkl: clocksource: %d\n", ret);

	timer = lkl_ops->timer_alloc(timer_expired, NULL);
	if (!timer)
		panic("lkl: no host timer\n");
	timer_irq = lkl_get_free_irq("timer");
	ret = request_irq(timer_irq, timer_irq_handler, IRQF_TIMER, "timer",
			  &host_timer);
	if (ret)
		panic("lkl: timer irq: %d\n", ret);

	clockevents_config_and_register(&host_timer, NSEC_PER_SEC, 1,
					ULONG_MAX);
}
