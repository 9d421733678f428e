# SPDX-License-Identifier: GPL-2.0-only
# Run by tests/preload.rs under LD_PRELOAD=libstdpkt.so: a program holding
# 10,000 host fds still gets working instance sockets (no fd offsets).
import os, resource, select, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = 10200
if hard != resource.RLIM_INFINITY and hard < want:
    print("SKIP: hard RLIMIT_NOFILE %d < %d" % (hard, want)); sys.exit(0)
resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
held = [os.open("/dev/null", os.O_RDONLY) for _ in range(10000)]
lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen(1)
cli = socket.create_connection(lst.getsockname())
srv, _ = lst.accept()
assert min(lst.fileno(), cli.fileno(), srv.fileno()) > 10000, (lst.fileno(), cli.fileno(), srv.fileno())
cli.sendall(b"hello")
p = select.poll(); p.register(srv, select.POLLIN); p.register(held[-1], select.POLLIN)
ev = dict(p.poll(5000))
assert srv.fileno() in ev and held[-1] in ev, ev
assert srv.recv(5) == b"hello"
# host fds around them still are plain host fds
assert os.read(held[-1], 10) == b""
for fd in held:
    os.close(fd)
print("ALL OK", srv.fileno())
