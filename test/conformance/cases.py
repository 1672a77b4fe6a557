"""The cases of wsconform.py: Autobahn TestSuite sections 1-7, 9, 10, 12
and 13 (permessage-deflate), written from their definitions (what each
sends, what it expects; see README.md), plus section 0, wsev's own: masking
in the wrong direction (both roles) and invalid opening handshake responses
(client role).

A case sends with the primitives of Wire (send_frame, send_message,
send_close, continue_later, kill_after, close_after), fills `expected`
(outcome -> list of events) and `expected_close`, and may override
on_message/on_pong/post_evaluate. Events: ("message", payload, is_binary),
("pong", payload), ("timeout", tag).

Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
"""

import base64
import fnmatch
import hashlib

import payloads

OK = "OK"
NON_STRICT = "NON-STRICT"
FAILED = "FAILED"
INFORMATIONAL = "INFORMATIONAL"
UNIMPLEMENTED = "UNIMPLEMENTED"
WRONG_CODE = "WRONG CODE"

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Cap on section 9's waits, in seconds (wsconform.py --limit9); None keeps
# Autobahn's (10 to 1000 s).
LIMIT9 = None

# Messages per case of sections 12 and 13 (wsconform.py --deflate-count);
# Autobahn sends 1000. The waits shrink with it (see DeflateCase.wait).
DEFLATE_COUNT = 1000

REGISTRY = []


class Case:
    id = None
    desc = ""                   # a string, or {"server": ..., "client": ...}
    expectation = ""
    tags = ()
    roles = ("server", "client")    # the testee's roles the case applies to
    informational = False       # Autobahn reports it INFORMATIONAL always
    suppress_close = False
    limit = 10.0                # hard deadline of the case, seconds
    wirelog = True
    refusal = False             # section 0.2: no WebSocket at all
    offers = None               # fuzzer client: permessage-deflate offers (pmd_offer)
    accepts = None              # fuzzer server: permessage-deflate accept rules

    def __init__(self):
        self.w = None
        self.role = None
        self.received = []
        self.expected = {}
        self.expected_close = {}
        self.behavior = FAILED
        self.behavior_close = FAILED
        self.result = "Actual events differ from any expected."
        self.result_close = "TCP connection was dropped without close handshake"
        self.extra_failures = []
        self.agent = None
        self.started = None
        self.duration = 0.0
        self.http_request = None
        self.http_response = None
        self.verdict = None
        self.reason = None

    @classmethod
    def description(cls, role):
        if isinstance(cls.desc, dict):
            return cls.desc.get(role) or cls.desc.get("server")
        return cls.desc

    @classmethod
    def may_run_long(cls):
        """Whether the case may last more than 20 s (then the fuzzer server
        starts the next case's client only once it is over)."""
        return False

    def open_for(self, role):
        self.role = role
        self.open()

    def open(self):
        raise NotImplementedError

    # --- helpers for the case bodies
    def close_expect(self, by_me, codes, clean, fatal=False):
        self.expected_close = {"closedByMe": by_me, "closeCode": list(codes),
                               "requireClean": clean}
        if fatal:
            self.expected_close["closedByWrongEndpointIsFatal"] = True

    def expect_normal_close(self):
        self.close_expect(True, [1000], True)

    def expect_fail(self, code=1002):
        self.close_expect(False, [code], False)

    # --- events (Autobahn's Case)
    def on_message(self, payload, binary):
        self.received.append(("message", payload, binary))
        self.finish_when_done()

    def on_pong(self, payload):
        self.received.append(("pong", payload))
        self.finish_when_done()

    def finish_when_done(self):
        """When what was received matches every expected outcome, the fuzzer
        starts the closing handshake itself (if it is the one to close)."""
        for events in self.expected.values():
            if self.received != events:
                return
        if self.expected_close.get("closedByMe") and not self.suppress_close:
            self.w.send_close(self.expected_close["closeCode"][0])

    def timeout_tag(self, tag):
        """A ("timeout", tag) event, recorded only while the connection is
        OPEN: the testee has not failed it yet."""
        if self.w.state == "OPEN":
            self.received.append(("timeout", tag))
            return True
        return False

    def post_evaluate(self, w):
        pass


class CloseCase(Case):
    """Section 7: a WRONG CODE in the close column makes the case FAILED."""

    def post_evaluate(self, w):
        if self.behavior_close == WRONG_CODE:
            self.behavior = FAILED
            self.result = self.result_close


def case_id_key(cid):
    return tuple(int(x) for x in cid.split("."))


def define(cid, desc, expectation, body, base=Case, tags=(), **attrs):
    attrs.update(id=cid, desc=desc, expectation=expectation, tags=tuple(tags),
                 open=body)
    cls = type("Case_" + cid.replace(".", "_"), (base,), attrs)
    REGISTRY.append(cls)
    return cls


def matches(cls, pat):
    if pat.startswith("@"):
        return pat[1:] in cls.tags
    return (fnmatch.fnmatchcase(cls.id, pat) or cls.id == pat or
            cls.id.startswith(pat + "."))


def select(patterns, excludes, role):
    def split(pp):
        return [p.strip() for x in (pp or []) for p in x.split(",") if p.strip()]
    pats = split(patterns) or ["*"]
    excl = split(excludes)
    out = [c for c in REGISTRY
           if (role is None or role in c.roles)
           and any(matches(c, p) for p in pats)
           and not any(matches(c, p) for p in excl)]
    return sorted(out, key=lambda c: case_id_key(c.id))


# ================================================================== 1 Framing

for _i, (_n, _chop) in enumerate([(0, None), (125, None), (126, None), (127, None),
                                  (128, None), (65535, None), (65536, None),
                                  (65536, 997)], 1):
    for _sub, _binary, _unit in ((1, False, b"*"), (2, True, b"\xfe")):
        def _body(self, n=_n, chop=_chop, binary=_binary, unit=_unit):
            payload = unit * n
            self.expected[OK] = [("message", payload, binary)]
            self.expect_normal_close()
            self.w.send_frame(2 if binary else 1, payload, chopsize=chop)
            self.w.kill_after(1 if n <= 128 else 10)
        define("1.%d.%d" % (_sub, _i),
               "Send a %s message with a payload of length %d%s." % (
                   "binary" if _binary else "text", _n,
                   " in chops of %d octets" % _chop if _chop else ""),
               "The message is echoed back with the same type and payload; "
               "clean close with normal code.", _body, tags=("echo",))


# ================================================================== 2 Pings/Pongs

def _ping_case(cid, payload, chop=None, close_after=1):
    def body(self):
        self.expected[OK] = [("pong", payload)]
        self.expect_normal_close()
        self.w.send_frame(9, payload, chopsize=chop)
        self.w.close_after(close_after)
    define(cid, "Send a ping with a payload of %d octets%s." % (
        len(payload), " in 1-octet chops" if chop else ""),
        "A pong with the same payload; clean close with normal code.", body,
        tags=("ping",))


_ping_case("2.1", b"")
_ping_case("2.2", b"Hello, world!")
_ping_case("2.3", b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff")
_ping_case("2.4", b"\xfe" * 125)


def _c2_5(self):
    self.expected[OK] = []
    self.expect_fail(1002)
    self.w.send_frame(9, b"\xfe" * 126)
    self.w.kill_after(1)


define("2.5", "Send a ping with a payload of 126 octets (a control frame may carry 125 at most).",
       "The connection is failed immediately (1002).", _c2_5, tags=("fail",))
_ping_case("2.6", b"\xfe" * 125, chop=1, close_after=2)


def _unsolicited_pong(payload):
    def body(self):
        self.expected[OK] = []
        self.expect_normal_close()
        self.w.send_frame(10, payload)
        self.w.send_close(1000)
        self.w.close_after(1)
    return body


define("2.7", "Send an unsolicited pong without payload, then a close.",
       "Nothing in reply to the pong; clean close with normal code.",
       _unsolicited_pong(b""), tags=("ping",))
define("2.8", "Send an unsolicited pong with a payload, then a close.",
       "Nothing in reply to the pong; clean close with normal code.",
       _unsolicited_pong(b"unsolicited pong payload"), tags=("ping",))


def _c2_9(self):
    self.expected[OK] = [("pong", b"ping payload")]
    self.expect_normal_close()
    self.w.send_frame(10, b"unsolicited pong payload")
    self.w.send_frame(9, b"ping payload")
    self.w.close_after(1)


define("2.9", "Send an unsolicited pong, then a ping with a payload.",
       "One pong, for the ping; clean close with normal code.", _c2_9, tags=("ping",))


def _ten_pings(chop):
    def body(self):
        self.expected[OK] = []
        for i in range(10):
            p = b"payload-%d" % i
            self.expected[OK].append(("pong", p))
            self.w.send_frame(9, p, chopsize=chop)
        self.expect_normal_close()
        self.w.close_after(3)
    return body


define("2.10", "Send 10 pings back to back.",
       "10 pongs with the payloads, in order (the spec does not require answering "
       "every ping; Autobahn checks it anyway).", _ten_pings(None), tags=("ping",))
define("2.11", "Send 10 pings back to back, every frame in 1-octet chops.",
       "10 pongs with the payloads, in order.", _ten_pings(1), tags=("ping",))


# ================================================================== 3 Reserved bits

_HELLO = b"Hello, world!"


def _rsv_single(opcode, payload, rsv):
    def body(self):
        self.expected[OK] = []
        self.expect_fail(1002)
        self.w.send_frame(opcode, payload, rsv=rsv)
        self.w.kill_after(1)
    return body


def _rsv_triple(rsv, sync=False, chop=None):
    def body(self):
        self.expected[OK] = [("message", _HELLO, False)]
        self.expected[NON_STRICT] = []
        self.expect_fail(1002)
        self.w.send_frame(1, _HELLO, sync=sync, chopsize=chop)
        self.w.send_frame(1, _HELLO, rsv=rsv, sync=sync, chopsize=chop)
        self.w.send_frame(9, b"", sync=sync, chopsize=chop)
        self.w.kill_after(1)
    return body


_FAIL_RSV = "The connection is failed immediately (1002): RSV must be 0 without an extension."
define("3.1", "Send a text frame with RSV = 1.", _FAIL_RSV,
       _rsv_single(1, _HELLO, 1), tags=("fail",))
define("3.2", "Send a text message, then a text frame with RSV = 2, then a ping.",
       "The first message is echoed (OK) or not (NON-STRICT), then the connection "
       "is failed (1002); no pong.", _rsv_triple(2), tags=("fail",))
define("3.3", "As 3.2 with RSV = 3, every frame its own write.",
       "As 3.2.", _rsv_triple(3, sync=True), tags=("fail",))
define("3.4", "As 3.2 with RSV = 4, all frames in 1-octet chops.",
       "As 3.2.", _rsv_triple(4, chop=1), tags=("fail",))
define("3.5", "Send a binary frame with RSV = 5.", _FAIL_RSV,
       _rsv_single(2, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 5), tags=("fail",))
define("3.6", "Send a binary frame with RSV = 6.", _FAIL_RSV,
       _rsv_single(2, _HELLO, 6), tags=("fail",))
define("3.7", "Send an empty close frame with RSV = 7.", _FAIL_RSV,
       _rsv_single(8, b"", 7), tags=("fail",))


# ================================================================== 4 Opcodes

def _op_single(opcode, payload):
    def body(self):
        self.expected[OK] = []
        self.expect_fail(1002)
        self.w.send_frame(opcode, payload)
        self.w.kill_after(1)
    return body


def _op_triple(opcode, payload, chop=None):
    def body(self):
        self.expected[OK] = [("message", _HELLO, False)]
        self.expected[NON_STRICT] = []
        self.expect_fail(1002)
        self.w.send_frame(1, _HELLO, chopsize=chop)
        self.w.send_frame(opcode, payload, chopsize=chop)
        self.w.send_frame(9, b"", chopsize=chop)
        self.w.kill_after(1)
    return body


_FAIL_OP = "The connection is failed immediately (1002): reserved opcode."
_FAIL_OP3 = ("The first message is echoed (OK) or not (NON-STRICT), then the connection "
             "is failed (1002); no pong.")
for _base, _sub in ((3, 1), (11, 2)):
    define("4.%d.1" % _sub, "Send a frame with the reserved opcode %d." % _base, _FAIL_OP,
           _op_single(_base, b""), tags=("fail",))
    define("4.%d.2" % _sub, "Send a frame with the reserved opcode %d and a payload." % (_base + 1),
           _FAIL_OP, _op_single(_base + 1, b"reserved opcode payload"), tags=("fail",))
    define("4.%d.3" % _sub, "Send a text message, a frame with the reserved opcode %d, a ping."
           % (_base + 2), _FAIL_OP3, _op_triple(_base + 2, b""), tags=("fail",))
    define("4.%d.4" % _sub, "Send a text message, a frame with the reserved opcode %d and a "
           "payload, a ping." % (_base + 3), _FAIL_OP3, _op_triple(_base + 3, _HELLO),
           tags=("fail",))
    define("4.%d.5" % _sub, "As 4.%d.4 with the opcode %d, all in 1-octet chops."
           % (_sub, _base + 4), _FAIL_OP3, _op_triple(_base + 4, _HELLO, chop=1),
           tags=("fail",))


# ================================================================== 5 Fragmentation

def _frames_fail(frames, sync=False, chop=None):
    """frames: (opcode, fin, payload); the testee must fail the connection."""
    def body(self):
        self.expected[OK] = []
        self.expect_fail(1002)
        for op, fin, p in frames:
            self.w.send_frame(op, p, fin=fin, sync=sync, chopsize=chop)
        self.w.kill_after(1)
    return body


def _frames_echo(frames, expected, sync=False, chop=None):
    def body(self):
        self.expected[OK] = expected
        self.expect_normal_close()
        for op, fin, p in frames:
            self.w.send_frame(op, p, fin=fin, sync=sync, chopsize=chop)
        self.w.close_after(1)
    return body


_F1, _F2 = b"fragment1", b"fragment2"
_FAIL_FRAG = "The connection is failed immediately (1002)."
define("5.1", "Send a ping in two fragments.", _FAIL_FRAG + " Control frames cannot be fragmented.",
       _frames_fail([(9, False, _F1), (0, True, _F2)]), tags=("fail",))
define("5.2", "Send a pong in two fragments.", _FAIL_FRAG + " Control frames cannot be fragmented.",
       _frames_fail([(10, False, _F1), (0, True, _F2)]), tags=("fail",))
_MSG12 = [("message", _F1 + _F2, False)]
for _cid, _kw, _how in (("5.3", {}, ""), ("5.4", {"sync": True}, ", every frame its own write"),
                        ("5.5", {"chop": 1}, ", in 1-octet chops")):
    define(_cid, "Send a text message in two fragments%s." % _how,
           "The message is echoed whole; clean close with normal code.",
           _frames_echo([(1, False, _F1), (0, True, _F2)], _MSG12, **_kw), tags=("echo",))
for _cid, _kw, _how in (("5.6", {}, ""), ("5.7", {"sync": True}, ", every frame its own write"),
                        ("5.8", {"chop": 1}, ", in 1-octet chops")):
    define(_cid, "Send a text message in two fragments with a ping between them%s." % _how,
           "A pong, then the message echoed; clean close with normal code.",
           _frames_echo([(1, False, _F1), (9, True, b"ping payload"), (0, True, _F2)],
                        [("pong", b"ping payload")] + _MSG12, **_kw), tags=("echo", "ping"))
_NC = b"non-continuation payload"
for _cid, _fin, _kw, _how in (("5.9", True, {}, ""), ("5.10", True, {"sync": True}, ", frame-wise"),
                              ("5.11", True, {"chop": 1}, ", in 1-octet chops"),
                              ("5.12", False, {}, ""), ("5.13", False, {"sync": True}, ", frame-wise"),
                              ("5.14", False, {"chop": 1}, ", in 1-octet chops")):
    define(_cid, "Send a continuation frame (FIN=%d) with no message started, then a text "
           "message%s." % (_fin, _how), _FAIL_FRAG + " There is no message to continue.",
           _frames_fail([(0, _fin, _NC), (1, True, _HELLO)], **_kw), tags=("fail",))


def _c5_15(self):
    self.expected[OK] = [("message", _F1 + _F2, False)]
    self.expected[NON_STRICT] = []
    self.expect_fail(1002)
    for op, fin, p in ((1, False, _F1), (0, True, _F2), (0, False, b"fragment3"),
                       (1, True, b"fragment4")):
        self.w.send_frame(op, p, fin=fin)
    self.w.kill_after(1)


define("5.15", "Send a text message in two fragments, then a continuation (FIN=0) and a "
       "text frame.", "The first message is echoed (OK) or not (NON-STRICT), then the "
       "connection is failed (1002).", _c5_15, tags=("fail",))
define("5.16", "Twice: a continuation (FIN=0), a text frame (FIN=0), a continuation (FIN=1).",
       _FAIL_FRAG, _frames_fail([(0, False, _F1), (1, False, _F2), (0, True, b"fragment3")] * 2),
       tags=("fail",))
define("5.17", "Twice: a continuation (FIN=1), a text frame (FIN=0), a continuation (FIN=1).",
       _FAIL_FRAG, _frames_fail([(0, True, _F1), (1, False, _F2), (0, True, b"fragment3")] * 2),
       tags=("fail",))
define("5.18", "Send a text frame (FIN=0), then another text frame (FIN=1) inside the message.",
       _FAIL_FRAG, _frames_fail([(1, False, _F1), (1, True, _F2)]), tags=("fail",))


def _c5_19(sync):
    frags = [b"fragment%d" % i for i in range(1, 6)]
    pings = [b"pongme 1!", b"pongme 2!"]

    def body(self):
        self.expected[OK] = [("pong", pings[0]), ("pong", pings[1]),
                             ("message", b"".join(frags), False)]
        self.expect_normal_close()
        w = self.w
        w.send_frame(1, frags[0], fin=False, sync=sync)
        w.send_frame(0, frags[1], fin=False, sync=sync)
        w.send_frame(9, pings[0], sync=sync)

        def part2():
            w.send_frame(0, frags[2], fin=False, sync=sync)
            w.send_frame(0, frags[3], fin=False, sync=sync)
            w.send_frame(9, pings[1], sync=sync)
            w.send_frame(0, frags[4], sync=sync)
            w.close_after(1)
        w.continue_later(1, part2)
    return body


define("5.19", "A text message in 5 fragments with a ping after the 2nd and the 4th, and a "
       "1 s pause after the first ping.", "Both pongs (the first before the message ends), "
       "then the message; clean close with normal code.", _c5_19(False), tags=("echo", "ping"))
define("5.20", "As 5.19, every frame its own write.", "As 5.19.", _c5_19(True),
       tags=("echo", "ping"))


# ================================================================== 6 UTF-8

def _utf8_echo(frames_or_msg, expected_payload, fragment_size=None, kill=None):
    def body(self):
        self.expected[OK] = [("message", expected_payload, False)]
        self.expect_normal_close()
        if isinstance(frames_or_msg, list):
            for op, fin, p in frames_or_msg:
                self.w.send_frame(op, p, fin=fin)
        else:
            self.w.send_message(frames_or_msg, fragment_size=fragment_size)
        if kill:
            self.w.kill_after(kill)
        else:
            self.w.close_after(1)
    return body


def _utf8_fail(payload, fragment_size=None, kill=1):
    def body(self):
        self.expected[OK] = []
        self.close_expect(False, [1007], False, fatal=True)
        self.w.send_message(payload, fragment_size=fragment_size)
        self.w.kill_after(kill)
    return body


define("6.1.1", "Send a text message with an empty payload.", "Echoed.",
       _utf8_echo(b"", b""), tags=("utf8-valid",))
define("6.1.2", "Send a text message of three empty fragments.", "Echoed (empty).",
       _utf8_echo([(1, False, b""), (0, False, b""), (0, True, b"")], b""), tags=("utf8-valid",))
define("6.1.3", "Send a text message in three fragments, only the middle one not empty.",
       "Echoed.", _utf8_echo([(1, False, b""), (0, False, b"middle frame payload"),
                              (0, True, b"")], b"middle frame payload"), tags=("utf8-valid",))
_HELLO_UTF8 = "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!".encode("utf-8")
_P1 = "Hello-\u00b5@\u00df\u00f6\u00e4".encode("utf-8")
_P2 = "\u00fc\u00e0\u00e1-UTF-8!!".encode("utf-8")
_KOSME = bytes.fromhex("cebae1bdb9cf83cebcceb5")
define("6.2.1", "Send a valid UTF-8 text message in one frame.", "Echoed.",
       _utf8_echo(_HELLO_UTF8, _HELLO_UTF8), tags=("utf8-valid",))
define("6.2.2", "Send a valid UTF-8 text message in two frames split on a code point boundary.",
       "Echoed.", _utf8_echo([(1, False, _P1), (0, True, _P2)], _P1 + _P2), tags=("utf8-valid",))
define("6.2.3", "Send a valid UTF-8 text message in 1-octet frames (frames end inside "
       "code points).", "Echoed.", _utf8_echo(_HELLO_UTF8, _HELLO_UTF8, fragment_size=1),
       tags=("utf8-valid",))
define("6.2.4", "Send the valid UTF-8 text \u03ba\u1f79\u03c3\u03bc\u03b5 in 1-octet frames.",
       "Echoed.", _utf8_echo(_KOSME, _KOSME, fragment_size=1), tags=("utf8-valid",))
_BAD = _KOSME + bytes.fromhex("eda080") + b"edited"
define("6.3.1", "Send an invalid UTF-8 text message (a surrogate at octet 12) in one frame.",
       "The connection is failed immediately (1007).", _utf8_fail(_BAD),
       tags=("utf8-invalid", "fail"))
define("6.3.2", "Send the invalid UTF-8 text message of 6.3.1 in 1-octet frames.",
       "The connection is failed immediately (1007).", _utf8_fail(_BAD, fragment_size=1),
       tags=("utf8-invalid", "fail"))

_FF = _KOSME + bytes.fromhex("f4908080") + b"edited"     # invalid at octet 13 (0x90)


def _c6_4(split, chopped):
    """Three parts with 1 s pauses, as three frames or as three writes of one
    frame. OK: failed right after the part holding the invalid octet;
    NON-STRICT: only after the end of the message."""
    parts = [_FF[:split[0]], _FF[split[0]:split[1]], _FF[split[1]:]]

    def body(self):
        self.expected[OK] = [("timeout", "A")]
        self.expected[NON_STRICT] = [("timeout", "A"), ("timeout", "B")]
        self.close_expect(False, [1007], False, fatal=True)
        w = self.w
        if chopped:
            pieces = w.send_frame(1, _FF, parts=[split[0], split[1]])
            w.send_raw(pieces[0])
        else:
            w.send_frame(1, parts[0], fin=False)

        def part2():
            if self.timeout_tag("A"):
                if chopped:
                    w.send_raw(pieces[1])
                else:
                    w.send_frame(0, parts[1], fin=False)
                w.continue_later(1, part3, "B")

        def part3():
            if self.timeout_tag("B"):
                if chopped:
                    w.send_raw(pieces[2])
                else:
                    w.send_frame(0, parts[2], fin=True)
                w.kill_after(1)
        w.continue_later(1, part2, "A")
    return body


define("6.4.1", "A text message in 3 frames with 1 s pauses: valid, then f4908080 (U+110000, "
       "invalid at its 2nd octet), then the rest.", "Fail fast: 1007 right after the 2nd "
       "frame (OK); after the 3rd is NON-STRICT.", _c6_4((11, 15), False),
       tags=("utf8-invalid", "fail"))
define("6.4.2", "As 6.4.1, the 2nd frame being the single invalid octet 0x90.", "As 6.4.1.",
       _c6_4((12, 13), False), tags=("utf8-invalid", "fail"))
define("6.4.3", "One text frame whose payload comes in 3 writes with 1 s pauses "
       "(valid / f4908080 / rest).", "Fail fast inside the frame: 1007 after the 2nd write "
       "(OK); after the 3rd is NON-STRICT.", _c6_4((11, 15), True),
       tags=("utf8-invalid", "fail"))
define("6.4.4", "As 6.4.3, the 2nd write being the single invalid octet 0x90.", "As 6.4.3.",
       _c6_4((12, 13), True), tags=("utf8-invalid", "fail"))


def _utf8_groups():
    """Markus Kuhn's UTF-8 decoder stress test, as Autobahn groups it
    (6.5 to 6.23). Validity is strict UTF-8 (RFC 3629)."""
    h = bytes.fromhex
    vss = _KOSME
    groups = [
        ("Some valid UTF-8 sequences",
         [b"hello$world", b"hello\xc2\xa2world", b"hello\xe2\x82\xacworld",
          b"hello\xf0\xa4\xad\xa2world", vss]),
        ("All prefixes of a valid UTF-8 string that contains multi-byte code points",
         [vss[:i] for i in range(1, len(vss) + 1)]),
        ("First possible sequence of a certain length",
         [h("00"), h("c280"), h("e0a080"), h("f0908080")]),
        ("First possible sequence length 5/6 (invalid codepoints)",
         [h("f888808080"), h("fc8480808080")]),
        ("Last possible sequence of a certain length",
         [h("7f"), h("dfbf"), h("efbfbf"), h("f48fbfbf")]),
        ("Last possible sequence length 4/5/6 (invalid codepoints)",
         [h("f7bfbfbf"), h("fbbfbfbfbf"), h("fdbfbfbfbfbf")]),
        ("Other boundary conditions",
         [h("ed9fbf"), h("ee8080"), h("efbfbd"), h("f48fbfbf"), h("f4908080")]),
        ("Unexpected continuation bytes",
         [h("80"), h("bf"), h("80bf"), h("80bf80"), h("80bf80bf"), h("80bf80bf80"),
          h("80bf80bf80bf"), bytes(range(0x80, 0xbf))]),
        ("Lonely start characters",
         [bytes(b for i in range(lo, hi) for b in (i, 0x20))
          for lo, hi in ((0xc0, 0xdf), (0xe0, 0xef), (0xf0, 0xf7), (0xf8, 0xfb), (0xfc, 0xfd))]),
    ]
    missing = [h(x) for x in ("c0", "e080", "f08080", "f8808080", "fc80808080",
                              "df", "efbf", "f7bfbf", "fbbfbfbf", "fdbfbfbfbf")]
    groups += [
        ("Sequences with last continuation byte missing", missing),
        ("Concatenation of incomplete sequences", [b"".join(missing)]),
        ("Impossible bytes", [h("fe"), h("ff"), h("fefeffff")]),
        ("Examples of an overlong ASCII character",
         [h("c0af"), h("e080af"), h("f08080af"), h("f8808080af"), h("fc80808080af")]),
        ("Maximum overlong sequences",
         [h("c1bf"), h("e09fbf"), h("f08fbfbf"), h("f887bfbfbf"), h("fc83bfbfbfbf")]),
        ("Overlong representation of the NUL character",
         [h("c080"), h("e08080"), h("f0808080"), h("f880808080"), h("fc8080808080")]),
        ("Single UTF-16 surrogates",
         [h(x) for x in ("eda080", "edadbf", "edae80", "edafbf", "edb080", "edbe80", "edbfbf")]),
        ("Paired UTF-16 surrogates",
         [h(a + b) for a in ("eda080", "edadbf", "edae80", "edafbf")
          for b in ("edb080", "edbfbf")]),
    ]
    nonchars = [h("efbfbe"), h("efbfbf")]
    for z1 in (0xf0, 0xf1, 0xf2, 0xf3, 0xf4):
        for z2 in (0x8f, 0x9f, 0xaf, 0xbf):
            if z1 == 0xf4 and z2 != 0x8f:
                continue        # beyond U+10FFFF
            for z3 in (0xbe, 0xbf):
                if z1 == 0xf0 and z2 == 0x8f:
                    continue    # overlong
                nonchars.append(bytes((z1, z2, 0xbf, z3)))
    groups += [
        ("Non-character code points (valid UTF-8)", nonchars),
        ("Unicode specials (i.e. replacement char)",
         [h(x) for x in ("efbfb9", "efbfba", "efbfbb", "efbfbc", "efbfbd", "efbfbe", "efbfbf")]),
    ]
    return groups


def _is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


UTF8_GROUPS = _utf8_groups()
for _gi, (_title, _payloads) in enumerate(UTF8_GROUPS, 5):
    for _pi, _p in enumerate(_payloads, 1):
        _valid = _is_utf8(_p)
        if _valid:
            _body = _utf8_echo(_p, _p, kill=0.5)
        else:
            _body = _utf8_fail(_p, kill=0.5)
        define("6.%d.%d" % (_gi, _pi),
               "%s: a text message %s in one frame (%s UTF-8)." % (
                   _title, _p.hex(), "valid" if _valid else "invalid"),
               "Echoed; clean close with normal code." if _valid else
               "The connection is failed immediately (1007).",
               _body, tags=("utf8-valid",) if _valid else ("utf8-invalid", "fail"))
assert sum(len(p) for _, p in UTF8_GROUPS) == 132


# ================================================================== 7 Close handling

def _c7(setup, expected_close, expected=None):
    def body(self):
        self.suppress_close = True
        self.expected[OK] = expected or []
        self.close_expect(*expected_close)
        setup(self.w)
        self.w.kill_after(1)
    return body


def _c7_1_1(self):
    p = b"Hello World!"
    self.expected[OK] = [("message", p, False)]
    self.expect_normal_close()
    self.w.send_frame(1, p)
    self.w.kill_after(1)


_NORMAL = (True, [1000], True)
define("7.1.1", "Send a text message; the fuzzer closes after the echo.",
       "Echoed, then a clean close with normal code.", _c7_1_1, base=CloseCase, tags=("close",))
define("7.1.2", "Send a close (1000), then a second (empty) close frame.",
       "Clean close with normal code; the second close is ignored.",
       _c7(lambda w: (w.send_close(1000), w.send_frame(8)), _NORMAL), base=CloseCase,
       tags=("close",))
define("7.1.3", "Send a close (1000), then a ping.", "Clean close with normal code; no pong.",
       _c7(lambda w: (w.send_close(1000), w.send_frame(9)), _NORMAL), base=CloseCase,
       tags=("close",))
define("7.1.4", "Send a close (1000), then a text message.",
       "Clean close with normal code; the message is not echoed.",
       _c7(lambda w: (w.send_close(1000), w.send_frame(1, b"Hello World!")), _NORMAL),
       base=CloseCase, tags=("close",))
define("7.1.5", "Send a text fragment (FIN=0), a close (1000), then the last fragment.",
       "Clean close with normal code; nothing echoed.",
       _c7(lambda w: (w.send_frame(1, b"fragment1", fin=False), w.send_close(1000),
                      w.send_frame(0, b"fragment2")), _NORMAL), base=CloseCase,
       tags=("close",))


class _C7_1_6(Case):
    informational = True
    suppress_close = True
    limit = 15.0

    def open(self):
        self.expected[OK] = [("message", b"Hello World!", False)]
        self.expected[NON_STRICT] = []
        self.expect_normal_close()
        self.w.send_frame(1, b"BAsd7&jh23", payload_len=256 * 1024)
        self.w.send_frame(1, b"Hello World!")
        self.w.send_close(1000)
        self.w.send_frame(9)
        self.w.kill_after(1)

    def post_evaluate(self, w):
        got = [(e[0], len(e[1])) for e in self.received]
        if ("message", 12) in got:
            self.result = "Text messages were processed before the close (received: %s)." % got
        else:
            self.result = "The close was processed before the messages could be echoed " \
                          "(received: %s)." % got
        self.result += " Close: %s (%s)." % (self.behavior_close, self.result_close)
        self.behavior = INFORMATIONAL
        self.behavior_close = INFORMATIONAL


define("7.1.6", "Send a 256 KiB text message, a text message, a close (1000) and a ping, "
       "back to back.", "Implementation-defined: INFORMATIONAL (says whether the messages "
       "were echoed before the close).", _C7_1_6.open, base=_C7_1_6, tags=("close",))

define("7.3.1", "Send a close frame with an empty payload (no code).",
       "Clean close; the reply has no code or 1000.",
       _c7(lambda w: w.send_close(), _NORMAL), base=CloseCase, tags=("close",))
define("7.3.2", "Send a close frame with a 1-octet payload.",
       "Close with 1002 (or a TCP drop).",
       _c7(lambda w: w.send_close_payload(b"a"), (True, [1002], False)), base=CloseCase,
       tags=("close", "close-invalid"))
define("7.3.3", "Send a close frame with the code 1000.", "Clean close with normal code.",
       _c7(lambda w: w.send_close(1000), _NORMAL), base=CloseCase, tags=("close",))
define("7.3.4", "Send a close frame with the code 1000 and a reason.",
       "Clean close with normal code.",
       _c7(lambda w: w.send_close(1000, b"Hello World!"), _NORMAL), base=CloseCase,
       tags=("close",))
define("7.3.5", "Send a close frame with the code 1000 and a 123-octet reason (payload 125).",
       "Clean close with normal code.",
       _c7(lambda w: w.send_close(1000, b"*" * 123), _NORMAL), base=CloseCase,
       tags=("close",))
define("7.3.6", "Send a close frame with the code 1000 and a 124-octet reason (payload 126).",
       "Close with 1002 (or a TCP drop).",
       _c7(lambda w: w.send_close(1000, b"*" * 124), (True, [1002], False)), base=CloseCase,
       tags=("close", "close-invalid"))
define("7.5.1", "Send a close frame (1000) whose reason is not UTF-8.",
       "Close with 1002 or 1007 (or a TCP drop).",
       _c7(lambda w: w.send_close(1000, _BAD), (True, [1002, 1007], False)), base=CloseCase,
       tags=("close", "close-invalid", "utf8-invalid"))
for _i, _code in enumerate([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000,
                            3999, 4000, 4999], 1):
    define("7.7.%d" % _i, "Send a close frame with the valid code %d." % _code,
           "Clean close with 1000 or the same code.",
           _c7(lambda w, c=_code: w.send_close(c), (True, sorted({1000, _code}), True)),
           base=CloseCase, tags=("close",))
for _i, _code in enumerate([0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999], 1):
    define("7.9.%d" % _i, "Send a close frame with the invalid code %d." % _code,
           "Close with 1002 (or a TCP drop).",
           _c7(lambda w, c=_code: w.send_close(c), (True, [1002], False)),
           base=CloseCase, tags=("close", "close-invalid"))


class _C7_13(Case):
    informational = True
    suppress_close = True
    code = None

    def open(self):
        self.expected[OK] = []
        self.close_expect(True, [1000, self.code, 1002], False)
        self.w.send_close(self.code)
        self.w.kill_after(1)

    def post_evaluate(self, w):
        self.result = "Actual events are undefined by the spec (the testee's close code: %s)." \
            % w.remote_close_code
        self.behavior = INFORMATIONAL
        self.behavior_close = INFORMATIONAL


define("7.13.1", "Send a close frame with the code 5000.", "Undefined by the spec: "
       "INFORMATIONAL.", _C7_13.open, base=_C7_13, code=5000, tags=("close",))
define("7.13.2", "Send a close frame with the code 65535.", "Undefined by the spec: "
       "INFORMATIONAL.", _C7_13.open, base=_C7_13, code=65535, tags=("close",))


# ================================================================== 9 Limits/Performance

class LimitCase(Case):
    """One message; OK when it comes back whole in time. Autobahn checks the
    type and the length; we check the payload too."""
    wirelog = False
    waitsecs = 10
    payload_fn = None
    binary = False

    @classmethod
    def wait(cls):
        return min(cls.waitsecs, LIMIT9) if LIMIT9 else cls.waitsecs

    def open(self):
        self.behavior = FAILED
        self.expect_normal_close()
        self.result = "Did not receive the message within %g seconds." % self.wait()
        self.payload = self.make()
        self.send()
        self.w.close_after(self.wait())

    def on_message(self, payload, binary):
        kind = "binary" if self.binary else "text"
        if binary != self.binary:
            self.result = "Expected a %s message, got %s." % (kind, "binary" if binary else "text")
        elif len(payload) != len(self.payload):
            self.result = "Expected a %s message of %d octets, got %d." % (
                kind, len(self.payload), len(payload))
        elif payload != self.payload:
            self.result = "The %s message of %d octets came back altered." % (kind, len(payload))
        else:
            self.behavior = OK
            self.result = "Received the %s message of %d octets." % (kind, len(payload))
        self.w.send_close(1000)


def _limit_case(cid, desc, make, send, binary, waitsecs):
    attrs = dict(make=make, send=send, binary=binary, waitsecs=waitsecs)
    cls = define(cid, desc, "The message is echoed whole in time; clean close with normal code.",
                 LimitCase.open, base=LimitCase, tags=("limits",), **attrs)
    cls.limit = property(lambda self: self.wait() + 10.0)
    return cls


_SIZES = [64 * 1024, 256 * 1024, 1 << 20, 4 << 20, 8 << 20, 16 << 20]
_WAITS = [10, 10, 100, 100, 100, 100]


def _human(n):
    return "%d KiB" % (n >> 10) if n < (1 << 20) else "%d MiB" % (n >> 20)


for _i, (_n, _ws) in enumerate(zip(_SIZES, _WAITS), 1):
    for _sub, _binary, _pat in ((1, False, b"BAsd7&jh23"), (2, True, b"\x00\xfe\x23\xfa\xf0")):
        _limit_case("9.%d.%d" % (_sub, _i),
                    "Send a %s message of %s in one frame." % (
                        "binary" if _binary else "text", _human(_n)),
                    lambda self, n=_n, p=_pat: (p * (n // len(p) + 1))[:n],
                    lambda self: self.w.send_frame(2 if self.binary else 1, self.payload),
                    _binary, _ws)
for _i, _fs in enumerate([64, 256, 1024, 4096, 16384, 65536, 1 << 18, 1 << 20, 4 << 20], 1):
    for _sub, _binary, _unit in ((3, False, b"*"), (4, True, b"\xfe")):
        _limit_case("9.%d.%d" % (_sub, _i),
                    "Send a %s message of 4 MiB in fragments of %s octets." % (
                        "binary" if _binary else "text", _fs),
                    lambda self, u=_unit: u * (4 << 20),
                    lambda self, fs=_fs: self.w.send_message(self.payload, self.binary,
                                                             fragment_size=fs),
                    _binary, 100)
for _i, _chop in enumerate([64, 128, 256, 512, 1024, 2048], 1):
    for _sub, _binary, _pat in ((5, False, b"BAsd7&jh23"), (6, True, b"\x00\xfe\x23\xfa\xf0")):
        _limit_case("9.%d.%d" % (_sub, _i),
                    "Send a %s message of 1 MiB in one frame, written in chops of %d octets." % (
                        "binary" if _binary else "text", _chop),
                    lambda self, p=_pat: (p * ((1 << 20) // len(p) + 1))[:1 << 20],
                    lambda self, c=_chop: self.w.send_frame(2 if self.binary else 1,
                                                            self.payload, chopsize=c),
                    _binary, 1000)


class RoundTrips(Case):
    """1000 messages, each sent after the echo of the one before."""
    wirelog = False
    count = 1000

    @classmethod
    def wait(cls):
        return min(cls.waitsecs, LIMIT9) if LIMIT9 else cls.waitsecs

    def open(self):
        self.behavior = FAILED
        self.expect_normal_close()
        self.result = "The case did not finish within %g seconds." % self.wait()
        self.unit = b"\xfe" if self.binary else b"*"
        self.payload = self.unit * self.size
        self.sent = 0
        self.w.close_after(self.wait())
        self.send_one()

    def send_one(self):
        self.w.send_frame(2 if self.binary else 1, self.payload)
        self.sent += 1

    def on_message(self, payload, binary):
        if binary != self.binary or payload != self.payload:
            self.behavior = FAILED
            self.result = ("Echoed message %d differs from what was sent (binary = %s, "
                           "length %d)." % (self.sent, binary, len(payload)))
            self.w.send_close(1000)
        elif self.sent < self.count:
            self.send_one()
        else:
            self.behavior = OK
            self.result = "Received all %d echoed messages in time." % self.count
            self.w.send_close(1000)


for _i, (_size, _ws) in enumerate([(0, 60), (16, 60), (64, 60), (256, 120), (1024, 240),
                                   (4096, 480)], 1):
    for _sub, _binary in ((7, False), (8, True)):
        _cls = define("9.%d.%d" % (_sub, _i),
                      "Send 1000 %s messages of %d octets, one after the echo of the other." % (
                          "binary" if _binary else "text", _size),
                      "All echoed in time; clean close with normal code.",
                      RoundTrips.open, base=RoundTrips, tags=("limits",),
                      size=_size, binary=_binary, waitsecs=_ws)
        _cls.limit = property(lambda self: self.wait() + 10.0)


# ================================================================== 10 Misc

class _C10_1_1(Case):
    limit = 15.0

    def open(self):
        self.payload = b"*" * 65536
        self.w.auto_fragment_size = 1300
        self.expected[OK] = [("message", self.payload, False)]
        self.expect_normal_close()
        self.w.send_message(self.payload)
        self.w.kill_after(10)

    def post_evaluate(self, w):
        want = {0: 65536 // 1300, 1: 1}
        got = {0: w.tx_frames.get(0, 0), 1: w.tx_frames.get(1, 0)}
        if want != got:
            self.behavior = FAILED
            self.result = "Frames sent %s, not the expected %s." % (got, want)


define("10.1.1", "Send a text message of 65536 octets auto-fragmented into frames of 1300.",
       "Echoed whole; clean close with normal code.", _C10_1_1.open, base=_C10_1_1,
       tags=("echo",))


# ================================================================== 12, 13 permessage-deflate

class DeflateCase(Case):
    """Sections 12 and 13: with permessage-deflate agreed, COUNT messages
    of LEN units of a test file (payloads.py), each sent once the echo of
    the one before came back (same type, same length, same SHA-1), the
    fuzzer compressing them and cutting the compressed octets into frames
    of its auto-fragmentation size. Without permessage-deflate the case is
    UNIMPLEMENTED. The fuzzer's Wire fails the connection on what the
    testee gets wrong in the extension itself (RSV1 on a continuation or a
    control frame, a message that does not inflate with the agreed window
    and context takeover)."""
    wirelog = True
    tags = ("deflate",)
    data = "json"
    length = 16
    frag = 0
    waitsecs = 60

    @classmethod
    def count(cls):
        return DEFLATE_COUNT

    @classmethod
    def description(cls, role):
        return Case.description.__func__(cls, role).replace("COUNT", str(cls.count()))

    @classmethod
    def may_run_long(cls):
        return cls.wait() > 20

    @classmethod
    def wait(cls):
        """Autobahn's wait for 1000 messages, in proportion to the count
        (10 s at least)."""
        return max(10.0, cls.waitsecs * cls.count() / 1000.0)

    def open(self):
        self.expect_normal_close()
        self.sent = 0
        if self.w.deflate is None:
            self.behavior = UNIMPLEMENTED
            self.result = "permessage-deflate was not negotiated."
            self.w.send_close(1000)
            return
        self.behavior = FAILED
        self.result = None          # set by a bad echo; else post_evaluate
        self.binary = not payloads.is_text(self.data)
        self.w.auto_fragment_size = self.frag
        self.w.continue_later(self.wait(), self.time_out, "deflate-wait")
        self.send_one()

    def time_out(self):
        if self.w.state == "OPEN" and self.result is None:
            self.result = "Got %d of %d echoes within the wait of %g s." % (
                self.sent - 1, self.count(), self.wait())
            self.w.send_close()

    def send_one(self):
        self.payload = payloads.message(self.data, self.sent, self.length)
        self.digest = hashlib.sha1(self.payload).digest()
        self.w.send_message(self.payload, self.binary)
        self.sent += 1

    def on_message(self, payload, binary):
        if self.w.deflate is None or self.behavior != FAILED or self.w.state != "OPEN":
            return
        why = None
        if binary != self.binary:
            why = "a %s message" % ("binary" if binary else "text")
        elif len(payload) != len(self.payload):
            why = "%d octets, not %d" % (len(payload), len(self.payload))
        elif hashlib.sha1(payload).digest() != self.digest:
            why = "the same length, another SHA-1"
        if why:
            self.result = "The echo of message %d of %d (%d octets) differs: %s." % (
                self.sent, self.count(), len(self.payload), why)
            self.w.send_close(1000)
        elif self.sent < self.count():
            self.send_one()
        else:
            self.behavior = OK
            d = self.w.deflate.stats
            self.result = ("Received all %d echoed messages in time (compressed by the "
                           "testee to %.1f%%, by the fuzzer to %.1f%%)." % (
                               self.count(),
                               100.0 * d["rx_octets_in"] / max(1, d["rx_octets_out"]),
                               100.0 * d["tx_octets_out"] / max(1, d["tx_octets_in"])))
            self.w.send_close(1000)

    def post_evaluate(self, w):
        if self.result is None:
            self.result = "Got %d of %d echoes, then the connection ended (%s)." % (
                self.sent - 1, self.count(), w.end_reason)


# Rows: (LEN, Autobahn's wait for 1000 messages in s, auto-fragmentation).
_DEFLATE_ROWS = [(16, 60, 0), (64, 60, 0), (256, 120, 0), (1024, 240, 0), (4096, 480, 0),
                 (8192, 480, 0), (16384, 480, 0), (32768, 480, 0), (65536, 480, 0),
                 (131072, 480, 0), (8192, 480, 256), (16384, 480, 256), (32768, 480, 256),
                 (65536, 480, 256), (131072, 480, 256), (131072, 480, 1024),
                 (131072, 480, 4096), (131072, 480, 32768)]
_OFFER = "permessage-deflate; client_no_context_takeover; client_max_window_bits"
# Section 12: the default offer, plain acceptance; the test files.
_DEFLATE_12 = [("json", "a JSON document"), ("bmp", "a greyscale bitmap"),
               ("faust", "German text"), ("html", "an HTML page"), ("pdf", "a PDF file")]
# Section 13: the JSON document; what the fuzzer client offers (a list of
# offers: asks server no context takeover, asks a server window) and the
# fuzzer server's accept rules (asks client no context takeover, asks a
# client window), tried in order.
_DEFLATE_13 = [([(False, 0)], [(False, 0)]),
               ([(True, 0)], [(True, 0)]),
               ([(False, 9)], [(False, 9)]),
               ([(False, 15)], [(False, 15)]),
               ([(True, 9)], [(True, 9)]),
               ([(True, 15)], [(True, 15)]),
               ([(True, 9), (True, 0), (False, 0)], [(True, 9), (True, 0), (False, 0)])]


def _pmd_words(nct, bits, who):
    w = []
    if nct:
        w.append("%s_no_context_takeover" % who)
    if bits:
        w.append("%s_max_window_bits=%d" % (who, bits))
    return "; ".join(w) or "nothing more"


def _deflate_case(cid, data, what, offers, accepts, row):
    length, waitsecs, frag = _DEFLATE_ROWS[row - 1]
    binary = not payloads.is_text(data)
    unit = "octets" if binary else "characters"
    offer_txt = " / ".join(_OFFER + ("; " + _pmd_words(n, b, "server") if n or b else "")
                           for n, b in offers)
    accept_txt = ", else ".join(_pmd_words(n, b, "client") for n, b in accepts)
    more = " in frames of %d octets" % frag if frag else ""
    desc = {"server": "Offer %s; then send COUNT %s messages of %d %s of %s, compressed%s, "
                      "each after the echo of the one before." % (
                          offer_txt, "binary" if binary else "text", length, unit, what, more),
            "client": "Accept permessage-deflate asking for %s (if the offer allows it); then "
                      "send COUNT %s messages of %d %s of %s, compressed%s, each after the echo "
                      "of the one before." % (accept_txt, "binary" if binary else "text",
                                              length, unit, what, more)}
    cls = define(cid, desc, "Every echo has the same type, length and SHA-1, in time; clean "
                 "close with normal code. UNIMPLEMENTED without permessage-deflate.",
                 DeflateCase.open, base=DeflateCase, tags=("deflate",), data=data,
                 length=length, frag=frag, waitsecs=waitsecs, offers=offers, accepts=accepts)
    cls.limit = property(lambda self: self.wait() + 10.0)
    return cls


for _j, (_data, _what) in enumerate(_DEFLATE_12, 1):
    for _row in range(1, len(_DEFLATE_ROWS) + 1):
        _deflate_case("12.%d.%d" % (_j, _row), _data, _what, [(False, 0)], [(False, 0)], _row)
for _j, (_offers, _accepts) in enumerate(_DEFLATE_13, 1):
    for _row in range(1, len(_DEFLATE_ROWS) + 1):
        _deflate_case("13.%d.%d" % (_j, _row), "json", "a JSON document", _offers, _accepts,
                      _row)


# ================================================================== 0 wsev's own: masking, handshake

def _c0_1(opcode, payload):
    def body(self):
        self.expected[OK] = []
        self.expect_fail(1002)
        # The wrong way round for the role: masked from a server, unmasked
        # from a client (RFC 6455 5.1).
        self.w.send_frame(opcode, payload, mask=self.role == "client")
        self.w.kill_after(1)
    return body


define("0.1.1", {"server": "Send an unmasked text frame (from a client).",
                 "client": "Send a masked text frame (from a server)."},
       "The connection is failed immediately (1002); nothing echoed.",
       _c0_1(1, _HELLO), tags=("masking", "fail"))
define("0.1.2", {"server": "Send an unmasked ping (from a client).",
                 "client": "Send a masked ping (from a server)."},
       "The connection is failed immediately (1002); no pong.",
       _c0_1(9, b"ping payload"), tags=("masking", "fail"))


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode()


class Refusal(Case):
    """The fuzzer answers the opening handshake wrongly, then sends a text
    frame as if it had not. The client must close the TCP connection
    without sending a single octet (RFC 6455 4.1: it fails the WebSocket
    connection), and, when the fuzzer started it, exit with a non-zero
    status."""
    refusal = True
    roles = ("client",)
    status = "101 Switching Protocols"
    drop = ()
    extra = ()

    def open(self):
        raise AssertionError("a refusal case has no WebSocket")

    def bad_response(self, key, headers):
        hdr = {"upgrade": "websocket", "connection": "Upgrade",
               "sec-websocket-accept": accept_for(key)}
        names = {"upgrade": "Upgrade", "connection": "Connection",
                 "sec-websocket-accept": "Sec-WebSocket-Accept"}
        for k in self.drop:
            hdr.pop(k)
        offered = {n: [t.strip().lower() for t in v.split(",")] for n, v in headers}
        lines = ["HTTP/1.1 " + self.status]
        lines += ["%s: %s" % (names[k], v) for k, v in hdr.items()]
        lines += list(self.more(key, offered))
        self.expected[OK] = []
        return "\r\n".join(lines) + "\r\n\r\n"

    def more(self, key, offered):
        return self.extra

    def refusal_result(self, got, closed):
        self.behavior_close = OK
        self.result_close = "no WebSocket connection"
        if got:
            self.behavior = FAILED
            self.result = "The client sent %d octets after the invalid response: %s" % (
                len(got), describe_octets(got))
            self.behavior_close = FAILED
        elif not closed:
            self.behavior = FAILED
            self.result = ("The client neither sent anything nor closed the TCP connection "
                           "within the wait: it did not fail the connection.")
            self.behavior_close = FAILED
            self.result_close = "TCP connection still open"
        else:
            self.behavior = OK
            self.result = "The client closed the TCP connection without sending anything."


def describe_octets(b):
    if len(b) >= 2:
        op = b[0] & 0x0F
        masked = bool(b[1] & 0x80)
        return "%s (a frame with opcode %d, %smasked?)" % (
            b[:24].hex(), op, "" if masked else "un")
    return b.hex()


def _refusal(cid, desc, **attrs):
    define(cid, {"client": desc, "server": desc},
           "The client closes the connection without sending a frame (and exits non-zero).",
           Refusal.open, base=Refusal, tags=("handshake",), **attrs)


class _WrongAccept(Refusal):
    def bad_response(self, key, headers):
        return Refusal.bad_response(self, key + "x", headers)


define("0.2.1", "Answer the opening handshake with a wrong Sec-WebSocket-Accept.",
       "The client closes the connection without sending a frame (and exits non-zero).",
       Refusal.open, base=_WrongAccept, tags=("handshake",))
_refusal("0.2.2", "Answer the opening handshake with 200 OK (and the WebSocket headers).",
         status="200 OK", extra=("Content-Length: 0",))


class _Unrequested(Refusal):
    header = None
    choices = ()

    def more(self, key, offered):
        # The names offered, without their parameters ("permessage-deflate;
        # client_max_window_bits" offers permessage-deflate).
        have = [t.split(";")[0].strip() for t in offered.get(self.header.lower(), [])]
        pick = next(c for c in self.choices if c.lower() not in have)
        return ["%s: %s" % (self.header, pick)]


define("0.2.3", "Answer with a 101 naming a subprotocol the client did not offer.",
       "The client closes the connection without sending a frame (and exits non-zero).",
       Refusal.open, base=_Unrequested, tags=("handshake",), header="Sec-WebSocket-Protocol",
       choices=("chat", "wsconform-unrequested"))
define("0.2.4", "Answer with a 101 naming an extension the client did not offer.",
       "The client closes the connection without sending a frame (and exits non-zero).",
       Refusal.open, base=_Unrequested, tags=("handshake",), header="Sec-WebSocket-Extensions",
       choices=("x-wsconform-unrequested", "permessage-deflate"))
_refusal("0.2.5", "Answer with a 101 without the Upgrade header.", drop=("upgrade",))
_refusal("0.2.6", "Answer with a 101 without the Connection header.", drop=("connection",))
_refusal("0.2.7", "Answer with a 101 whose Upgrade header is not websocket (h2c).",
         drop=("upgrade",), extra=("Upgrade: h2c",))
_refusal("0.2.8", "Answer with a 101 without Sec-WebSocket-Accept.",
         drop=("sec-websocket-accept",))
