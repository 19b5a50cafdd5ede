#!/usr/bin/env python3
"""Test clients for the sockdrill-serve scenario tests.

Each subcommand talks to a server with real sockets, bounded in time and
count, and prints one JSON object on stdout for the shell test to check
with jq. Loopback only: the scripts pass 127.0.0.1 or ::1.

  raw        send bytes (with optional pauses), read to EOF/RST/timeout,
             split what came back into HTTP responses
  seq        N sequential requests on one keep-alive connection, latency each
  slowloris  N connections that send a request head too slowly to finish
  flood      N connect attempts at once; what each of them saw
  noread     ask for a large body and never read it; hold the socket
  hold       open N idle connections and keep them for a while
"""
import argparse
import errno
import json
import os
import select
import socket
import struct
import sys
import time


def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) and e.errno else type(e).__name__


def connect(host, port, timeout, rcvbuf=None):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    if rcvbuf:
        # Before connect(), so the window scale is chosen for it.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def unescape(text):
    """'GET / HTTP/1.1\\r\\n\\r\\n' as typed in a shell script -> bytes."""
    return text.encode("latin-1").decode("unicode_escape").encode("latin-1")


def request_methods(sent):
    """Methods of the requests in the bytes sent, in order (HEAD has no body)."""
    methods = []
    for line in sent.split(b"\n"):
        parts = line.strip().split(b" ")
        if len(parts) == 3 and parts[2].startswith(b"HTTP/"):
            methods.append(parts[0].decode("latin-1"))
    return methods


def split_responses(data, methods):
    """Splits a byte stream into HTTP responses; returns (responses, leftover)."""
    responses = []
    pos = 0
    index = 0
    while True:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = data[pos:end].decode("latin-1").split("\r\n")
        status_line = head[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/"):
            break
        status = int(status_line[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body_start = end + 4
        if status == 100:
            pos = body_start
            continue
        method = methods[index] if index < len(methods) else "GET"
        index += 1
        length = int(headers.get("content-length", "0"))
        if method == "HEAD" or status in (204, 304):
            length = 0
        complete = len(data) - body_start >= length
        body_len = min(length, len(data) - body_start)
        responses.append({"version": status_line[0], "status": status, "headers": headers,
                          "content_length": int(headers.get("content-length", "-1")),
                          "body_len": body_len, "complete": complete,
                          "body_head": data[body_start:body_start + min(body_len, 64)].decode("latin-1")})
        pos = body_start + body_len
        if not complete:
            break
    return responses, len(data) - pos


def read_until_end(s, deadline):
    """Reads until EOF, an error or the deadline. Returns (data, end, errno)."""
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), "timeout", None
        s.settimeout(left)
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            return b"".join(chunks), "timeout", None
        except OSError as e:
            name = errname(e)
            return b"".join(chunks), "reset" if name == "ECONNRESET" else "error", name
        if not chunk:
            return b"".join(chunks), "eof", None
        chunks.append(chunk)


def cmd_raw(a):
    """Sends each --send part (after --pause seconds between parts), then reads."""
    start = time.monotonic()
    out = {"connect": "ok"}
    try:
        s = connect(a.host, a.port, a.timeout, a.rcvbuf)
    except OSError as e:
        out["connect"] = errname(e)
        print(json.dumps(out))
        return
    sent = b""
    data = b""
    end = None
    err = None
    try:
        for i, part in enumerate(a.send):
            if i > 0 and a.pause:
                time.sleep(a.pause)
            payload = unescape(part)
            if a.repeat > 1:
                payload = payload * a.repeat
            s.sendall(payload)
            sent += payload
        if a.send_file:
            with open(a.send_file, "rb") as f:
                payload = f.read()
            s.sendall(payload)
            sent += payload
        if a.send_bytes:
            s.sendall(b"x" * a.send_bytes)
        if a.send_random:
            import random
            rng = random.Random(a.seed)
            s.sendall(bytes(rng.randrange(256) for _ in range(a.send_random)))
        if a.shut_wr:
            s.shutdown(socket.SHUT_WR)
    except OSError as e:
        end, err = ("reset" if errname(e) in ("ECONNRESET", "EPIPE") else "error"), errname(e)
        out["send_error"] = errname(e)
    if a.then_sleep:
        time.sleep(a.then_sleep)
    if a.then_send:
        try:
            s.sendall(unescape(a.then_send))
        except OSError as e:
            out["then_send_error"] = errname(e)
    if a.read_delay:
        time.sleep(a.read_delay)
    first_byte_ms = None
    if end is None or end == "reset":
        d, end2, err2 = read_until_end(s, time.monotonic() + a.timeout)
        data = d
        end, err = end2, err2
    if a.rst:
        # SO_LINGER {1, 0}: close() sends RST instead of FIN.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    elapsed = time.monotonic() - start
    responses, leftover = split_responses(data, request_methods(sent))
    out.update({"bytes": len(data), "end": end, "errno": err, "elapsed_ms": round(elapsed * 1000, 1),
                "responses": responses, "statuses": [r["status"] for r in responses],
                "leftover_bytes": leftover, "text_head": data[:200].decode("latin-1")})
    print(json.dumps(out))


def read_one_response(s, buf, method="GET"):
    """Reads one full response from s (buffer buf); returns (status, headers, rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("EOF before a response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = 0 if method == "HEAD" else int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(max(65536, length - len(rest)))
        if not chunk:
            raise EOFError("EOF inside a body")
        rest += chunk
    return status, headers, rest[length:]


def cmd_seq(a):
    """N requests one after another on one connection (keep-alive)."""
    out = {"latencies_ms": [], "statuses": [], "error": None}
    try:
        s = connect(a.host, a.port, a.timeout)
        if a.nodelay:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        req = ("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % a.path).encode()
        for _ in range(a.n):
            t0 = time.monotonic()
            s.sendall(req)
            status, headers, buf = read_one_response(s, buf)
            out["latencies_ms"].append(round((time.monotonic() - t0) * 1000, 2))
            out["statuses"].append(status)
        s.close()
    except (OSError, EOFError) as e:
        out["error"] = errname(e) if isinstance(e, OSError) else str(e)
    lat = sorted(out["latencies_ms"])
    out["count"] = len(lat)
    out["median_ms"] = lat[len(lat) // 2] if lat else None
    out["max_ms"] = lat[-1] if lat else None
    # The first requests run in quick-ACK mode; the steady state starts later.
    tail = sorted(out["latencies_ms"][a.n // 2:])
    out["tail_median_ms"] = tail[len(tail) // 2] if tail else None
    print(json.dumps(out))


def cmd_slowloris(a):
    """Opens N connections and sends a request head --chunk bytes every --interval.

    It never finishes a head. Reports what the connections saw once
    --duration has passed (or all ended): a 408, another response, a close
    without response, or still open.
    """
    head = b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: " + b"a" * 100000
    socks, connect_errors = open_many(a.host, a.port, a.n, a.timeout)
    state = {s.fileno(): {"sock": s, "sent": 0, "data": b"", "end": None} for s in socks}
    p = select.poll()
    for fd in state:
        p.register(fd, select.POLLIN)
    deadline = time.monotonic() + a.duration
    next_send = time.monotonic()
    live = len(state)
    while time.monotonic() < deadline and live > 0:
        now = time.monotonic()
        if now >= next_send:
            for v in state.values():
                if v["end"] is None and not v["data"] and v["sent"] < len(head):
                    try:
                        v["sent"] += v["sock"].send(head[v["sent"]:v["sent"] + a.chunk])
                    except BlockingIOError:
                        pass
                    except OSError:
                        pass  # the server closed; the read side reports how
            next_send = now + a.interval
        for fd, _ in p.poll(50):
            v = state[fd]
            try:
                chunk = v["sock"].recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                chunk = None
                v["end"] = errname(e)
            if chunk:
                v["data"] += chunk
                continue
            if v["end"] is None:
                v["end"] = "eof"
            p.unregister(fd)
            live -= 1
    out = {"connections": len(socks), "connect_errors": connect_errors, "got_408": 0,
           "got_other_response": 0, "closed_without_response": 0, "still_open": 0, "reset": 0,
           "elapsed_s": round(a.duration - max(0.0, deadline - time.monotonic()), 2)}
    for v in state.values():
        if v["data"].startswith(b"HTTP/1.1 408"):
            out["got_408"] += 1
        elif v["data"]:
            out["got_other_response"] += 1
        elif v["end"] is None:
            out["still_open"] += 1
        else:
            out["closed_without_response"] += 1
        if v["end"] == "ECONNRESET":
            out["reset"] += 1
        v["sock"].close()
    print(json.dumps(out))


def cmd_flood(a):
    """N non-blocking connects at once; each then sends one request.

    Reports how many got a response within --timeout.
    """
    socks = []
    errors = {}
    for _ in range(a.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((a.host, a.port))
        except BlockingIOError:
            pass
        except OSError as e:
            errors[errname(e)] = errors.get(errname(e), 0) + 1
            s.close()
            continue
        socks.append(s)
    req = b"GET / HTTP/1.1\r\nHost: f\r\nConnection: close\r\n\r\n"
    p = select.poll()
    state = {}
    for s in socks:
        p.register(s, select.POLLOUT)
        state[s.fileno()] = {"sock": s, "sent": False, "data": b"", "end": None}
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline and any(v["end"] is None for v in state.values()):
        for fd, ev in p.poll(100):
            v = state[fd]
            s = v["sock"]
            if not v["sent"]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    v["end"] = errno.errorcode.get(err, str(err))
                    p.unregister(fd)
                    continue
                try:
                    s.send(req)
                    v["sent"] = True
                    p.modify(fd, select.POLLIN)
                except BlockingIOError:
                    pass
                except OSError as e:
                    v["end"] = errname(e)
                    p.unregister(fd)
                continue
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                v["end"] = errname(e)
                p.unregister(fd)
                continue
            if chunk:
                v["data"] += chunk
            else:
                v["end"] = "eof"
                p.unregister(fd)
    out = {"attempts": a.n, "connect_errors": errors, "answered_200": 0, "unanswered": 0, "ends": {}}
    for v in state.values():
        if v["data"].startswith(b"HTTP/1.1 200"):
            out["answered_200"] += 1
        else:
            out["unanswered"] += 1
        key = v["end"] or "open"
        out["ends"][key] = out["ends"].get(key, 0) + 1
        v["sock"].close()
    print(json.dumps(out))


def cmd_noread(a):
    """Asks for --path and never reads; holds the connection --hold seconds."""
    s = connect(a.host, a.port, a.timeout, a.rcvbuf)
    s.sendall(("GET %s HTTP/1.1\r\nHost: n\r\n\r\n" % a.path).encode())
    print("sent", flush=True)
    end = time.monotonic() + a.hold
    result = "held"
    # Watch for the server dropping us, without reading data: MSG_PEEK of
    # one byte keeps the receive queue full; a RST or timeout shows as an error.
    while time.monotonic() < end:
        time.sleep(0.1)
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            result = errno.errorcode.get(err, str(err))
            break
    print(json.dumps({"result": result}), flush=True)
    s.close()


def open_many(host, port, n, timeout):
    """Starts n non-blocking connects at once and waits up to timeout for them.

    Returns (connected sockets, {errno name or "pending": count}).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    pending = {}
    failed = {}
    for _ in range(n):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        except OSError as e:
            failed[errname(e)] = failed.get(errname(e), 0) + 1
            s.close()
            continue
        pending[s.fileno()] = s
    p = select.poll()
    for fd in pending:
        p.register(fd, select.POLLOUT)
    connected = []
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for fd, _ in p.poll(100):
            s = pending.pop(fd)
            p.unregister(fd)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                name = errno.errorcode.get(err, str(err))
                failed[name] = failed.get(name, 0) + 1
                s.close()
            else:
                connected.append(s)
    if pending:
        failed["pending"] = len(pending)
        for s in pending.values():
            s.close()
    return connected, failed


def cmd_hold(a):
    """Opens N connections at once (optionally sending --send on each) and holds them."""
    socks, errors = open_many(a.host, a.port, a.n, a.timeout)
    if a.send:
        for s in socks:
            try:
                s.send(unescape(a.send))
            except OSError as e:
                errors[errname(e)] = errors.get(errname(e), 0) + 1
    print(json.dumps({"open": len(socks), "errors": errors}), flush=True)
    time.sleep(a.hold)
    for s in socks:
        s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, required=True)
        sp.add_argument("--timeout", type=float, default=5.0)

    r = sub.add_parser("raw")
    common(r)
    r.add_argument("--send", action="append", default=[], help="bytes, with \\r\\n escapes; repeatable")
    r.add_argument("--repeat", type=int, default=1, help="send each part this many times")
    r.add_argument("--pause", type=float, default=0.0, help="seconds between --send parts")
    r.add_argument("--send-file", default="", help="then the bytes of this file")
    r.add_argument("--send-bytes", type=int, default=0, help="then this many 'x' bytes")
    r.add_argument("--send-random", type=int, default=0, help="then this many random bytes")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--shut-wr", action="store_true")
    r.add_argument("--then-sleep", type=float, default=0.0)
    r.add_argument("--then-send", default="")
    r.add_argument("--read-delay", type=float, default=0.0)
    r.add_argument("--rcvbuf", type=int, default=None)
    r.add_argument("--rst", action="store_true", help="close with RST (SO_LINGER 0)")
    r.set_defaults(func=cmd_raw)

    s = sub.add_parser("seq")
    common(s)
    s.add_argument("--n", type=int, default=20)
    s.add_argument("--path", default="/")
    s.add_argument("--nodelay", action="store_true")
    s.set_defaults(func=cmd_seq)

    sl = sub.add_parser("slowloris")
    common(sl)
    sl.add_argument("--n", type=int, default=1000)
    sl.add_argument("--interval", type=float, default=0.5)
    sl.add_argument("--chunk", type=int, default=1)
    sl.add_argument("--duration", type=float, default=5.0)
    sl.set_defaults(func=cmd_slowloris)

    f = sub.add_parser("flood")
    common(f)
    f.add_argument("--n", type=int, default=1000)
    f.set_defaults(func=cmd_flood)

    n = sub.add_parser("noread")
    common(n)
    n.add_argument("--path", default="/bytes/1GiB")
    n.add_argument("--hold", type=float, default=5.0)
    n.add_argument("--rcvbuf", type=int, default=None)
    n.set_defaults(func=cmd_noread)

    h = sub.add_parser("hold")
    common(h)
    h.add_argument("--n", type=int, default=10)
    h.add_argument("--send", default="")
    h.add_argument("--hold", type=float, default=5.0)
    h.set_defaults(func=cmd_hold)

    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
