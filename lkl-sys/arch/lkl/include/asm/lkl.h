/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_LKL_H
#define _ASM_LKL_LKL_H

/* Internal interfaces between the files of arch/lkl/kernel. */

#include <asm/host_ops.h>

struct task_struct;

/* threads.c */
extern bool lkl_cpu_ready;
void lkl_cpu_init(void);
void lkl_cpu_take(void);
bool lkl_cpu_release(void);
bool lkl_cpu_try_take(void);
bool lkl_cpu_is_mine(void);
void lkl_task_enter(struct task_struct *t);
struct task_struct *lkl_host_task_create(void);
void lkl_host_task_exit(struct task_struct *t);
void lkl_threads_halt(void);
int lkl_host_task_stub(void *unused);
extern struct task_struct *lkl_bootstrap_task;

/* irq.c */
void lkl_irq_mark_pending(int irq);
void lkl_run_irq(int irq);

/* syscalls.c */
long lkl_run_syscall(long no, const long *params);
void lkl_syscall_exit_work(void);
void lkl_syscalls_init(void);
void lkl_signal_kick(struct task_struct *t);

/* console.c */
void lkl_console_init(void);

/* setup.c */
extern bool lkl_halting;
void lkl_boot_done(void);
void lkl_mem_release(void);

/* time.c */
void lkl_time_release(void);

#endif
