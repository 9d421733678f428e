/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _ASM_UAPI_LKL_HOST_OPS_H
#define _ASM_UAPI_LKL_HOST_OPS_H

/*
 * What the embedding program supplies to the kernel. Every pointer must
 * be set. Threads the host creates for the kernel must block all signals.
 */

/*
 * Kernel RAM (the one mem_alloc of boot) starts at this "physical"
 * address: device models translate physical = host - base + this.
 */
#define LKL_RAM_PHYS_BASE 0x1000000UL

struct lkl_sem;
struct lkl_mutex;
struct lkl_timer;

typedef unsigned long lkl_thread_t;

struct lkl_host_operations {
	/* Kernel console output (not NUL terminated). */
	void (*print)(const char *str, int len);
	/* Kernel panic: must not return (abort, so a debugger gets a core). */
	void (*panic)(void);

	struct lkl_sem *(*sem_alloc)(int count);
	void (*sem_free)(struct lkl_sem *sem);
	void (*sem_up)(struct lkl_sem *sem);
	void (*sem_down)(struct lkl_sem *sem);
	/*
	 * Like sem_down, but returns -EINTR, without taking the semaphore,
	 * when a signal handler of the calling thread ends the wait the way
	 * it would end a blocking read (a handler without SA_RESTART); 0
	 * once taken. Used only by program threads blocked in a syscall.
	 */
	int (*sem_down_intr)(struct lkl_sem *sem);

	struct lkl_mutex *(*mutex_alloc)(void);
	void (*mutex_free)(struct lkl_mutex *mutex);
	void (*mutex_lock)(struct lkl_mutex *mutex);
	void (*mutex_unlock)(struct lkl_mutex *mutex);

	/*
	 * A new joinable thread with all signals blocked; 0 on failure. The
	 * thread ends when fn returns.
	 */
	lkl_thread_t (*thread_create)(void (*fn)(void *), void *arg);
	int (*thread_join)(lkl_thread_t tid);
	/* Non-zero id of the calling thread, unique among live threads. */
	lkl_thread_t (*thread_self)(void);

	/*
	 * One thread-local slot. The destructor runs when a thread that
	 * set a non-NULL value exits.
	 */
	int (*tls_init)(void (*destructor)(void *));
	void (*tls_set)(void *value);
	void *(*tls_get)(void);

	/* Monotonic time in nanoseconds. */
	unsigned long long (*time)(void);

	/* A one-shot timer calling fn(arg) on a host thread. */
	struct lkl_timer *(*timer_alloc)(void (*fn)(void *), void *arg);
	/* Arms (or re-arms) the timer delta_ns from now. */
	int (*timer_set_oneshot)(struct lkl_timer *timer,
				 unsigned long long delta_ns);
	void (*timer_free)(struct lkl_timer *timer);

	/* Page aligned, zero filled; size is a multiple of the page size. */
	void *(*mem_alloc)(unsigned long size);
	void (*mem_free)(void *mem, unsigned long size);

	/*
	 * Device registers: a read or write of size 1, 2, 4 or 8 bytes at a
	 * physical address handed to the kernel on its command line. Returns
	 * 0, or a negative errno for an address no device claims.
	 */
	int (*iomem_access)(unsigned long addr, void *val, int size,
			    int write);

	/*
	 * User memory of the program that the calling thread runs a syscall
	 * for, when that program lives in another host process (see
	 * lkl_syscall_remote()): copies n bytes from its address from to our
	 * to (to_user 0), or from our from to its address to (to_user 1).
	 * Returns the number of bytes not copied.
	 */
	unsigned long (*remote_copy)(void *to, const void *from,
				     unsigned long n, int to_user);

	/*
	 * Fills buf with len bytes from the host's random source; 0, or a
	 * negative errno. The kernel's RNG is seeded from it at boot.
	 */
	int (*random)(void *buf, unsigned long len);
};

/* Entry points (the only global symbols of the kernel object). */
int lkl_start_kernel(const struct lkl_host_operations *ops,
		     const char *cmdline);
long lkl_syscall(long no, const long *params);
long lkl_syscall_remote(long no, const long *params);
int lkl_trigger_irq(int irq);
int lkl_get_free_irq(const char *user);
void lkl_put_irq(int irq, const char *user);
int lkl_is_running(void);
long lkl_halt(void);

#endif
