/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_IO_H
#define _ASM_LKL_IO_H

#include <linux/types.h>
#include <asm/host_ops.h>

/*
 * Device registers live in the host: every access is a call to the
 * host's device model. ioremap() is the identity (asm-generic, !MMU).
 */

#define LKL_IOMEM_READ(sfx, type, size)					\
static inline type __raw_read##sfx(const volatile void __iomem *addr)	\
{									\
	type v = 0;							\
									\
	lkl_ops->iomem_access((unsigned long)addr, &v, size, 0);	\
	return v;							\
}

#define LKL_IOMEM_WRITE(sfx, type, size)				\
static inline void __raw_write##sfx(type v, volatile void __iomem *addr)\
{									\
	lkl_ops->iomem_access((unsigned long)addr, &v, size, 1);	\
}

LKL_IOMEM_READ(b, u8, 1)
LKL_IOMEM_READ(w, u16, 2)
LKL_IOMEM_READ(l, u32, 4)
LKL_IOMEM_READ(q, u64, 8)
LKL_IOMEM_WRITE(b, u8, 1)
LKL_IOMEM_WRITE(w, u16, 2)
LKL_IOMEM_WRITE(l, u32, 4)
LKL_IOMEM_WRITE(q, u64, 8)

#define __raw_readb __raw_readb
#define __raw_readw __raw_readw
#define __raw_readl __raw_readl
#define __raw_readq __raw_readq
#define __raw_writeb __raw_writeb
#define __raw_writew __raw_writew
#define __raw_writel __raw_writel
#define __raw_writeq __raw_writeq

#include <asm-generic/io.h>

#endif /* _ASM_LKL_IO_H */
