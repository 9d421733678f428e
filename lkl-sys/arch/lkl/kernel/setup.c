// SPDX-License-Identifier: GPL-2.0
/*
 * Boot and halt. lkl_start_kernel() starts the kernel on a host thread
 * of its own (which becomes the idle task) and returns once init has
 * run; lkl_halt() powers the kernel off and returns every resource.
 */

#include <linux/binfmts.h>
#include <linux/init.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/panic_notifier.h>
#include <linux/random.h>
#include <linux/reboot.h>
#include <linux/sched/task.h>
#include <linux/start_kernel.h>
#include <linux/string.h>
#include <linux/syscalls.h>
#include <linux/fs.h>
#include <linux/file.h>
#include <linux/init_syscalls.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/sched/debug.h>
#include <asm/host_ops.h>
#include <asm/setup.h>
#include <asm/lkl.h>

const struct lkl_host_operations *lkl_ops;
unsigned long memory_start, memory_end;
void *empty_zero_page;
bool lkl_halting;

static_assert(LKL_PHYS_BASE == LKL_RAM_PHYS_BASE);

static unsigned long mem_size = 64UL << 20;
static void *mem_base;
static struct lkl_sem *boot_sem;
static int running;

int lkl_is_running(void)
{
	return READ_ONCE(running);
}

static int __init mem_param(char *p)
{
	if (!p)
		return -EINVAL;
	mem_size = memparse(p, &p);
	return 0;
}
early_param("mem", mem_param);

static int host_panic(struct notifier_block *nb, unsigned long action,
		      void *data);
static struct notifier_block panic_nb;

void __init setup_arch(char **cmdline_p)
{
	unsigned long max_zone_pfn[MAX_NR_ZONES] = { 0 };

	lkl_console_init();
	atomic_notifier_chain_register(&panic_notifier_list, &panic_nb);

	*cmdline_p = boot_command_line;
	parse_early_param();

	mem_size = PAGE_ALIGN(max(mem_size, 16UL << 20));
	mem_base = lkl_ops->mem_alloc(mem_size);
	if (!mem_base)
		panic("lkl: cannot allocate %lu bytes of RAM\n", mem_size);
	memory_start = (unsigned long)mem_base;
	memory_end = memory_start + mem_size;

	memblock_add(LKL_PHYS_BASE, mem_size);
	min_low_pfn = PFN_UP(LKL_PHYS_BASE);
	max_low_pfn = max_pfn = PFN_DOWN(LKL_PHYS_BASE + mem_size);
	high_memory = (void *)memory_end;

	/*
	 * The host's entropy, trusted as a boot loader's seed would be:
	 * with no device to gather any, the CRNG would stay uninitialized,
	 * and WireGuard, for one, drops handshakes until it is.
	 */
	if (lkl_ops->random) {
		u8 seed[32];

		if (!lkl_ops->random(seed, sizeof(seed)))
			add_bootloader_randomness(seed, sizeof(seed));
		memzero_explicit(seed, sizeof(seed));
	}

	empty_zero_page = memblock_alloc(PAGE_SIZE, PAGE_SIZE);
	if (!empty_zero_page)
		panic("lkl: no zero page\n");

	max_zone_pfn[ZONE_NORMAL] = max_pfn;
	free_area_init(max_zone_pfn);
}

void __init mem_init(void)
{
	set_max_mapnr(max_pfn - min_low_pfn);
	memblock_free_all();
}

void lkl_mem_release(void)
{
	lkl_ops->mem_free(mem_base, mem_size);
	mem_base = NULL;
}

/*
 * init (pid 1) execs /init, which this binary format "loads" by doing
 * nothing: kernel_init() then returns as if to user space, and its task
 * becomes the bootstrap host task (threads.c).
 */
static int load_init(struct linux_binprm *bprm)
{
	int ret, sig;

	if (strcmp(bprm->filename, "/init"))
		return -ENOEXEC;
	ret = begin_new_exec(bprm);
	if (ret)
		return ret;
	setup_new_exec(bprm);

	/*
	 * The host program owns signals: the kernel's own (SIGPIPE on a
	 * closed socket, ...) are dropped instead of queued.
	 */
	spin_lock_irq(&current->sighand->siglock);
	for (sig = 1; sig <= _NSIG; sig++)
		if (!sig_kernel_only(sig))
			current->sighand->action[sig - 1].sa.sa_handler =
				SIG_IGN;
	spin_unlock_irq(&current->sighand->siglock);

	lkl_syscalls_init();
	return 0;
}

static struct linux_binfmt init_format = {
	.load_binary = load_init,
};

static int __init init_file_setup(void)
{
	struct file *f;

	register_binfmt(&init_format);
	f = filp_open("/init", O_CREAT | O_WRONLY, 0700);
	if (IS_ERR(f))
		return PTR_ERR(f);
	/* Closed now: a file still open for writing cannot be exec'd. */
	__fput_sync(f);
	return 0;
}
late_initcall(init_file_setup);

static int host_panic(struct notifier_block *nb, unsigned long action,
		      void *data)
{
	lkl_ops->panic();
	return NOTIFY_DONE;
}

static struct notifier_block panic_nb = {
	.notifier_call = host_panic,
	.priority = INT_MAX,
};


void machine_halt(void)
{
}

void machine_power_off(void)
{
}

void machine_restart(char *cmd)
{
}

static void __ref boot_thread(void *arg)
{
	/* The idle task's thread ends by jumping back here at halt. */
	if (__builtin_setjmp(init_task.thread.exit_jb))
		return;
	lkl_cpu_init();
	init_task.thread.host_tid = lkl_ops->thread_self();
	start_kernel();
}

static const char default_cmdline[] = "bonding.max_bonds=0 dummy.numdummies=0 ";

int __ref lkl_start_kernel(const struct lkl_host_operations *ops,
		     const char *cmdline)
{
	if (lkl_ops)
		return -EALREADY;
	lkl_ops = ops;

	/*
	 * Built-in bonding and dummy would each add a device at boot (bond0,
	 * dummy0), as loading their modules does; an instance starts with
	 * the NICs its environment names only. The caller's line comes
	 * after, so it can ask for them.
	 */
	if (strscpy(boot_command_line, default_cmdline, COMMAND_LINE_SIZE) < 0 ||
	    strlcat(boot_command_line, cmdline, COMMAND_LINE_SIZE) >=
		    COMMAND_LINE_SIZE)
		return -E2BIG;

	boot_sem = ops->sem_alloc(0);
	init_task.thread.sem = ops->sem_alloc(0);
	if (!boot_sem || !init_task.thread.sem)
		return -ENOMEM;

	if (!ops->thread_create(boot_thread, NULL))
		return -ENOMEM;
	ops->sem_down(boot_sem);
	return lkl_bootstrap_task ? 0 : -EIO;
}

/* Called by init's thread once it is the bootstrap task (threads.c). */
void lkl_boot_done(void)
{
	WRITE_ONCE(running, 1);
	lkl_ops->sem_up(boot_sem);
}

long lkl_halt(void)
{
	struct task_struct *t;

	if (!lkl_is_running())
		return -ENODEV;

	t = lkl_ops->tls_get();
	if (t) {
		lkl_task_enter(t);
	} else {
		t = lkl_host_task_create();
		if (IS_ERR(t))
			return PTR_ERR(t);
	}
	lkl_ops->tls_set(NULL);

	kernel_power_off();

	WRITE_ONCE(running, 0);
	lkl_halting = true;
	local_irq_disable();
	lkl_threads_halt();
	lkl_time_release();
	lkl_mem_release();
	lkl_ops->sem_free(boot_sem);
	return 0;
}

void show_regs(struct pt_regs *regs)
{
}

#ifdef CONFIG_PROC_FS
static void *cpuinfo_start(struct seq_file *m, loff_t *pos)
{
	return *pos == 0 ? (void *)1 : NULL;
}

static void *cpuinfo_next(struct seq_file *m, void *v, loff_t *pos)
{
	++*pos;
	return NULL;
}

static void cpuinfo_stop(struct seq_file *m, void *v)
{
}

static int cpuinfo_show(struct seq_file *m, void *v)
{
	seq_puts(m, "processor\t: 0\nvendor_id\t: lkl\n\n");
	return 0;
}

const struct seq_operations cpuinfo_op = {
	.start	= cpuinfo_start,
	.next	= cpuinfo_next,
	.stop	= cpuinfo_stop,
	.show	= cpuinfo_show,
};
#endif
