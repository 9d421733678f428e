# SPDX-License-Identifier: GPL-2.0-only
# Run by tests/e2e.rs as the program of an instance whose eth0 faces a
# sleeping peer at 198.51.100.2. Closes every fd above 2 the ways daemons
# do, then checks that the NIC still carries traffic both ways.
import ctypes, errno, os, socket, sys

libc = ctypes.CDLL(None, use_errno=True)

def check(cond, what):
    if not cond:
        print("FAIL:", what, flush=True); sys.exit(1)
    print("ok:", what, flush=True)

def fds():
    """Open fds; the listing's own fd is closed before the check."""
    out = []
    for x in sorted(int(x) for x in os.listdir("/proc/self/fd")):
        try:
            os.readlink(f"/proc/self/fd/{x}")
            out.append(x)
        except OSError:
            pass
    return out

for fd in range(3, 4096):
    try:
        os.close(fd)
    except OSError:
        pass
check(libc.close_range(3, 0xFFFFFFFF, 0) == 0, "close_range(3, ~0)")
libc.closefrom(3)
os.closerange(3, 1 << 20)

# What is left above 2 is stdpkt's own: to the program those numbers are
# free.
own = [fd for fd in fds() if fd > 2]
check(len(own) >= 2, f"stdpkt's own fds survive ({len(own)})")
for fd in own:
    ctypes.set_errno(0)
    r = libc.fcntl(fd, 1)  # F_GETFD
    check(r == -1 and ctypes.get_errno() == errno.EBADF, f"fcntl({fd}) is EBADF")
    r = libc.dup2(1, fd)
    check(r == -1 and ctypes.get_errno() == errno.EBADF, f"dup2(1, {fd}) is EBADF")
    check(libc.close(fd) == -1 and ctypes.get_errno() == errno.EBADF, f"close({fd}) is EBADF")

# The peer's kernel answers a SYN to a closed port with RST: a frame out
# and a frame in, through the streams we just tried to close.
s = socket.socket()
s.settimeout(10)
try:
    s.connect(("198.51.100.2", 9))
    check(False, "connection refused")
except ConnectionRefusedError:
    check(True, "connection refused by the peer, over the NIC")
print("ALL OK", flush=True)
