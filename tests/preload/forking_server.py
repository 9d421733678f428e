# SPDX-License-Identifier: GPL-2.0-only
# Run by tests/e2e.rs in an instance: a socketserver.ForkingTCPServer that
# answers each line with its upper case, each connection in a forked child
# on the parent's instance.
import socketserver, sys

class Upper(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line.upper())

with socketserver.ForkingTCPServer((sys.argv[1], 9000), Upper) as s:
    print("serving", flush=True)
    s.serve_forever()
