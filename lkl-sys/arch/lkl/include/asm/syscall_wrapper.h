/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_SYSCALL_WRAPPER_H
#define _ASM_LKL_SYSCALL_WRAPPER_H

/*
 * Every syscall is reached as long __lkl_sys_NAME(const long *args): the
 * table holds one function type and arguments come from an array, so no
 * call goes through a mismatched prototype.
 */

#define LKL_SC_ARGS1(a)	(a)[0]
#define LKL_SC_ARGS2(a)	LKL_SC_ARGS1(a), (a)[1]
#define LKL_SC_ARGS3(a)	LKL_SC_ARGS2(a), (a)[2]
#define LKL_SC_ARGS4(a)	LKL_SC_ARGS3(a), (a)[3]
#define LKL_SC_ARGS5(a)	LKL_SC_ARGS4(a), (a)[4]
#define LKL_SC_ARGS6(a)	LKL_SC_ARGS5(a), (a)[5]

#define __SYSCALL_DEFINEx(x, name, ...)					\
	long __lkl_sys##name(const long *args);				\
	static long __se_sys##name(__MAP(x, __SC_LONG, __VA_ARGS__));	\
	static inline long __do_sys##name(__MAP(x, __SC_DECL, __VA_ARGS__));\
	long __lkl_sys##name(const long *args)				\
	{								\
		return __se_sys##name(LKL_SC_ARGS##x(args));		\
	}								\
	static long __se_sys##name(__MAP(x, __SC_LONG, __VA_ARGS__))	\
	{								\
		long ret = __do_sys##name(__MAP(x, __SC_CAST, __VA_ARGS__));\
		__MAP(x, __SC_TEST, __VA_ARGS__);			\
		return ret;						\
	}								\
	static inline long __do_sys##name(__MAP(x, __SC_DECL, __VA_ARGS__))

#define SYSCALL_DEFINE0(sname)						\
	SYSCALL_METADATA(_##sname, 0);					\
	long __lkl_sys_##sname(const long *args);			\
	static long __do_sys_##sname(void);				\
	long __lkl_sys_##sname(const long *args)			\
	{								\
		return __do_sys_##sname();				\
	}								\
	static long __do_sys_##sname(void)

#define COND_SYSCALL(name)						\
	long __lkl_sys_##name(const long *args);			\
	__weak long __lkl_sys_##name(const long *args)			\
	{								\
		return sys_ni_syscall();				\
	}

#define SYS_NI(name)	COND_SYSCALL(name)

long sys_ni_syscall(void);

#endif /* _ASM_LKL_SYSCALL_WRAPPER_H */
