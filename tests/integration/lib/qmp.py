#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# A minimal QMP client for the migration tests: send commands to a QEMU
# monitor socket and wait for a migration to end, with nothing beyond the
# Python standard library. Every verb prints one JSON value on stdout.
#
#   qmp.py SOCK cmd NAME [JSON-ARGUMENTS]   run one command, print its "return"
#   qmp.py SOCK hmp "COMMAND LINE"          run a human-monitor command, print its text
#   qmp.py SOCK wait-migration SECS [--postcopy]
#       poll query-migrate until completed/failed/cancelled; print the last
#       answer. With --postcopy, switch to postcopy as soon as the migration is
#       active, so that most of memory is still missing on the destination when
#       the guest starts running there.
#   qmp.py SOCK wait-status STATUS SECS     poll query-status until it is STATUS
# Exit status: 0 ok, 1 QEMU answered with an error or the wait failed, 2 usage,
# 3 cannot connect.
import json
import socket
import sys
import time


class Qmp:
    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile('rw')
        self._read()  # greeting
        self.cmd('qmp_capabilities')

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError('QEMU closed the monitor socket')
            msg = json.loads(line)
            if 'event' in msg:
                continue
            return msg

    def cmd(self, name, args=None):
        req = {'execute': name}
        if args:
            req['arguments'] = args
        self.f.write(json.dumps(req) + '\n')
        self.f.flush()
        msg = self._read()
        if 'error' in msg:
            raise RuntimeError('%s: %s' % (name, msg['error'].get('desc', msg['error'])))
        return msg.get('return')


def main(argv):
    if len(argv) < 3:
        print('usage: qmp.py SOCK cmd|hmp|wait-migration|wait-status ...', file=sys.stderr)
        return 2
    path, verb, rest = argv[1], argv[2], argv[3:]
    try:
        q = Qmp(path)
    except (OSError, ConnectionError) as e:
        print('qmp.py: cannot talk to %s: %s' % (path, e), file=sys.stderr)
        return 3
    try:
        if verb == 'cmd':
            args = json.loads(rest[1]) if len(rest) > 1 else None
            print(json.dumps(q.cmd(rest[0], args)))
        elif verb == 'hmp':
            out = q.cmd('human-monitor-command', {'command-line': rest[0]})
            print(json.dumps(out))
        elif verb == 'wait-migration':
            deadline = time.time() + float(rest[0])
            postcopy = '--postcopy' in rest
            switched = False
            while True:
                st = q.cmd('query-migrate')
                status = st.get('status')
                if status in ('completed', 'failed', 'cancelled'):
                    print(json.dumps(st))
                    return 0 if status == 'completed' else 1
                if postcopy and not switched and status == 'active':
                    q.cmd('migrate-start-postcopy')
                    switched = True
                if time.time() > deadline:
                    print(json.dumps(st))
                    print('qmp.py: migration still %s after %s s' % (status, rest[0]), file=sys.stderr)
                    return 1
                time.sleep(0.1)
        elif verb == 'wait-status':
            deadline = time.time() + float(rest[1])
            while True:
                st = q.cmd('query-status')
                if st.get('status') == rest[0]:
                    print(json.dumps(st))
                    return 0
                if time.time() > deadline:
                    print(json.dumps(st))
                    print('qmp.py: status still %s, not %s, after %s s' % (st.get('status'), rest[0], rest[1]),
                          file=sys.stderr)
                    return 1
                time.sleep(0.1)
        else:
            print('qmp.py: unknown verb %s (cmd, hmp, wait-migration, wait-status)' % verb, file=sys.stderr)
            return 2
    except (RuntimeError, ConnectionError, OSError, IndexError, ValueError) as e:
        print('qmp.py: %s: %s' % (verb, e), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
