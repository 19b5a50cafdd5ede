#!/usr/bin/env python3
"""Known sockets for the sockdrill-census scenario tests, on loopback only.

    sockets.py [options]

Builds a static set of sockets on 127.0.0.1 (and ::1 with --ipv6) with random
ports, prints one JSON line describing them (ports and counts) to stdout,
then holds every socket open until SIGTERM/SIGINT or --lifetime seconds.
Every blocking call is bounded.

The set, around one "main" listener at port `port`:
  --established N   N accepted pairs: 2N ESTAB sockets (client dport=port,
                    server sport=port)
  --time-wait N     N pairs where the client closes first and the server
                    closes after reading EOF: N TIME-WAIT clients (dport=port)
  --close-wait N    N pairs where the client shuts its side (SHUT_WR) and the
                    server never closes: N CLOSE-WAIT servers (sport=port)
                    and N FIN-WAIT-2 clients (dport=port)
  --keepalive N     N accepted pairs whose client has SO_KEEPALIVE (timer
                    keepalive); these count as ESTAB too
  --full-queue N    a second listener (`queue_port`) with listen(1) that never
                    accepts, and N non-blocking connects to it: 2 complete
                    and wait in the accept queue, the rest stay in SYN-SENT
  --listeners N     N more idle listeners (`listen_ports`)
  --udp N           N unconnected UDP sockets (`udp_ports`), and with
  --udp-connected   one more UDP socket connected to the first of them
  --ipv6            one listener on [::1] (`ipv6_port`)
  --wait-for FILE   build nothing until FILE exists (up to 10 s): a test
                    starts the helper first, then triggers the sockets at
                    the moment it wants them, without Python's start-up time
  --pair-client-report FILE
                    after printing, the first established client blocks in
                    recv() (up to --lifetime) and writes what ended it to FILE:
                    ECONNRESET, ECONNABORTED, EOF, DATA or TIMEOUT
"""
import argparse
import errno
import json
import os
import select
import signal
import socket
import sys
import time

LOOP = "127.0.0.1"


def listener(backlog=16, family=socket.AF_INET, host=LOOP):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(backlog)
    return s


def accept_one(lsock, timeout=5.0):
    lsock.settimeout(timeout)
    conn, _ = lsock.accept()
    conn.settimeout(None)
    return conn


def pair(lsock, keepalive=False):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if keepalive:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    c.settimeout(5.0)
    c.connect(lsock.getsockname())
    s = accept_one(lsock)
    return c, s


def wait_readable(sock, timeout):
    r, _, _ = select.select([sock], [], [], timeout)
    return bool(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--established", type=int, default=0)
    ap.add_argument("--time-wait", type=int, default=0)
    ap.add_argument("--close-wait", type=int, default=0)
    ap.add_argument("--keepalive", type=int, default=0)
    ap.add_argument("--full-queue", type=int, default=0)
    ap.add_argument("--listeners", type=int, default=0)
    ap.add_argument("--udp", type=int, default=0)
    ap.add_argument("--udp-connected", action="store_true")
    ap.add_argument("--ipv6", action="store_true")
    ap.add_argument("--pair-client-report")
    ap.add_argument("--lifetime", type=float, default=60.0)
    ap.add_argument("--wait-for")
    a = ap.parse_args()

    if a.wait_for:
        give_up = time.monotonic() + 10.0
        while not os.path.exists(a.wait_for) and time.monotonic() < give_up:
            time.sleep(0.01)

    stop = {"now": False}

    def on_signal(_sig, _frm):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    keep = []  # every socket stays referenced, so open, until we exit
    out = {"pid": os.getpid()}

    main_l = listener()
    keep.append(main_l)
    port = main_l.getsockname()[1]
    out["port"] = port

    established = []
    for _ in range(a.established):
        c, s = pair(main_l)
        keep += [c, s]
        established.append(c)
    out["established_clients"] = [c.getsockname()[1] for c in established]

    keepalive = []
    for _ in range(a.keepalive):
        c, s = pair(main_l, keepalive=True)
        keep += [c, s]
        keepalive.append(c.getsockname()[1])
    out["keepalive_clients"] = keepalive

    # TIME-WAIT: the side that closes first holds it. The client closes, the
    # server reads EOF and closes; the client goes FIN-WAIT-2 -> TIME-WAIT.
    tw = []
    for _ in range(a.time_wait):
        c, s = pair(main_l)
        tw.append(c.getsockname()[1])
        c.close()
        s.settimeout(5.0)
        assert s.recv(1) == b""
        s.close()
    out["time_wait_clients"] = tw

    # CLOSE-WAIT: the peer (client) sent its FIN; the server never closes.
    cw = []
    for _ in range(a.close_wait):
        c, s = pair(main_l)
        c.shutdown(socket.SHUT_WR)
        s.settimeout(5.0)
        assert s.recv(1) == b""
        keep += [c, s]
        cw.append(c.getsockname()[1])
    out["close_wait_clients"] = cw

    if a.full_queue:
        q = listener(backlog=1)
        keep.append(q)
        out["queue_port"] = q.getsockname()[1]
        for _ in range(a.full_queue):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            rc = c.connect_ex(q.getsockname())
            assert rc in (0, errno.EINPROGRESS), rc
            keep.append(c)
            time.sleep(0.05)  # one SYN at a time, so the first two complete

    out["listen_ports"] = []
    for _ in range(a.listeners):
        s = listener()
        keep.append(s)
        out["listen_ports"].append(s.getsockname()[1])

    out["udp_ports"] = []
    for _ in range(a.udp):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((LOOP, 0))
        keep.append(u)
        out["udp_ports"].append(u.getsockname()[1])
    if a.udp_connected and out["udp_ports"]:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((LOOP, 0))
        u.connect((LOOP, out["udp_ports"][0]))
        keep.append(u)
        out["udp_connected_port"] = u.getsockname()[1]

    if a.ipv6:
        s6 = listener(family=socket.AF_INET6, host="::1")
        keep.append(s6)
        out["ipv6_port"] = s6.getsockname()[1]

    time.sleep(0.3)  # let loopback finish the closing handshakes
    print(json.dumps(out), flush=True)

    deadline = time.monotonic() + a.lifetime
    if a.pair_client_report and established:
        c = established[0]
        result = "TIMEOUT"
        while not stop["now"] and time.monotonic() < deadline:
            if not wait_readable(c, 0.1):
                continue
            try:
                data = c.recv(100)
                result = "DATA" if data else "EOF"
            except OSError as e:
                result = errno.errorcode.get(e.errno, str(e.errno))
            break
        with open(a.pair_client_report, "w") as f:
            f.write(result + "\n")

    while not stop["now"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
