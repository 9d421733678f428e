# SPDX-License-Identifier: GPL-2.0-only
# Run by tests/preload.rs under LD_PRELOAD=libstdpkt.so: after fork() the
# child gets ENOTSUP on instance sockets (never a hang), may close them, and
# the parent's instance keeps working.
import errno, os, socket, sys
lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen(1)
cli = socket.create_connection(lst.getsockname())
srv, _ = lst.accept()
pid = os.fork()
if pid == 0:
    code = 0
    try:
        cli.send(b"x"); code = 10
    except OSError as e:
        if e.errno != errno.ENOTSUP: code = 11
    try:
        socket.socket(); code = 12
    except OSError as e:
        if e.errno != errno.ENOTSUP: code = 13
    cli.close(); srv.close(); lst.close()
    os._exit(code)
_, status = os.waitpid(pid, 0)
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
cli.sendall(b"after fork")
assert srv.recv(64) == b"after fork"
print("ALL OK")
