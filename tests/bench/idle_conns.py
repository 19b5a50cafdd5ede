#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, makes one request on each,
holds them idle until stdin closes or HOLD seconds pass, then exits.
Prints "open N" once all are established and answered."""
import resource, socket, sys, time

host, port, count, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 100), hard))
request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
socks = []
deadline = time.time() + 60
for i in range(count):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(request)
    socks.append(s)
for s in socks:
    got = b""
    while b"\r\n\r\n" not in got and time.time() < deadline:
        got += s.recv(4096)
print(f"open {len(socks)}", flush=True)
time.sleep(hold)
