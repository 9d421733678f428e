/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_ATOMIC_H
#define _ASM_LKL_ATOMIC_H

#include <linux/types.h>
#include <asm/cmpxchg.h>
#include <asm/barrier.h>

/*
 * atomic_t and atomic64_t on compiler builtins; the fallback layer
 * derives every other operation from these.
 */

#define ATOMIC64_INIT(i)	{ (i) }

#define arch_atomic_read(v)	READ_ONCE((v)->counter)
#define arch_atomic_set(v, i)	WRITE_ONCE((v)->counter, (i))
#define arch_atomic64_read(v)	READ_ONCE((v)->counter)
#define arch_atomic64_set(v, i)	WRITE_ONCE((v)->counter, (i))

#define LKL_ATOMIC_OP(pfx, type, op, builtin)				\
static inline void arch_##pfx##_##op(type i, pfx##_t *v)		\
{									\
	__atomic_##builtin(&v->counter, i, __ATOMIC_RELAXED);		\
}									\
static inline type arch_##pfx##_fetch_##op(type i, pfx##_t *v)		\
{									\
	return __atomic_##builtin(&v->counter, i, __ATOMIC_SEQ_CST);	\
}

#define LKL_ATOMIC_OPS(pfx, type)					\
LKL_ATOMIC_OP(pfx, type, add, fetch_add)				\
LKL_ATOMIC_OP(pfx, type, sub, fetch_sub)				\
LKL_ATOMIC_OP(pfx, type, and, fetch_and)				\
LKL_ATOMIC_OP(pfx, type, or, fetch_or)					\
LKL_ATOMIC_OP(pfx, type, xor, fetch_xor)				\
static inline type arch_##pfx##_add_return(type i, pfx##_t *v)		\
{									\
	return __atomic_add_fetch(&v->counter, i, __ATOMIC_SEQ_CST);	\
}									\
static inline type arch_##pfx##_sub_return(type i, pfx##_t *v)		\
{									\
	return __atomic_sub_fetch(&v->counter, i, __ATOMIC_SEQ_CST);	\
}									\
static inline type arch_##pfx##_xchg(pfx##_t *v, type n)		\
{									\
	return __atomic_exchange_n(&v->counter, n, __ATOMIC_SEQ_CST);	\
}									\
static inline type arch_##pfx##_cmpxchg(pfx##_t *v, type o, type n)	\
{									\
	__atomic_compare_exchange_n(&v->counter, &o, n, false,		\
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);\
	return o;							\
}

LKL_ATOMIC_OPS(atomic, int)
LKL_ATOMIC_OPS(atomic64, s64)

#define arch_atomic_add			arch_atomic_add
#define arch_atomic_sub			arch_atomic_sub
#define arch_atomic_and			arch_atomic_and
#define arch_atomic_or			arch_atomic_or
#define arch_atomic_xor			arch_atomic_xor
#define arch_atomic_fetch_add		arch_atomic_fetch_add
#define arch_atomic_fetch_sub		arch_atomic_fetch_sub
#define arch_atomic_fetch_and		arch_atomic_fetch_and
#define arch_atomic_fetch_or		arch_atomic_fetch_or
#define arch_atomic_fetch_xor		arch_atomic_fetch_xor
#define arch_atomic_add_return		arch_atomic_add_return
#define arch_atomic_sub_return		arch_atomic_sub_return
#define arch_atomic_xchg		arch_atomic_xchg
#define arch_atomic_cmpxchg		arch_atomic_cmpxchg
#define arch_atomic64_add		arch_atomic64_add
#define arch_atomic64_sub		arch_atomic64_sub
#define arch_atomic64_and		arch_atomic64_and
#define arch_atomic64_or		arch_atomic64_or
#define arch_atomic64_xor		arch_atomic64_xor
#define arch_atomic64_fetch_add		arch_atomic64_fetch_add
#define arch_atomic64_fetch_sub		arch_atomic64_fetch_sub
#define arch_atomic64_fetch_and		arch_atomic64_fetch_and
#define arch_atomic64_fetch_or		arch_atomic64_fetch_or
#define arch_atomic64_fetch_xor		arch_atomic64_fetch_xor
#define arch_atomic64_add_return	arch_atomic64_add_return
#define arch_atomic64_sub_return	arch_atomic64_sub_return
#define arch_atomic64_xchg		arch_atomic64_xchg
#define arch_atomic64_cmpxchg		arch_atomic64_cmpxchg

#endif /* _ASM_LKL_ATOMIC_H */
