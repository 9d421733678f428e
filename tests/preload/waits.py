# SPDX-License-Identifier: GPL-2.0-only
# Run by tests/preload.rs under LD_PRELOAD=libstdpkt.so: one process, one
# instance (loopback only). Closed fds in waits are reported at once, as
# Linux does, and a signal handler installed with SA_RESTART ends a wait
# over instance fds with EINTR (Linux never restarts poll, select or
# epoll_wait).
import errno, os, select, signal, socket, sys, threading, time

def check(cond, what):
    if not cond:
        print("FAIL:", what, flush=True); sys.exit(1)
    print("ok:", what, flush=True)

# An instance socket that never becomes readable, and a host pipe.
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
pr, pw = os.pipe()
ep = select.epoll()
closed = os.dup(pr)
os.close(closed)

def quick(f, what):
    t = time.monotonic()
    r = f()
    check(time.monotonic() - t < 1.0, what + " returns at once")
    return r

for name, fds in (("instance", [sock.fileno()]), ("mixed", [sock.fileno(), pr])):
    p = select.poll()
    p.register(closed, select.POLLIN)
    for fd in fds:
        p.register(fd, select.POLLIN)
    r = quick(lambda: p.poll(3000), f"poll, closed fd + {name}")
    check(r == [(closed, select.POLLNVAL)], f"poll, closed fd + {name}: POLLNVAL only ({r})")
    try:
        quick(lambda: select.select([closed] + fds, [], [], 3), f"select, closed fd + {name}")
        check(False, f"select, closed fd + {name}: EBADF")
    except OSError as e:
        check(e.errno == errno.EBADF, f"select, closed fd + {name}: EBADF")

try:
    ep.register(closed, select.EPOLLIN)
    check(False, "epoll_ctl on a closed fd: EBADF")
except OSError as e:
    check(e.errno == errno.EBADF, "epoll_ctl on a closed fd: EBADF")

def kick():
    time.sleep(0.3)
    os.kill(os.getpid(), signal.SIGUSR1)

# Python retries waits after EINTR (PEP 475) with the time left, so a
# signal shows as the handler running while the wait goes on; a raising
# handler shows the EINTR itself.
class Woken(Exception):
    pass

def raiser(*a):
    raise Woken()

signal.signal(signal.SIGUSR1, raiser)
# The handler with SA_RESTART, the flag that Linux ignores for waits.
signal.siginterrupt(signal.SIGUSR1, False)
ep.register(sock.fileno(), select.EPOLLIN)
waits = (
    ("poll", lambda: p2.poll(5000)),
    ("select", lambda: select.select([sock], [], [], 5)),
    ("epoll_wait", lambda: ep.poll(5)),
)
p2 = select.poll()
p2.register(sock.fileno(), select.POLLIN)
for name, wait in waits:
    threading.Thread(target=kick).start()
    t = time.monotonic()
    try:
        wait()
        check(False, f"{name} over an instance fd ended by SA_RESTART handler")
    except Woken:
        dt = time.monotonic() - t
        check(0.2 < dt < 2.0, f"{name} over an instance fd ended by SA_RESTART handler ({dt:.2f}s)")

# And a wait that finds data still gets it at once.
sock.sendto(b"x", sock.getsockname())
r = quick(lambda: select.select([sock], [], [], 5), "select over a datagram")
check(r[0] == [sock], "select finds a datagram")
print("ALL OK", flush=True)
