# SPDX-License-Identifier: GPL-2.0-only
# Run by tests/preload.rs under LD_PRELOAD=libstdpkt.so: one process, one
# instance. Mixed host/instance readiness, fd routing and interface lookup.
import os, socket, select, threading, time, fcntl, errno, sys

def check(cond, what):
    if not cond:
        print("FAIL:", what, flush=True); sys.exit(1)
    print("ok:", what, flush=True)

lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("127.0.0.1", 0)); lst.listen(4)
port = lst.getsockname()[1]
cli = socket.create_connection(("127.0.0.1", port))
srv, peer = lst.accept()
check(peer[0] == "127.0.0.1", "accept peer")
pr, pw = os.pipe()

def later(f, d=0.2):
    threading.Timer(d, f).start()

# select: nothing ready -> timeout
t = time.monotonic(); r, _, _ = select.select([pr, srv], [], [], 0.2)
check(r == [] and time.monotonic() - t >= 0.15, "select times out")
# host side wakes it
later(lambda: os.write(pw, b"x")); t = time.monotonic()
r, _, _ = select.select([pr, srv], [], [], 5)
check(r == [pr] and time.monotonic() - t < 2, "select woken by host pipe")
os.read(pr, 1)
# instance side wakes it
later(lambda: cli.send(b"y")); t = time.monotonic()
r, _, _ = select.select([pr, srv], [], [], 5)
check(r == [srv] and time.monotonic() - t < 2, "select woken by instance socket")
check(srv.recv(1) == b"y", "recv after select")
# writable
_, w, _ = select.select([], [srv, pw], [], 1)
check(set(w) == {srv, pw}, "select writable on both sides")

# poll
p = select.poll(); p.register(pr, select.POLLIN); p.register(srv, select.POLLIN)
check(p.poll(200) == [], "poll times out")
later(lambda: os.write(pw, b"x"))
ev = p.poll(5000); check(ev == [(pr, select.POLLIN)], "poll woken by host pipe")
os.read(pr, 1)
later(lambda: cli.send(b"z"))
ev = p.poll(5000); check(ev == [(srv.fileno(), select.POLLIN)], "poll woken by instance socket")
srv.recv(1)

# epoll mixing both
ep = select.epoll()
ep.register(pr, select.EPOLLIN); ep.register(srv.fileno(), select.EPOLLIN)
check(ep.poll(0.2) == [], "epoll times out")
later(lambda: os.write(pw, b"x"))
check(ep.poll(5) == [(pr, select.EPOLLIN)], "epoll woken by host pipe")
os.read(pr, 1)
later(lambda: cli.send(b"w"))
check(ep.poll(5) == [(srv.fileno(), select.EPOLLIN)], "epoll woken by instance socket")
srv.recv(1)
# epoll with instance fds only, edge triggered
ep2 = select.epoll(); ep2.register(srv.fileno(), select.EPOLLIN | select.EPOLLET)
cli.send(b"ab")
check(ep2.poll(5) == [(srv.fileno(), select.EPOLLIN)], "epoll (instance only) sees data")
check(ep2.poll(0.1) == [], "epoll edge-triggered: no second report")
srv.recv(2)
ep2.close(); ep.close()

# dup, dup2, fcntl(F_DUPFD)
d = os.dup(srv.fileno()); cli.send(b"1"); check(os.read(d, 1) == b"1", "read through dup")
os.close(d)
hi = 200; os.dup2(srv.fileno(), hi); cli.send(b"2"); check(os.read(hi, 1) == b"2", "read through dup2")
os.dup2(pr, hi); os.write(pw, b"3"); check(os.read(hi, 1) == b"3", "dup2 of a host fd onto an instance fd")
os.close(hi)
f = fcntl.fcntl(srv.fileno(), fcntl.F_DUPFD, 300); check(f >= 300, "F_DUPFD")
cli.send(b"4"); check(os.read(f, 1) == b"4", "read through F_DUPFD copy"); os.close(f)
# the original still works after closing copies
cli.send(b"5"); check(srv.recv(1) == b"5", "original alive after closing dups")
# O_NONBLOCK through fcntl
fl = fcntl.fcntl(srv.fileno(), fcntl.F_GETFL)
fcntl.fcntl(srv.fileno(), fcntl.F_SETFL, fl | os.O_NONBLOCK)
try:
    os.read(srv.fileno(), 1); check(False, "EAGAIN")
except BlockingIOError:
    check(True, "fcntl O_NONBLOCK gives EAGAIN")
# sendfile from a host file into an instance socket
import tempfile
fcntl.fcntl(srv.fileno(), fcntl.F_SETFL, fl)
with tempfile.TemporaryFile() as tf:
    tf.write(b"0123456789" * 1000); tf.flush(); tf.seek(0)
    sent = cli.sendfile(tf)
    check(sent == 10000, "socket.sendfile sent %d" % sent)
    got = b""
    while len(got) < 10000:
        got += srv.recv(65536)
    check(got == b"0123456789" * 1000, "sendfile data arrives")
# SIGPIPE-free EPIPE with MSG_NOSIGNAL (python ignores SIGPIPE anyway)
srv.close()
time.sleep(0.1)
try:
    for i in range(10):
        cli.send(b"x" * 1000); time.sleep(0.05)
    check(False, "EPIPE")
except (BrokenPipeError, ConnectionResetError):
    check(True, "send to closed peer fails")
# interfaces come from the instance
host_names = set(sys.argv[1].split(",")) - {"lo"}
names = [n for _, n in socket.if_nameindex()]
check("lo" in names and not host_names & set(names), "if_nameindex from the instance: %s" % names)
check(socket.if_nametoindex("lo") == 1, "if_nametoindex(lo)")
check(socket.if_indextoname(1) == "lo", "if_indextoname(1)")

# getifaddrs, through the C library as a C program calls it
import ctypes, ctypes.util
class sockaddr(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("data", ctypes.c_ubyte * 14)]
class ifaddrs(ctypes.Structure):
    pass
ifaddrs._fields_ = [("next", ctypes.POINTER(ifaddrs)), ("name", ctypes.c_char_p),
                    ("flags", ctypes.c_uint), ("addr", ctypes.POINTER(sockaddr)),
                    ("netmask", ctypes.POINTER(sockaddr)), ("ifu", ctypes.POINTER(sockaddr)),
                    ("data", ctypes.c_void_p)]
libc = ctypes.CDLL(None, use_errno=True)
head = ctypes.POINTER(ifaddrs)()
check(libc.getifaddrs(ctypes.byref(head)) == 0, "getifaddrs")
seen = []
p = head
while p:
    e = p.contents
    fam = e.addr.contents.family if e.addr else 0
    extra = ""
    if fam == socket.AF_INET:
        extra = socket.inet_ntoa(bytes(e.addr.contents.data[2:6])) + "/" + socket.inet_ntoa(bytes(e.netmask.contents.data[2:6]))
    seen.append((e.name.decode(), fam, extra))
    p = e.next
libc.freeifaddrs(head)
check(("lo", socket.AF_INET, "127.0.0.1/255.0.0.0") in seen, "getifaddrs has lo 127.0.0.1/8: %s" % seen)
check(("lo", socket.AF_PACKET, "") in seen, "getifaddrs has lo's link entry")
check(any(n == "lo" and f == socket.AF_INET6 for n, f, _ in seen), "getifaddrs has lo's IPv6 address")
check(not host_names & {n for n, _, _ in seen}, "getifaddrs lists no host interface")
print("ALL OK")
