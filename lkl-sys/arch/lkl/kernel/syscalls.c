// SPDX-License-Identifier: GPL-2.0
/*
 * The syscall entry: any host thread may call lkl_syscall(); the first
 * call of a thread gives it a kernel task of its own, which it keeps
 * until it exits.
 */

#include <linux/syscalls.h>
#include <linux/sched/signal.h>
#include <linux/task_work.h>
#include <linux/reboot.h>
#include <linux/mm.h>
#include <linux/interrupt.h>
#include <linux/llist.h>
#include <linux/sched/task.h>
#include <asm/host_ops.h>
#include <asm/lkl.h>
#include <asm/unistd.h>

typedef long (*lkl_syscall_fn)(const long *args);

#undef __SYSCALL
#define __SYSCALL(nr, sym) long __lkl_##sym(const long *args);
#include <asm/unistd.h>

long __lkl_sys_ni_syscall(const long *args)
{
	return -ENOSYS;
}

/* Signals are never delivered into the kernel's tasks. */
long __lkl_sys_rt_sigreturn(const long *args)
{
	return -ENOSYS;
}

SYSCALL_DEFINE6(mmap, unsigned long, addr, unsigned long, len,
		unsigned long, prot, unsigned long, flags,
		unsigned long, fd, off_t, off)
{
	if (off & ~PAGE_MASK)
		return -EINVAL;
	return ksys_mmap_pgoff(addr, len, prot, flags, fd, off >> PAGE_SHIFT);
}

#undef __SYSCALL
#define __SYSCALL(nr, sym) [nr] = __lkl_##sym,

static const lkl_syscall_fn syscall_table[__NR_syscalls] = {
	[0 ... __NR_syscalls - 1] = __lkl_sys_ni_syscall,
#include <asm/unistd.h>
};

long lkl_run_syscall(long no, const long *params)
{
	long ret;

	if (no < 0 || no >= __NR_syscalls)
		return -ENOSYS;
	ret = syscall_table[no](params);

	/*
	 * Only a handler without SA_RESTART ends a wait here (host signals
	 * above), and after one the host would not restart the syscall.
	 */
	switch (ret) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
	case -ERESTART_RESTARTBLOCK:
		ret = -EINTR;
		break;
	}
	return ret;
}

/*
 * Host signals. A program thread whose syscall blocks sleeps on its
 * task's semaphore (__switch_to()). When a host signal handler ends that
 * sleep as it would end a blocking read, the thread asks, through an IRQ
 * since it does not hold the CPU, for its task to be marked as having a
 * signal pending and woken from an interruptible sleep: the syscall then
 * ends as it would on the host (EINTR, or a partial count).
 */
static LLIST_HEAD(kick_list);
static int kick_irq = -1;

/* Called without the CPU, by the thread of t, which is in a syscall. */
void lkl_signal_kick(struct task_struct *t)
{
	if (kick_irq < 0 || test_and_set_bit(0, &t->thread.kicked))
		return;
	get_task_struct(t);
	llist_add(&t->thread.kick_node, &kick_list);
	lkl_trigger_irq(kick_irq);
}

static irqreturn_t kick_handler(int irq, void *dev)
{
	struct llist_node *list = llist_del_all(&kick_list);
	struct task_struct *t, *next;

	llist_for_each_entry_safe(t, next, list, thread.kick_node) {
		clear_bit(0, &t->thread.kicked);
		/* Not if the syscall ended meanwhile: it would hit the next. */
		if (t->thread.in_syscall) {
			set_tsk_thread_flag(t, TIF_SIGPENDING);
			wake_up_state(t, TASK_INTERRUPTIBLE);
		}
		put_task_struct(t);
	}
	return IRQ_HANDLED;
}

static int __init signal_kick_init(void)
{
	int irq = lkl_get_free_irq("signal");

	if (irq < 0)
		return irq;
	if (request_irq(irq, kick_handler, 0, "signal", NULL)) {
		lkl_put_irq(irq, "signal");
		return -EBUSY;
	}
	kick_irq = irq;
	return 0;
}
arch_initcall(signal_kick_init);

/* What a return to user mode would do: deferred work, e.g. the last fput. */
void lkl_syscall_exit_work(void)
{
	if (current->task_works)
		task_work_run();
	clear_thread_flag(TIF_NOTIFY_SIGNAL);
	clear_thread_flag(TIF_NOTIFY_RESUME);
	if (signal_pending(current))
		flush_signals(current);
}

static void host_thread_gone(void *task)
{
	if (lkl_is_running())
		lkl_host_task_exit(task);
}

void lkl_syscalls_init(void)
{
	lkl_ops->tls_init(host_thread_gone);
}

static long do_syscall(long no, const long *params, bool remote)
{
	struct task_struct *t;
	long ret;

	if (!lkl_is_running())
		return -ENODEV;
	/* Halting has its own entry point, lkl_halt(). */
	if (no == __NR_reboot)
		return -EPERM;

	t = lkl_ops->tls_get();
	if (t) {
		lkl_task_enter(t);
	} else {
		t = lkl_host_task_create();
		if (IS_ERR(t))
			return PTR_ERR(t);
		lkl_ops->tls_set(t);
	}

	if (remote)
		set_thread_flag(TIF_REMOTE);
	t->thread.in_syscall = 1;
	ret = lkl_run_syscall(no, params);
	t->thread.in_syscall = 0;
	lkl_syscall_exit_work();
	if (remote)
		clear_thread_flag(TIF_REMOTE);
	lkl_cpu_release();
	return ret;
}

long lkl_syscall(long no, const long *params)
{
	return do_syscall(no, params, false);
}

/*
 * A syscall for a program in another host process: its pointer arguments
 * are that program's, and every user copy goes through the host
 * (asm/uaccess.h).
 */
long lkl_syscall_remote(long no, const long *params)
{
	return do_syscall(no, params, true);
}

unsigned long lkl_clear_remote_user(void __user *to, unsigned long n)
{
	static const char zeros[256];
	unsigned long done = 0;

	while (done < n) {
		unsigned long chunk = min(n - done, sizeof(zeros));
		unsigned long left;

		left = lkl_ops->remote_copy((char __force *)to + done, zeros,
					    chunk, 1);
		done += chunk - left;
		if (left)
			break;
	}
	return n - done;
}
