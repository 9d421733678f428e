/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_UACCESS_H
#define _ASM_LKL_UACCESS_H

/*
 * User memory is normally the host process's own, as is the kernel's, so
 * a copy is a memcpy. A task running a syscall for a program in another
 * host process (lkl_syscall_remote(), TIF_REMOTE) holds that program's
 * pointers instead: its copies go through the host, which reaches the
 * other process's memory. Kernel memory is always our own.
 */

#include <linux/compiler.h>
#include <linux/string.h>
#include <linux/thread_info.h>
#include <linux/unaligned.h>
#include <asm/host_ops.h>

static __always_inline bool lkl_user_is_remote(void)
{
	return unlikely(test_thread_flag(TIF_REMOTE));
}

static inline __must_check unsigned long
raw_copy_from_user(void *to, const void __user *from, unsigned long n)
{
	if (lkl_user_is_remote())
		return lkl_ops->remote_copy(to, (const void __force *)from, n,
					    0);
	memcpy(to, (const void __force *)from, n);
	return 0;
}

static inline __must_check unsigned long
raw_copy_to_user(void __user *to, const void *from, unsigned long n)
{
	if (lkl_user_is_remote())
		return lkl_ops->remote_copy((void __force *)to, from, n, 1);
	memcpy((void __force *)to, from, n);
	return 0;
}
#define INLINE_COPY_FROM_USER
#define INLINE_COPY_TO_USER

unsigned long lkl_clear_remote_user(void __user *to, unsigned long n);

static inline __must_check unsigned long
__clear_user(void __user *to, unsigned long n)
{
	if (lkl_user_is_remote())
		return lkl_clear_remote_user(to, n);
	memset((void __force *)to, 0, n);
	return 0;
}
#define __clear_user __clear_user

/* Kernel addresses are always ours: plain loads and stores. */
#define __get_kernel_nofault(dst, src, type, err_label)			\
do {									\
	*((type *)(dst)) = get_unaligned((type *)(src));		\
	if (0)								\
		goto err_label;						\
} while (0)

#define __put_kernel_nofault(dst, src, type, err_label)			\
do {									\
	put_unaligned(*((type *)(src)), (type *)(dst));			\
	if (0)								\
		goto err_label;						\
} while (0)

#include <asm-generic/uaccess.h>

#endif /* _ASM_LKL_UACCESS_H */
