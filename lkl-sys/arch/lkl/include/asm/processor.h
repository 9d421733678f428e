/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_PROCESSOR_H
#define _ASM_LKL_PROCESSOR_H

#ifndef __ASSEMBLY__

#include <linux/types.h>
#include <linux/llist.h>

struct task_struct;
struct lkl_sem;
struct lkl_thread_node;

/*
 * Host side of a kernel task. Every task owns a host semaphore; the host
 * thread that runs the task sleeps on it whenever the task is not on the
 * (single) CPU.
 */
struct thread_struct {
	struct lkl_sem *sem;
	/* The host thread that runs this task (our thread, or a caller's). */
	unsigned long host_tid;
	/* Set for tasks spawned by copy_thread; freed on reap. */
	struct lkl_thread_node *node;
	/* Entry of a new kernel thread. */
	int (*fn)(void *arg);
	void *fn_arg;
	/* The task that was on the CPU before this one was switched in. */
	struct task_struct *prev_sched;
	/*
	 * Set while a host thread that is not the task's own schedules the
	 * task out: __switch_to() then returns through jmp_buf.
	 */
	unsigned int jump_out:1;
	/* Where the task's host thread returns from to end (no exit call). */
	void *exit_jb[5];
	unsigned int host_task:1;
	unsigned int killed:1;
	/*
	 * Idle task only: its thread sleeps in arch_cpu_idle(), and a switch
	 * to idle is finished by the switching thread itself (threads.c).
	 */
	unsigned int parked:1;
	void *jmp_buf[5];
	/* Host task inside lkl_syscall(); written with the CPU held. */
	int in_syscall;
	/* A host signal asked for this task to see a pending signal. */
	unsigned long kicked;
	struct llist_node kick_node;
};

#define INIT_THREAD { }

static inline void cpu_relax(void)
{
	__asm__ __volatile__("" : : : "memory");
}

#define TASK_SIZE		(~0UL)
#define TASK_UNMAPPED_BASE	0
#define STACK_TOP		TASK_SIZE
#define STACK_TOP_MAX		TASK_SIZE

#define KSTK_EIP(tsk)		(0)
#define KSTK_ESP(tsk)		(0)

static inline unsigned long __get_wchan(struct task_struct *p)
{
	return 0;
}

#define task_pt_regs(tsk)	((struct pt_regs *)0)


static inline void prefetch(const void *x)
{
}

static inline void prefetchw(const void *x)
{
}

#endif /* !__ASSEMBLY__ */

#endif /* _ASM_LKL_PROCESSOR_H */
