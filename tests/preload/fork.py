# SPDX-License-Identifier: GPL-2.0-only
# Run by tests/preload.rs under LD_PRELOAD=libstdpkt.so: after fork() the
# child uses the parent's instance, as on Linux: it shares the parent's
# sockets (sends on them, closes its copies without closing the parent's)
# and makes new ones on the same kernel.
import os, socket
lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen(2)
cli = socket.create_connection(lst.getsockname())
srv, _ = lst.accept()
pid = os.fork()
if pid == 0:
    code = 0
    try:
        cli.sendall(b"from child")
        # A new socket in the child, on the parent's kernel.
        mine = socket.create_connection(lst.getsockname())
        mine.sendall(b"new in child")
        mine.close()
    except OSError as e:
        print("child:", e, flush=True); code = 10
    cli.close(); srv.close(); lst.close()
    os._exit(code)
_, status = os.waitpid(pid, 0)
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
assert srv.recv(64) == b"from child"
other, _ = lst.accept()
assert other.recv(64) == b"new in child"
# The child closed its copies: ours still work.
cli.sendall(b"after fork")
assert srv.recv(64) == b"after fork"
print("ALL OK")
