#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What a strict generic varlink client makes of the sidecar's replies.

Usage: varlink-conformance.py SOCKET CALL...

Sends each CALL (a JSON message) on its own connection, then checks the
reply against the interface description the server itself serves
(org.varlink.service.GetInterfaceDescription) for the method called, or for
the error returned: every field declared, of its declared type, required
fields present, nothing undeclared. Prints one line per call ("ok METHOD ->
ERROR" or "BAD …") and exits 1 if any reply does not match. Written here
from the varlink specification, independently of the C code it checks.
"""
import json
import re
import socket
import sys

TOKEN = re.compile(r"\s*(?:#[^\n]*\n\s*)*(->|\[string\]|\[\]|[A-Za-z_][A-Za-z0-9_.-]*|[():,?])")


class Idl:
    def __init__(self, text):
        self.tokens = []
        pos = 0
        text = text + "\n"
        while True:
            m = TOKEN.match(text, pos)
            if not m:
                rest = text[pos:].strip()
                if rest and not all(line.strip().startswith("#") or not line.strip() for line in rest.splitlines()):
                    raise ValueError("cannot read the IDL at %r" % text[pos:pos + 40])
                break
            self.tokens.append(m.group(1))
            pos = m.end()
        self.i = 0
        self.types, self.methods, self.errors = {}, {}, {}
        self.expect("interface")
        self.name = self.next()
        while self.i < len(self.tokens):
            kind, name = self.next(), self.next()
            if kind == "type":
                self.types[name] = self.type()
            elif kind == "method":
                self.expect("(")
                params = self.struct()
                self.expect("->")
                self.expect("(")
                self.methods[name] = (params, self.struct())
            elif kind == "error":
                self.expect("(")
                self.errors[name] = self.struct()
            else:
                raise ValueError("unexpected %r in the IDL" % kind)

    def next(self):
        self.i += 1
        return self.tokens[self.i - 1]

    def expect(self, token):
        got = self.next()
        if got != token:
            raise ValueError("expected %r, got %r" % (token, got))

    def struct(self):
        fields, enum = {}, []
        if self.tokens[self.i] == ")":
            self.i += 1
            return ("struct", fields)
        while True:
            name = self.next()
            if self.tokens[self.i] == ":":
                self.i += 1
                fields[name] = self.type()
            else:
                enum.append(name)
            sep = self.next()
            if sep == ")":
                return ("enum", enum) if enum else ("struct", fields)
            if sep != ",":
                raise ValueError("expected ',' or ')', got %r" % sep)

    def type(self):
        t = self.next()
        if t == "?":
            return ("optional", self.type())
        if t == "[]":
            return ("array", self.type())
        if t == "[string]":
            return ("map", self.type())
        if t == "(":
            return self.struct()
        return ("name", t)


def check(idl, t, v, path, problems):
    kind = t[0]
    if kind == "optional":
        if v is not None:
            check(idl, t[1], v, path, problems)
        return
    if v is None:
        problems.append("%s: null or missing, but not optional" % path)
        return
    if kind == "array":
        if not isinstance(v, list):
            problems.append("%s: expected an array" % path)
            return
        for n, e in enumerate(v):
            check(idl, t[1], e, "%s[%d]" % (path, n), problems)
    elif kind == "map":
        if not isinstance(v, dict):
            problems.append("%s: expected an object (map)" % path)
            return
        for k, e in v.items():
            check(idl, t[1], e, "%s[%r]" % (path, k), problems)
    elif kind == "enum":
        if v not in t[1]:
            problems.append("%s: %r is not one of %s" % (path, v, t[1]))
    elif kind == "struct":
        if not isinstance(v, dict):
            problems.append("%s: expected an object" % path)
            return
        for name, ft in t[1].items():
            check(idl, ft, v.get(name), "%s.%s" % (path, name), problems)
        for name in v:
            if name not in t[1]:
                problems.append("%s: field %r is not declared" % (path, name))
    else:
        name = t[1]
        ok = {
            "bool": lambda x: isinstance(x, bool),
            "int": lambda x: isinstance(x, int) and not isinstance(x, bool),
            "float": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
            "string": lambda x: isinstance(x, str),
            "object": lambda x: isinstance(x, dict),
        }
        if name in ok:
            if not ok[name](v):
                problems.append("%s: %r is not %s" % (path, v, name))
        elif name in idl.types:
            check(idl, idl.types[name], v, path, problems)
        else:
            problems.append("%s: type %s is not declared" % (path, name))


class Connection:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(path)
        self.buf = b""

    def call(self, message):
        self.s.sendall(message.encode() + b"\0")
        while b"\0" not in self.buf:
            data = self.s.recv(1 << 20)
            if not data:
                raise EOFError("the server closed the connection")
            self.buf += data
        reply, self.buf = self.buf.split(b"\0", 1)
        return json.loads(reply)


def main():
    path, calls = sys.argv[1], sys.argv[2:]
    idls, bad = {}, 0

    def idl_of(interface):
        if interface not in idls:
            reply = Connection(path).call(json.dumps({
                "method": "org.varlink.service.GetInterfaceDescription",
                "parameters": {"interface": interface}}))
            idls[interface] = Idl(reply["parameters"]["description"])
        return idls[interface]

    for text in calls:
        try:
            method = json.loads(text)["method"]
        except (ValueError, KeyError, TypeError):
            method = "(not a call)"
        reply = Connection(path).call(text)
        error = reply.get("error")
        qualified = error or method
        interface, member = qualified.rsplit(".", 1)
        problems = []
        unknown = set(reply) - {"parameters", "error", "continues"}
        if unknown:
            problems.append("reply: undeclared members %s" % sorted(unknown))
        try:
            idl = idl_of(interface)
        except (KeyError, EOFError):
            problems.append("the server serves no description of %s" % interface)
            idl = None
        if idl is not None:
            if error:
                t = idl.errors.get(member)
            else:
                t = idl.methods.get(member, (None, None))[1]
            if t is None:
                problems.append("%s is not declared in %s" % (qualified, interface))
            else:
                check(idl, t, reply.get("parameters", {}), "parameters", problems)
        label = "%s -> %s" % (method, error or "reply")
        if problems:
            bad += 1
            print("BAD %s: %s" % (label, "; ".join(problems)))
            print("    %s" % json.dumps(reply)[:400])
        else:
            print("ok %s" % label)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
