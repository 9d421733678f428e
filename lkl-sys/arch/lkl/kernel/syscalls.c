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

	/* No signal handlers run here, so nothing restarts a syscall. */
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

long lkl_syscall(long no, const long *params)
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

	ret = lkl_run_syscall(no, params);
	lkl_syscall_exit_work();
	lkl_cpu_release();
	return ret;
}
