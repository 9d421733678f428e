# SPDX-License-Identifier: GPL-2.0-only
# Run by tests/e2e.rs in an instance: N clients at once, each holding its
# connection open while the others talk, each checking its own answers.
import socket, sys, threading
host, n = sys.argv[1], int(sys.argv[2])
conns = [socket.create_connection((host, 9000), timeout=10) for _ in range(n)]
ok = []
def talk(i, c):
    f = c.makefile("rwb")
    for j in range(20):
        f.write(b"client %d line %d\n" % (i, j)); f.flush()
        if f.readline() != (b"CLIENT %d LINE %d\n" % (i, j)):
            return
    ok.append(i)
threads = [threading.Thread(target=talk, args=(i, c)) for i, c in enumerate(conns)]
for t in threads: t.start()
for t in threads: t.join()
print("answered", len(ok), "of", n, flush=True)
