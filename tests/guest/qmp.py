#!/usr/bin/env python3
"""Minimal QMP client for the guest tests (QEMU's JSON machine protocol).

qmp.py SOCKET COMMAND [ARGUMENTS-JSON]   run one command, print its return
qmp.py SOCKET wait-migration SECONDS     poll query-migrate until it ends;
                                         print the final status
Exit status 0 on success, 1 on a QMP error or a time-out."""
import json
import socket
import sys
import time


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    f = s.makefile("rw")
    json.loads(f.readline())  # greeting
    execute(f, "qmp_capabilities")
    return s, f


def execute(f, cmd, args=None):
    msg = {"execute": cmd}
    if args:
        msg["arguments"] = args
    f.write(json.dumps(msg) + "\n")
    f.flush()
    while True:
        reply = json.loads(f.readline())
        if "event" in reply:
            continue
        if "error" in reply:
            raise RuntimeError(f"{cmd}: {reply['error'].get('desc')}")
        return reply.get("return")


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    _, f = connect(sys.argv[1])
    try:
        if sys.argv[2] == "wait-migration":
            deadline = time.monotonic() + float(sys.argv[3])
            while time.monotonic() < deadline:
                status = execute(f, "query-migrate").get("status", "none")
                if status in ("completed", "failed", "cancelled"):
                    print(status)
                    return 0 if status == "completed" else 1
                time.sleep(0.1)
            print("timeout")
            return 1
        args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
        print(json.dumps(execute(f, sys.argv[2], args)))
        return 0
    except RuntimeError as err:
        print(f"qmp: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
