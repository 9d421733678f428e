/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_CURRENT_H
#define _ASM_LKL_CURRENT_H

#ifndef __ASSEMBLY__

struct task_struct;

/* Only the host thread holding the CPU reads or writes it. */
extern struct task_struct *lkl_current;

static __always_inline struct task_struct *get_current(void)
{
	return lkl_current;
}

#define current get_current()

#endif

#endif /* _ASM_LKL_CURRENT_H */
