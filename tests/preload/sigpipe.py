# SPDX-License-Identifier: GPL-2.0-only
# Run by tests/preload.rs under LD_PRELOAD=libstdpkt.so: EPIPE on an instance
# socket raises SIGPIPE, as on the host, unless MSG_NOSIGNAL is given.
import signal, socket, time
got = []
signal.signal(signal.SIGPIPE, lambda s, f: got.append(s))
lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen(1)
cli = socket.create_connection(lst.getsockname())
srv, _ = lst.accept()
cli.shutdown(socket.SHUT_WR)
try:
    cli.send(b"x", socket.MSG_NOSIGNAL)
    raise SystemExit("send after SHUT_WR worked")
except BrokenPipeError:
    pass
assert got == [], got
try:
    cli.send(b"x")
    raise SystemExit("send after SHUT_WR worked")
except BrokenPipeError:
    pass
time.sleep(0.05)
assert got == [signal.SIGPIPE], got
print("ALL OK")
