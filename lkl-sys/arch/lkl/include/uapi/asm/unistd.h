/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _ASM_LKL_UNISTD_H
#define _ASM_LKL_UNISTD_H

/* The generic 64-bit syscall numbering; renameat is kept for tools. */
#define __ARCH_WANT_RENAMEAT
#define __ARCH_WANT_SET_GET_RLIMIT
#define __ARCH_WANT_SYS_CLONE

#endif

/* Outside the guard: the syscall table includes it again with __SYSCALL. */
#include <asm-generic/unistd.h>
