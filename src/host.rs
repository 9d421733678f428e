// SPDX-License-Identifier: GPL-2.0-only
//! The host operations the kernel runs on: threads, semaphores, mutexes,
//! a thread-local slot, time, timers, memory, console and panic, and the
//! dispatch of device register accesses.
//!
//! The library lives inside someone else's program: every thread started
//! here blocks all signals, no signal handler is installed, and timers run
//! on a thread of their own.

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_ulong, c_ulonglong, c_void};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use lkl_sys::{lkl_host_operations, lkl_mutex, lkl_sem, lkl_thread_t, lkl_timer};

/// Stack of every host thread that runs kernel tasks. Kernel code expects
/// little stack; pages are only touched as used.
const KERNEL_THREAD_STACK: usize = 256 * 1024;

/// How much of the kernel log is kept for a panic report.
const LOG_KEEP: usize = 64 * 1024;

/// A counting semaphore on a futex: an up with no sleeper is one atomic
/// add, a down that finds a count one compare-and-swap.
pub struct Sem {
    count: AtomicU32,
    sleepers: AtomicU32,
}

/// How a futex wait ended.
enum Woken {
    /// Woken, or the count changed before we slept: look again.
    Retry,
    /// A signal handler without SA_RESTART ran (with SA_RESTART the host
    /// kernel restarts the wait and we never see it).
    Interrupted,
}

fn futex_wait(word: &AtomicU32, expected: u32) -> Woken {
    // SAFETY: a live, aligned u32 of ours; no timeout.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            std::ptr::null::<libc::timespec>(),
        )
    };
    // SAFETY: reading this thread's errno.
    if r < 0 && unsafe { *libc::__errno_location() } == libc::EINTR {
        Woken::Interrupted
    } else {
        Woken::Retry
    }
}

fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: a live, aligned u32 of ours.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            n,
        )
    };
}

impl Sem {
    pub fn new(count: u32) -> Self {
        Sem {
            count: AtomicU32::new(count),
            sleepers: AtomicU32::new(0),
        }
    }

    pub fn up(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        // Pairs with the sleeper count raised before FUTEX_WAIT checks the
        // count: either the sleeper sees our add or we see the sleeper.
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            futex_wake(&self.count, 1);
        }
    }

    fn try_down(&self) -> bool {
        let mut c = self.count.load(Ordering::Acquire);
        while c > 0 {
            match self
                .count
                .compare_exchange_weak(c, c - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
        false
    }

    /// Takes the semaphore; with `interruptible`, gives up (false) when a
    /// signal handler without SA_RESTART interrupts the wait.
    fn wait(&self, interruptible: bool) -> bool {
        loop {
            if self.try_down() {
                return true;
            }
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let woken = futex_wait(&self.count, 0);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            if interruptible && matches!(woken, Woken::Interrupted) {
                return false;
            }
        }
    }

    pub fn down(&self) {
        self.wait(false);
    }

    /// Takes the semaphore, or returns false when a signal handler without
    /// SA_RESTART interrupted the wait.
    pub fn down_interruptible(&self) -> bool {
        self.wait(true)
    }
}

unsafe extern "C" fn sem_alloc(count: c_int) -> *mut lkl_sem {
    Box::into_raw(Box::new(Sem::new(count.max(0) as u32))).cast()
}

unsafe extern "C" fn sem_free(sem: *mut lkl_sem) {
    if !sem.is_null() {
        // SAFETY: allocated by sem_alloc, freed once by the kernel.
        drop(unsafe { Box::from_raw(sem.cast::<Sem>()) });
    }
}

unsafe extern "C" fn sem_up(sem: *mut lkl_sem) {
    // SAFETY: a live semaphore from sem_alloc.
    unsafe { &*sem.cast::<Sem>() }.up();
}

unsafe extern "C" fn sem_down(sem: *mut lkl_sem) {
    // SAFETY: a live semaphore from sem_alloc.
    unsafe { &*sem.cast::<Sem>() }.down();
}

unsafe extern "C" fn sem_down_intr(sem: *mut lkl_sem) -> c_int {
    // SAFETY: a live semaphore from sem_alloc.
    if unsafe { &*sem.cast::<Sem>() }.down_interruptible() {
        0
    } else {
        -libc::EINTR
    }
}

// A mutex the kernel locks and unlocks in separate calls: a binary
// semaphore gives exactly that without a guard object.
unsafe extern "C" fn mutex_alloc() -> *mut lkl_mutex {
    Box::into_raw(Box::new(Sem::new(1))).cast()
}

unsafe extern "C" fn mutex_free(m: *mut lkl_mutex) {
    // SAFETY: same representation as a semaphore.
    unsafe { sem_free(m.cast()) }
}

unsafe extern "C" fn mutex_lock(m: *mut lkl_mutex) {
    // SAFETY: same representation as a semaphore.
    unsafe { sem_down(m.cast()) }
}

unsafe extern "C" fn mutex_unlock(m: *mut lkl_mutex) {
    // SAFETY: same representation as a semaphore.
    unsafe { sem_up(m.cast()) }
}

/// What a new kernel thread starts with.
struct ThreadStart {
    f: unsafe extern "C" fn(*mut c_void),
    arg: *mut c_void,
}

extern "C" {
    // glibc 2.32+: the new thread starts with this mask, so the caller's
    // own mask is never touched.
    fn pthread_attr_setsigmask_np(
        attr: *mut libc::pthread_attr_t,
        sigmask: *const libc::sigset_t,
    ) -> c_int;
}

extern "C" fn kernel_thread_main(start: *mut c_void) -> *mut c_void {
    // SAFETY: the Box made by thread_create, handed to this thread only.
    let start = unsafe { Box::from_raw(start.cast::<ThreadStart>()) };
    crate::sys::mark_quiet_thread();
    // SAFETY: the kernel's thread entry with the argument it chose.
    unsafe { (start.f)(start.arg) };
    std::ptr::null_mut()
}

// A plain pthread rather than std::thread: kernel threads are made on the
// boot path, and std adds per thread an alternate signal stack (mmap,
// mprotect, sigaltstack), a name and two signal mask changes.
unsafe extern "C" fn thread_create(
    f: Option<unsafe extern "C" fn(*mut c_void)>,
    arg: *mut c_void,
) -> lkl_thread_t {
    let Some(f) = f else { return 0 };
    let start = Box::into_raw(Box::new(ThreadStart { f, arg }));
    // SAFETY: attr and mask are local and initialised before use; the
    // thread gets the Box exactly once (freed here if it never starts).
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstacksize(&mut attr, KERNEL_THREAD_STACK);
        pthread_attr_setsigmask_np(&mut attr, &all);
        let mut tid: libc::pthread_t = 0;
        let r = libc::pthread_create(&mut tid, &attr, kernel_thread_main, start.cast());
        libc::pthread_attr_destroy(&mut attr);
        if r != 0 {
            drop(Box::from_raw(start));
            log::error!(
                "cannot start a kernel thread: {}",
                std::io::Error::from_raw_os_error(r)
            );
            return 0;
        }
        // The kernel joins it by id (thread_join).
        tid as lkl_thread_t
    }
}

unsafe extern "C" fn thread_join(tid: lkl_thread_t) -> c_int {
    // SAFETY: tid came from thread_create and is joined exactly once.
    unsafe { libc::pthread_join(tid as libc::pthread_t, std::ptr::null_mut()) }
}

unsafe extern "C" fn thread_self() -> lkl_thread_t {
    // SAFETY: no preconditions.
    unsafe { libc::pthread_self() as lkl_thread_t }
}

static TLS_KEY: OnceLock<libc::pthread_key_t> = OnceLock::new();

unsafe extern "C" fn tls_init(destructor: Option<unsafe extern "C" fn(*mut c_void)>) -> c_int {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: key is a valid out pointer; the destructor is a kernel function.
    let r = unsafe { libc::pthread_key_create(&mut key, destructor) };
    if r != 0 {
        return -r;
    }
    if TLS_KEY.set(key).is_err() {
        return -libc::EEXIST;
    }
    0
}

unsafe extern "C" fn tls_set(value: *mut c_void) {
    if let Some(key) = TLS_KEY.get() {
        // SAFETY: a key created by tls_init.
        unsafe { libc::pthread_setspecific(*key, value) };
    }
}

unsafe extern "C" fn tls_get() -> *mut c_void {
    match TLS_KEY.get() {
        // SAFETY: a key created by tls_init.
        Some(key) => unsafe { libc::pthread_getspecific(*key) },
        None => std::ptr::null_mut(),
    }
}

/// Monotonic nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

unsafe extern "C" fn time() -> c_ulonglong {
    monotonic_ns()
}

/// A one-shot timer on its own thread.
/// A one-shot kernel timer: a host timerfd, and a thread that sleeps in
/// read() on it and runs the callback at each expiry. Re-arming is one
/// timerfd_settime from the calling thread and wakes nobody: the clock
/// event is re-armed on every idle entry and exit, so a thread woken per
/// re-arm would cost a host context switch each time.
struct Timer {
    fd: crate::sys::Hidden<OwnedFd>,
    shutdown: AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct TimerFn {
    f: unsafe extern "C" fn(*mut c_void),
    arg: *mut c_void,
}
// SAFETY: the kernel's timer callback may run on any host thread.
unsafe impl Send for TimerFn {}

impl Timer {
    fn run(&self, cb: TimerFn) {
        loop {
            let mut expirations = 0u64;
            // SAFETY: eight bytes into a local from our timerfd.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    (&mut expirations as *mut u64).cast(),
                    8,
                )
            };
            if self.shutdown.load(Ordering::SeqCst) {
                return;
            }
            if n == 8 {
                // SAFETY: the kernel's callback and argument.
                unsafe { (cb.f)(cb.arg) };
            }
        }
    }

    /// Arms the timer `delta` from now (a zero value would disarm it).
    fn arm(&self, delta: Duration) {
        let delta = delta.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: delta.as_secs() as _,
                tv_nsec: delta.subsec_nanos() as _,
            },
        };
        // SAFETY: our timerfd and a local itimerspec.
        unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    }
}

unsafe extern "C" fn timer_alloc(
    f: Option<unsafe extern "C" fn(*mut c_void)>,
    arg: *mut c_void,
) -> *mut lkl_timer {
    let Some(f) = f else {
        return std::ptr::null_mut();
    };
    // SAFETY: no pointers.
    let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC) };
    if fd < 0 {
        log::error!(
            "cannot make the kernel's timer: {}",
            std::io::Error::last_os_error()
        );
        return std::ptr::null_mut();
    }
    let timer = Arc::new(Timer {
        // SAFETY: a new fd that nothing else owns.
        fd: crate::sys::Hidden::new(unsafe { OwnedFd::from_raw_fd(fd) }),
        shutdown: AtomicBool::new(false),
        thread: Mutex::new(None),
    });
    let t2 = Arc::clone(&timer);
    let cb = TimerFn { f, arg };
    match crate::sys::spawn_quiet("lkl-timer", KERNEL_THREAD_STACK, move || t2.run(cb)) {
        Ok(h) => *timer.thread.lock().unwrap() = Some(h),
        Err(e) => {
            log::error!("cannot start the timer thread: {e}");
            return std::ptr::null_mut();
        }
    }
    Arc::into_raw(timer) as *mut lkl_timer
}

unsafe extern "C" fn timer_set_oneshot(t: *mut lkl_timer, delta_ns: c_ulonglong) -> c_int {
    // SAFETY: a live timer from timer_alloc.
    let timer = unsafe { &*(t as *const Timer) };
    timer.arm(Duration::from_nanos(delta_ns));
    0
}

unsafe extern "C" fn timer_free(t: *mut lkl_timer) {
    // SAFETY: from Arc::into_raw in timer_alloc, freed once.
    let timer = unsafe { Arc::from_raw(t as *const Timer) };
    timer.shutdown.store(true, Ordering::SeqCst);
    // Wakes the thread out of its read.
    timer.arm(Duration::ZERO);
    let handle = timer
        .thread
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(h) = handle {
        if h.thread().id() != std::thread::current().id() {
            let _ = h.join();
        }
    }
}

/// The kernel's RAM, once allocated: device models map it.
static RAM: Mutex<Option<(usize, usize)>> = Mutex::new(None);

/// Where the kernel's RAM is in this process, and how big, after boot.
/// The kernel's "physical" address of its first byte is
/// [`lkl_sys::LKL_RAM_PHYS_BASE`].
pub fn ram() -> Option<(usize, usize)> {
    *RAM.lock().unwrap_or_else(|e| e.into_inner())
}

unsafe extern "C" fn mem_alloc(size: c_ulong) -> *mut c_void {
    // SAFETY: anonymous private mapping; pages are committed when touched,
    // so unused kernel RAM costs no resident memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    // Huge pages where the host allows them: boot touches a few MiB of
    // the RAM (page structures, early allocations), and faulting those in
    // 4 KiB at a time cost about 2 ms of start-up. Resident memory grows
    // in 2 MiB steps instead (idle: about 14 MiB rather than 10).
    // SAFETY: advice on our own mapping.
    unsafe { libc::madvise(p, size as usize, libc::MADV_HUGEPAGE) };
    *RAM.lock().unwrap_or_else(|e| e.into_inner()) = Some((p as usize, size as usize));
    p
}

unsafe extern "C" fn mem_free(p: *mut c_void, size: c_ulong) {
    *RAM.lock().unwrap_or_else(|e| e.into_inner()) = None;
    // SAFETY: the mapping made by mem_alloc, no longer used by the kernel.
    unsafe { libc::munmap(p, size as usize) };
}

/// A device whose registers the kernel reads and writes.
pub trait MmioDevice: Send + Sync {
    fn read(&self, offset: u64, data: &mut [u8]);
    fn write(&self, offset: u64, data: &[u8]);
}

struct MmioRegion {
    base: u64,
    size: u64,
    dev: Arc<dyn MmioDevice>,
}

static MMIO: RwLock<Vec<MmioRegion>> = RwLock::new(Vec::new());

/// First "physical" address handed to devices: far above any host mapping
/// the kernel could be given as RAM (x86-64 user space ends at 2^47).
const MMIO_BASE: u64 = 0x7000_0000_0000_0000;

/// Registers a device and returns the base address of its registers.
pub fn mmio_register(size: u64, dev: Arc<dyn MmioDevice>) -> u64 {
    let mut regions = MMIO.write().unwrap_or_else(|e| e.into_inner());
    let base = regions
        .iter()
        .map(|r| r.base + r.size.next_multiple_of(0x1000))
        .max()
        .unwrap_or(MMIO_BASE);
    regions.push(MmioRegion { base, size, dev });
    base
}

unsafe extern "C" fn iomem_access(
    addr: c_ulong,
    val: *mut c_void,
    size: c_int,
    write: c_int,
) -> c_int {
    let Ok(len) = usize::try_from(size) else {
        return -libc::EINVAL;
    };
    if !matches!(len, 1 | 2 | 4 | 8) {
        return -libc::EINVAL;
    }
    let dev = {
        let regions = MMIO.read().unwrap_or_else(|e| e.into_inner());
        regions
            .iter()
            .find(|r| addr >= r.base && addr + len as u64 <= r.base + r.size)
            .map(|r| (Arc::clone(&r.dev), addr - r.base))
    };
    let Some((dev, offset)) = dev else {
        return -libc::EFAULT;
    };
    // SAFETY: the kernel passes a buffer of `size` bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(val.cast::<u8>(), len) };
    if write != 0 {
        dev.write(offset, buf);
    } else {
        dev.read(offset, buf);
    }
    0
}

/// The kernel log: kept for a panic report and sent to the `kernel` log
/// target line by line.
struct KernelLog {
    partial: Vec<u8>,
    recent: VecDeque<u8>,
}

static KLOG: Mutex<KernelLog> = Mutex::new(KernelLog {
    partial: Vec::new(),
    recent: VecDeque::new(),
});

/// Whether kernel messages also go straight to stderr (boot debugging).
static KLOG_TO_STDERR: AtomicBool = AtomicBool::new(false);

pub fn set_kernel_log_to_stderr(on: bool) {
    KLOG_TO_STDERR.store(on, Ordering::Relaxed);
}

/// The last kernel messages (at most 64 KiB).
pub fn kernel_log_tail() -> String {
    let log = KLOG.lock().unwrap_or_else(|e| e.into_inner());
    let (a, b) = log.recent.as_slices();
    let mut v = a.to_vec();
    v.extend_from_slice(b);
    String::from_utf8_lossy(&v).into_owned()
}

unsafe extern "C" fn print(s: *const c_char, len: c_int) {
    if s.is_null() || len <= 0 {
        return;
    }
    // SAFETY: the kernel passes len readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(s.cast::<u8>(), len as usize) };
    if KLOG_TO_STDERR.load(Ordering::Relaxed) {
        // Host-clock stamps: they also cover the boot before time_init().
        let line = format!("[{:>10.6}] ", monotonic_ns() as f64 / 1e9);
        let mut out = line.into_bytes();
        out.extend_from_slice(bytes);
        // SAFETY: plain write of a valid buffer to fd 2.
        unsafe { libc::write(2, out.as_ptr().cast(), out.len()) };
    }
    let mut log = KLOG.lock().unwrap_or_else(|e| e.into_inner());
    log.recent.extend(bytes);
    let excess = log.recent.len().saturating_sub(LOG_KEEP);
    log.recent.drain(..excess);
    log.partial.extend_from_slice(bytes);
    while let Some(nl) = log.partial.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = log.partial.drain(..=nl).collect();
        log::info!(target: "kernel", "{}", String::from_utf8_lossy(&line[..line.len() - 1]));
    }
}

unsafe extern "C" fn panic() {
    let tail = kernel_log_tail();
    let msg = format!("stdpkt: kernel panic; last kernel messages:\n{tail}\n");
    // SAFETY: plain write of a valid buffer to fd 2.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
    // SAFETY: no preconditions; a core dump keeps every thread for gdb.
    unsafe { libc::abort() };
}

/// The operations table handed to `lkl_start_kernel`.
pub static HOST_OPS: lkl_host_operations = lkl_host_operations {
    print: Some(print),
    panic: Some(panic),
    sem_alloc: Some(sem_alloc),
    sem_free: Some(sem_free),
    sem_up: Some(sem_up),
    sem_down: Some(sem_down),
    sem_down_intr: Some(sem_down_intr),
    mutex_alloc: Some(mutex_alloc),
    mutex_free: Some(mutex_free),
    mutex_lock: Some(mutex_lock),
    mutex_unlock: Some(mutex_unlock),
    thread_create: Some(thread_create),
    thread_join: Some(thread_join),
    thread_self: Some(thread_self),
    tls_init: Some(tls_init),
    tls_set: Some(tls_set),
    tls_get: Some(tls_get),
    time: Some(time),
    timer_alloc: Some(timer_alloc),
    timer_set_oneshot: Some(timer_set_oneshot),
    timer_free: Some(timer_free),
    mem_alloc: Some(mem_alloc),
    mem_free: Some(mem_free),
    iomem_access: Some(iomem_access),
    remote_copy: Some(crate::remote::remote_copy),
    random: Some(random),
};

/// The kernel's boot seed: the host's getrandom(2), all of `len` or an
/// error.
unsafe extern "C" fn random(buf: *mut c_void, len: c_ulong) -> c_int {
    let mut done = 0usize;
    while done < len as usize {
        // SAFETY: the kernel hands a buffer of len bytes; done < len.
        let n =
            unsafe { libc::getrandom(buf.cast::<u8>().add(done).cast(), len as usize - done, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return -e.raw_os_error().unwrap_or(libc::EIO);
        }
        done += n as usize;
    }
    0
}
