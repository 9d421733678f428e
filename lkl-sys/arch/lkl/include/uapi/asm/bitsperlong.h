/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _ASM_LKL_BITSPERLONG_H
#define _ASM_LKL_BITSPERLONG_H

/* The kernel runs in the host's address space: same word size. */
#define __BITS_PER_LONG 64

#include <asm-generic/bitsperlong.h>

#endif
