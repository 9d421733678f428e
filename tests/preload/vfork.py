# SPDX-License-Identifier: GPL-2.0-only
# Run by tests/preload.rs under LD_PRELOAD=libstdpkt.so: starting children
# (subprocess: vfork or fork, close_range, exec) leaves the parent's
# instance sockets alone; the child boots an instance of its own.
import socket, subprocess
lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen(1)
cli = socket.create_connection(lst.getsockname())
srv, _ = lst.accept()
for close_fds in (True, False):
    r = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, close_fds=close_fds)
    assert r.returncode == 0 and b"127.0.0.1" in r.stdout, r
cli.sendall(b"still here")
assert srv.recv(64) == b"still here"
print("ALL OK")
