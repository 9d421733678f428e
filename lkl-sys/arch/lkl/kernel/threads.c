// SPDX-License-Identifier: GPL-2.0
/*
 * Tasks on host threads, and the one virtual CPU they share.
 *
 * Every kernel task is run by exactly one host thread and owns a host
 * semaphore that thread sleeps on while the task is off the CPU. A
 * context switch posts the next task's semaphore and waits on its own,
 * so exactly one host thread runs kernel code at any time.
 *
 * Three kinds of task:
 *  - kernel threads, on host threads created by copy_thread();
 *  - the idle task, on the thread that booted the kernel;
 *  - host tasks, one per caller thread that enters through lkl_syscall(),
 *    run on that caller's own thread.
 *
 * A host task stays current when its thread returns to the program, and
 * the idle task stays current while its thread sleeps in arch_cpu_idle():
 * such a task is "borrowed". The CPU is then free, and the next host
 * thread to take it (to deliver an IRQ or make a syscall) runs kernel
 * code in the borrowed task's context, the way a hardware interrupt runs
 * on whatever task was interrupted. To switch a borrowed host task out,
 * the borrowing thread calls schedule() on its behalf and leaves
 * __switch_to() through a jump buffer instead of sleeping on the task's
 * semaphore. The borrowed idle task is switched out the same way, after
 * what its idle loop does on the way out; its own thread finishes the
 * switch back in arch_cpu_idle().
 */

#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/sched/signal.h>
#include <linux/sched/task_stack.h>
#include <linux/sched/stat.h>
#include <linux/tick.h>
#include <linux/slab.h>
#include <linux/cpu.h>
#include <linux/task_work.h>
#include <asm/host_ops.h>
#include <asm/lkl.h>

struct task_struct *lkl_current = &init_task;

/* The task host threads borrow to create their own tasks (pid 1). */
struct task_struct *lkl_bootstrap_task;

static struct {
	struct lkl_mutex *lock;
	/* Host thread running kernel code; 0 when the CPU is free. */
	unsigned long owner;
	unsigned int waiters;
	struct lkl_sem *wait_sem;
} cpu;

/* Serialises host task creation, which borrows the bootstrap task. */
static struct lkl_mutex *host_task_lock;

/*
 * Host threads of kernel threads that exited and must still be joined.
 * Only touched with the CPU held.
 */
struct lkl_thread_node {
	unsigned long tid;
	struct lkl_thread_node *next;
};

static struct lkl_thread_node *reap_list;

bool lkl_cpu_ready;

void lkl_cpu_init(void)
{
	cpu.lock = lkl_ops->mutex_alloc();
	cpu.wait_sem = lkl_ops->sem_alloc(0);
	host_task_lock = lkl_ops->mutex_alloc();
	cpu.owner = lkl_ops->thread_self();
	WRITE_ONCE(lkl_cpu_ready, true);
}

bool lkl_cpu_is_mine(void)
{
	return READ_ONCE(cpu.owner) == lkl_ops->thread_self();
}

static void cpu_set_owner(unsigned long tid)
{
	lkl_ops->mutex_lock(cpu.lock);
	cpu.owner = tid;
	lkl_ops->mutex_unlock(cpu.lock);
}

/* Waits until the CPU is free, then takes it. */
void lkl_cpu_take(void)
{
	unsigned long self = lkl_ops->thread_self();

	lkl_ops->mutex_lock(cpu.lock);
	while (cpu.owner) {
		cpu.waiters++;
		lkl_ops->mutex_unlock(cpu.lock);
		lkl_ops->sem_down(cpu.wait_sem);
		lkl_ops->mutex_lock(cpu.lock);
		cpu.waiters--;
	}
	cpu.owner = self;
	lkl_ops->mutex_unlock(cpu.lock);
}

/* Takes the CPU if it is free; the caller must not hold it already. */
bool lkl_cpu_try_take(void)
{
	bool taken = false;

	lkl_ops->mutex_lock(cpu.lock);
	if (!cpu.owner) {
		cpu.owner = lkl_ops->thread_self();
		taken = true;
	}
	lkl_ops->mutex_unlock(cpu.lock);
	return taken;
}

/*
 * Puts the borrowed host task current off the CPU and leaves with the
 * CPU handed to whatever runs next. Returns false if the scheduler kept
 * it (then the caller still holds the CPU).
 */
static bool switch_out_borrowed(void)
{
	struct task_struct *t = current;

	set_current_state(TASK_UNINTERRUPTIBLE);
	t->thread.jump_out = 1;
	if (__builtin_setjmp(t->thread.jmp_buf) == 0) {
		schedule();
		/* Still current: nothing else could run. */
		t->thread.jump_out = 0;
		return false;
	}
	return true;
}

/* kernel/sched/sched.h: the idle loop's way into the scheduler. */
void schedule_idle(void);

/*
 * Puts the borrowed idle task off the CPU from another thread, as the
 * idle loop would once need_resched() is set, so the task to run next is
 * woken directly rather than through the idle thread. The idle thread
 * finishes the switch back when it is woken (arch_cpu_idle()). Returns
 * false if the scheduler kept idle (then the caller still holds the CPU).
 */
static bool switch_out_idle(void)
{
	struct thread_struct *it = &init_task.thread;

	tick_nohz_idle_exit();
	it->jump_out = 1;
	if (__builtin_setjmp(it->jmp_buf) == 0) {
		schedule_idle();
		it->jump_out = 0;
		tick_nohz_idle_enter();
		return false;
	}
	return true;
}

/*
 * Leaves the kernel. Pending IRQs are run first; if another task should
 * run, the current task (host or idle) is switched out; otherwise the
 * CPU is freed with the current task borrowed. Returns false only to
 * the idle thread when it must keep the CPU and schedule itself.
 */
bool lkl_cpu_release(void)
{
	bool ran_irqs = false;

	for (;;) {
		if (READ_ONCE(lkl_irqs_pending) && !irqs_disabled()) {
			lkl_run_pending_irqs();
			ran_irqs = true;
			continue;
		}

		if (is_idle_task(current) && !lkl_halting) {
			bool idle_thread = lkl_ops->thread_self() ==
					   init_task.thread.host_tid;

			/*
			 * IRQs run in idle may have queued timers: the idle loop
			 * must go round once more to reprogram the tick, as it
			 * does after a hardware interrupt.
			 */
			if (idle_thread && (need_resched() || ran_irqs))
				return false;
			if (need_resched()) {
				if (switch_out_idle())
					return true;
				continue;
			}
			if (ran_irqs) {
				/* What the idle loop does before sleeping. */
				local_irq_disable();
				tick_nohz_idle_stop_tick();
				local_irq_enable();
				ran_irqs = false;
				continue;
			}
		} else if (!is_idle_task(current) &&
			   (need_resched() || !single_task_running()) &&
			   !lkl_halting) {
			if (switch_out_borrowed())
				return true;
		}

		lkl_ops->mutex_lock(cpu.lock);
		if (READ_ONCE(lkl_irqs_pending) && !irqs_disabled()) {
			lkl_ops->mutex_unlock(cpu.lock);
			continue;
		}
		/* A queued IRQ would wait for the next taker otherwise. */
		if (irqs_disabled())
			pr_err("lkl: CPU released with IRQs off from %px\n",
			       __builtin_return_address(0));
		cpu.owner = 0;
		if (cpu.waiters)
			lkl_ops->sem_up(cpu.wait_sem);
		lkl_ops->mutex_unlock(cpu.lock);
		return true;
	}
}

/*
 * Called by the idle loop with IRQs off: free the CPU and sleep until
 * someone hands it back because there is work.
 */
void arch_cpu_idle(void)
{
	struct thread_struct *it = &init_task.thread;

	/*
	 * Queued IRQs run here, and then the idle loop goes round again (it
	 * may have timers to program); otherwise IRQs are left enabled for
	 * whoever takes the free CPU.
	 */
	if (READ_ONCE(lkl_irqs_pending)) {
		raw_local_irq_enable();
		return;
	}
	raw_local_irq_enable();
	it->prev_sched = NULL;
	it->parked = 1;
	/* Someone may hand the CPU back at once: only the semaphore tells. */
	if (!lkl_cpu_release()) {
		it->parked = 0;
		return;
	}
	lkl_ops->sem_down(it->sem);
	if (it->killed)
		__builtin_longjmp(it->exit_jb, 1);
	it->parked = 0;
	if (lkl_current != &init_task)
		panic("lkl: idle resumed while %s is current\n",
		      lkl_current->comm);
	if (it->prev_sched) {
		/*
		 * Switched out by another thread (switch_out_idle()) and now
		 * back: finish the switch and go on idling.
		 */
		schedule_tail(it->prev_sched);
		tick_nohz_idle_enter();
	}
}

static void thread_bootstrap(void *arg)
{
	struct task_struct *t = arg;
	int (*fn)(void *) = t->thread.fn;
	void *fn_arg = t->thread.fn_arg;
	int ret;

	/* Every way this thread ends jumps back here (thread_end()). */
	if (__builtin_setjmp(t->thread.exit_jb))
		return;
	lkl_ops->sem_down(t->thread.sem);
	if (t->thread.killed)
		return;
	schedule_tail(t->thread.prev_sched);

	ret = fn(fn_arg);

	/*
	 * fn returned: a user mode thread that "returns to user space". Only
	 * init does that, once it has exec'd /init (setup.c); it then becomes
	 * the bootstrap host task and this thread goes away.
	 */
	if (WARN_ON(ret || task_pid_nr(t) != 1))
		do_exit(ret);
	t->thread.host_task = 1;
	t->thread.host_tid = 0;
	t->thread.node->next = reap_list;
	reap_list = t->thread.node;
	t->thread.node = NULL;
	lkl_bootstrap_task = t;
	lkl_boot_done();
	lkl_cpu_release();
}

static void reap_threads(void)
{
	while (reap_list) {
		struct lkl_thread_node *n = reap_list;

		reap_list = n->next;
		lkl_ops->thread_join(n->tid);
		kfree(n);
	}
}

int lkl_host_task_stub(void *unused)
{
	/* Host tasks run on their caller's thread, never from here. */
	WARN_ON(1);
	return 0;
}

int copy_thread(struct task_struct *p, const struct kernel_clone_args *args)
{
	struct thread_struct *t = &p->thread;

	memset(t, 0, sizeof(*t));
	t->sem = lkl_ops->sem_alloc(0);
	if (!t->sem)
		return -ENOMEM;

	if (args->fn == lkl_host_task_stub) {
		t->host_task = 1;
		return 0;
	}

	if (WARN_ON(!args->fn)) {
		lkl_ops->sem_free(t->sem);
		return -EINVAL;
	}

	reap_threads();

	t->node = kzalloc(sizeof(*t->node), GFP_KERNEL);
	if (!t->node)
		goto err;
	t->fn = args->fn;
	t->fn_arg = args->fn_arg;
	t->host_tid = lkl_ops->thread_create(thread_bootstrap, p);
	if (!t->host_tid)
		goto err;
	t->node->tid = t->host_tid;
	return 0;

err:
	kfree(t->node);
	lkl_ops->sem_free(t->sem);
	t->sem = NULL;
	return -ENOMEM;
}

void arch_release_task_struct(struct task_struct *tsk)
{
	if (tsk->thread.sem)
		lkl_ops->sem_free(tsk->thread.sem);
	tsk->thread.sem = NULL;
}

void flush_thread(void)
{
}

void show_stack(struct task_struct *task, unsigned long *esp,
		const char *loglvl)
{
}

/*
 * A switch to the idle task while its thread is parked in
 * arch_cpu_idle(): rather than wake that thread only for it to go back to
 * sleep, the switching thread does idle's part here, as arch_cpu_idle()
 * and the idle loop would: finish the switch, re-enter the idle state,
 * stop the tick and free the CPU with idle borrowed.
 */
static void idle_here(struct task_struct *prev)
{
	schedule_tail(prev);
	tick_nohz_idle_enter();
	local_irq_disable();
	tick_nohz_idle_stop_tick();
	local_irq_enable();
	lkl_cpu_release();
}

struct task_struct *__switch_to(struct task_struct *prev,
				struct task_struct *next)
{
	struct thread_struct *pt = &prev->thread, *nt = &next->thread;
	bool dead = READ_ONCE(prev->__state) == TASK_DEAD;
	bool jump = pt->jump_out;
	void *jb[5];
	void *exit_jb[5];

	bool in_place = nt->parked && !lkl_halting;

	nt->prev_sched = prev;
	lkl_current = next;
	if (!in_place)
		cpu_set_owner(nt->host_tid);

	if (jump) {
		/* prev's thread_struct may be freed once next runs. */
		memcpy(jb, pt->jmp_buf, sizeof(jb));
		pt->jump_out = 0;
	} else if (dead) {
		memcpy(exit_jb, pt->exit_jb, sizeof(exit_jb));
		pt->node->next = reap_list;
		reap_list = pt->node;
		pt->node = NULL;
	}

	if (in_place)
		idle_here(prev);
	else
		lkl_ops->sem_up(nt->sem);

	if (jump)
		__builtin_longjmp(jb, 1);
	if (dead)
		__builtin_longjmp(exit_jb, 1);

	if (pt->in_syscall) {
		/* A program thread: host signals may end its syscall. */
		while (lkl_ops->sem_down_intr(pt->sem))
			lkl_signal_kick(prev);
	} else {
		lkl_ops->sem_down(pt->sem);
	}
	if (pt->killed)
		__builtin_longjmp(pt->exit_jb, 1);
	if (lkl_current != prev || !pt->prev_sched)
		panic("lkl: %s resumed while %s is current (prev %p)\n",
		      prev->comm, lkl_current->comm, pt->prev_sched);

	return pt->prev_sched;
}

/*
 * With the CPU held, makes the calling host thread run host task t. The
 * task current on entry is borrowed: it is switched out, or the idle
 * thread is woken to schedule.
 */
static void become(struct task_struct *t)
{
	t->thread.host_tid = lkl_ops->thread_self();
	while (current != t) {
		wake_up_process(t);
		if (is_idle_task(current) ? !switch_out_idle() :
					    !switch_out_borrowed())
			continue;
		lkl_ops->sem_down(t->thread.sem);
		schedule_tail(t->thread.prev_sched);
	}
}

/* Takes the CPU and runs host task t on the calling thread. */
void lkl_task_enter(struct task_struct *t)
{
	lkl_cpu_take();
	become(t);
}

/* Runs with the CPU held as the bootstrap task; returns a host task. */
static struct task_struct *clone_host_task(void)
{
	struct task_struct *t;
	pid_t pid;

	pid = user_mode_thread(lkl_host_task_stub, NULL,
			       CLONE_VM | CLONE_FS | CLONE_FILES |
			       CLONE_SIGHAND | CLONE_THREAD);
	if (pid < 0)
		return ERR_PTR(pid);

	rcu_read_lock();
	t = find_task_by_pid_ns(pid, &init_pid_ns);
	rcu_read_unlock();
	if (WARN_ON(!t))
		return ERR_PTR(-ESRCH);
	snprintf(t->comm, sizeof(t->comm), "host%d", pid);
	return t;
}

/*
 * A task for the calling host thread, which has none yet. Returns with
 * the CPU held and the new task current, or an ERR_PTR without the CPU.
 */
struct task_struct *lkl_host_task_create(void)
{
	struct task_struct *t;

	lkl_ops->mutex_lock(host_task_lock);
	lkl_task_enter(lkl_bootstrap_task);
	t = clone_host_task();
	if (IS_ERR(t))
		lkl_cpu_release();
	else
		become(t);
	lkl_ops->mutex_unlock(host_task_lock);
	return t;
}

/* The host thread of t is exiting: so does t. */
void lkl_host_task_exit(struct task_struct *t)
{
	lkl_task_enter(t);
	t->thread.jump_out = 1;
	if (__builtin_setjmp(t->thread.jmp_buf) == 0)
		do_exit(0);
	/* __switch_to() jumped back here: t is dead, the CPU handed on. */
}

/*
 * Stops every kernel thread and joins its host thread. Called last, with
 * the CPU held and nothing else left to run.
 */
void lkl_threads_halt(void)
{
	struct task_struct *p, *t;

	WRITE_ONCE(lkl_cpu_ready, false);
	for_each_process_thread(p, t) {
		if (t == current || !t->thread.node)
			continue;
		t->thread.killed = 1;
		lkl_ops->sem_up(t->thread.sem);
		lkl_ops->thread_join(t->thread.host_tid);
	}
	reap_threads();

	init_task.thread.killed = 1;
	lkl_ops->sem_up(init_task.thread.sem);
	lkl_ops->thread_join(init_task.thread.host_tid);

	for_each_process_thread(p, t) {
		lkl_ops->sem_free(t->thread.sem);
		t->thread.sem = NULL;
	}
	lkl_ops->sem_free(init_task.thread.sem);
	lkl_ops->sem_free(cpu.wait_sem);
	lkl_ops->mutex_free(cpu.lock);
	lkl_ops->mutex_free(host_task_lock);
}
