#!/usr/bin/env python3
"""Conformance check of the locker wire specifications, written from spec/ alone.

Decodes every golden bus vector and every golden uplink message with the rules of
spec/bus.md and spec/uplink.md, recomputes every CRC, COBS encoding, key, tag,
challenge, binding and MAC, and compares with the golden files. Python 3 standard
library only. Exits non-zero on any mismatch. See README.md.
"""
import hashlib
import hmac
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUS = os.path.join(ROOT, "locker-proto", "tests", "golden", "bus")
UPLINK = os.path.join(ROOT, "locker-proto", "tests", "golden", "uplink")

# ---------------------------------------------------------------- bookkeeping

RESULTS = {}  # check name -> [passed, total]
FAILURES = []


def check(name, ok, what=""):
    r = RESULTS.setdefault(name, [0, 0])
    r[1] += 1
    if ok:
        r[0] += 1
    else:
        FAILURES.append(f"{name}: {what}")
    return ok


def eq(name, got, want, what=""):
    return check(name, got == want, f"{what}: got {got!r}, want {want!r}")


# ---------------------------------------------------------------- crypto (bus §7, uplink §8)


def hmac256(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def hkdf(salt, ikm, info, length=32):
    """RFC 5869 HKDF-SHA256, extract then expand."""
    prk = hmac256(salt, ikm)
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac256(prk, t + info + bytes([i]))
        out += t
        i += 1
    return prk, out[:length]


def u64le(n):
    return n.to_bytes(8, "little")


# ---------------------------------------------------------------- bus §3: CRC and COBS


def crc16_modbus(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def cobs_encode(raw):
    out, block = bytearray(), bytearray()
    for b in raw:
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out += b"\xff" + block
                block = bytearray()
    out += bytes([len(block) + 1]) + block
    return bytes(out)


class BadCobs(Exception):
    pass


def cobs_decode(enc):
    out, i = bytearray(), 0
    while i < len(enc):
        code = enc[i]
        if code == 0 or i + code > len(enc):
            raise BadCobs()
        out += enc[i + 1 : i + code]
        i += code
        if code != 0xFF and i < len(enc):
            out.append(0)
    return bytes(out)


# ---------------------------------------------------------------- postcard reader


class BadBody(Exception):
    pass


class Reader:
    def __init__(self, data):
        self.d, self.i = data, 0

    def byte(self):
        if self.i >= len(self.d):
            raise BadBody("body ends early")
        b = self.d[self.i]
        self.i += 1
        return b

    def take(self, n):
        if self.i + n > len(self.d):
            raise BadBody("body ends early")
        b = self.d[self.i : self.i + n]
        self.i += n
        return bytes(b)

    def varint(self, bits):
        maxlen = (bits + 6) // 7
        n, shift = 0, 0
        for k in range(maxlen):
            b = self.byte()
            if k == maxlen - 1 and (b & 0x7F) >> (bits - 7 * k):
                raise BadBody("varint beyond width")
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n
        raise BadBody("varint too long")

    def zigzag(self, bits):
        n = self.varint(bits)
        return (n >> 1) ^ -(n & 1)

    def bool(self):
        b = self.byte()
        if b > 1:
            raise BadBody("bad bool")
        return b == 1

    def option(self, f):
        b = self.byte()
        if b == 0:
            return None
        if b == 1:
            return f(self)
        raise BadBody("bad option")

    def done(self):
        if self.i != len(self.d):
            raise BadBody("bytes left over")


# Type descriptions, straight from the tables of spec/bus.md §5 and spec/uplink.md §4.
# A type is a string naming a scalar or a named type, or a tuple:
#   ("opt", T), ("seq", T), ("bytes", n), ("enum", [(name, fields)]), ("struct", fields)
# where fields is None (unit variant), a type (newtype variant), or [(name, type)].

SCALARS = {
    "u8": lambda r: r.byte(),
    "bool": lambda r: r.bool(),
    "u16": lambda r: r.varint(16),
    "u32": lambda r: r.varint(32),
    "u64": lambda r: r.varint(64),
    "i16": lambda r: r.zigzag(16),
    "i32": lambda r: r.zigzag(32),
    "i64": lambda r: r.zigzag(64),
}


def read(types, t, r):
    if isinstance(t, str):
        if t in SCALARS:
            return SCALARS[t](r)
        return read(types, types[t], r)
    kind = t[0]
    if kind == "opt":
        return r.option(lambda rr: read(types, t[1], rr))
    if kind == "seq":
        n = r.varint(32)
        if len(t) > 2 and n > t[2]:
            raise BadBody("sequence too long")
        return [read(types, t[1], r) for _ in range(n)]
    if kind == "bytes":
        return list(r.take(t[1]))
    if kind == "struct":
        return read_fields(types, t[1], r)
    if kind == "enum":
        v = r.varint(32)
        if v >= len(t[1]):
            raise BadBody(f"unknown variant {v}")
        name, fields = t[1][v]
        if fields is None:
            return name
        return {name: read_fields(types, fields, r)}
    raise ValueError(t)


def read_fields(types, fields, r):
    if isinstance(fields, list):
        return {n: read(types, ft, r) for n, ft in fields}
    return read(types, fields, r)


def enum(*names):
    return ("enum", [(n, None) for n in names])


BUS_TYPES = {
    "Channel": "u8",
    "EventSeq": "u16",
    "ChannelBits": "u32",
    "Temperature": "i16",
    "NodeKey": ("bytes", 32),
    "NackReason": ("enum", [("UnknownChannel", None), ("Busy", None), ("NotPermitted", None),
                            ("InvalidConfig", None), ("Faulted", None), ("Unsupported", None),
                            ("Unauthenticated", None), ("Stale", [("floor", "u64")]),
                            ("RateLimited", None), ("ProvisioningDisabled", None)]),
    "Indicator": enum("Off", "On", "Blink", "Error"),
    "RebootKind": enum("Soft", "Hard"),
    "DoorState": enum("Closed", "Open"),
    "LockState": enum("Locked", "Unlocked", "Unknown"),
    "PowerStatus": ("enum", [("Mains", None),
                             ("Battery", [("charge_percent", "u8"), ("minutes_left", "u16")]),
                             ("Critical", [("charge_percent", "u8")])]),
    "FaultCode": enum("LockJammed", "DoorDidNotOpen", "DoorSwitchFlapping", "PresenceStuck",
                      "PresenceDrift", "PresenceSensorFailed", "TemperatureOutOfRange",
                      "Brownout", "EventsDropped"),
    "ResetReason": enum("PowerOn", "Brownout", "Watchdog", "SoftReboot", "HardReboot",
                        "ResetPin", "Unknown"),
    "FirmwareVersion": ("struct", [("major", "u8"), ("minor", "u8"), ("patch", "u8")]),
    "Presence": ("struct", [("occupied", "bool"), ("reading", "i32"), ("threshold", "i32")]),
    "NodeConfig": ("struct", [("debounce_ms", "u16"), ("door_ajar_limit_s", "u16"),
                              ("presence_threshold", "i32"), ("max_pulse_ms", "u16")]),
    "ChannelStatus": ("struct", [("channel", "Channel"), ("door", "DoorState"),
                                 ("lock", "LockState"), ("presence", "Presence"),
                                 ("fault", ("opt", "FaultCode")),
                                 ("temperature", ("opt", "Temperature"))]),
    "BulkStatus": ("struct", [("channels", "u8"), ("door_open", "ChannelBits"),
                              ("locked", "ChannelBits"), ("occupied", "ChannelBits"),
                              ("faulted", "ChannelBits")]),
    "Event": ("enum", [
        ("DoorOpened", [("channel", "Channel"), ("commanded", "bool")]),
        ("DoorClosed", [("channel", "Channel")]),
        ("PresenceChanged", [("channel", "Channel"), ("presence", "Presence")]),
        ("FaultRaised", [("channel", ("opt", "Channel")), ("fault", "FaultCode")]),
        ("FaultCleared", [("channel", ("opt", "Channel")), ("fault", "FaultCode")]),
        ("Power", "PowerStatus"),
        ("DoorAjar", [("channel", "Channel")]),
        ("NodeStarted", [("reset_reason", "ResetReason")]),
        ("CommandsRefused", [("refused", "u16"), ("reason", "NackReason")]),
    ]),
    "EventRecord": ("struct", [("seq", "EventSeq"), ("event", "Event")]),
    "EventBatch": ("seq", "EventRecord", 6),
    "Command": ("enum", [
        ("Ping", None),
        ("GetStatus", [("channel", "Channel")]),
        ("GetAllStatus", None),
        ("Unlock", [("channel", "Channel"), ("pulse_ms", "u16")]),
        ("SetIndicator", [("channel", "Channel"), ("indicator", "Indicator")]),
        ("Calibrate", [("channel", "Channel")]),
        ("Configure", "NodeConfig"),
        ("PollEvents", None),
        ("AckEvents", [("up_to", "EventSeq")]),
        ("Reboot", [("kind", "RebootKind")]),
        ("Provision", [("key", "NodeKey")]),
        ("GetAuthFloor", None),
    ]),
    "Report": ("enum", [
        ("Pong", [("firmware", "FirmwareVersion"), ("uptime_ms", "u32"),
                  ("reset_reason", "ResetReason")]),
        ("Status", "ChannelStatus"),
        ("BulkStatus", "BulkStatus"),
        ("Events", [("events", "EventBatch"), ("dropped", "u16")]),
        ("Ack", None),
        ("Nack", "NackReason"),
        ("AuthFloor", [("floor", "u64")]),
    ]),
}

# ---------------------------------------------------------------- bus §3, §8: frame decoder

MAX_ENCODED = 127
FLAG_NAMES = [(0x01, "ACK_WANTED"), (0x02, "AUTHENTICATED"), (0x04, "MORE_PENDING")]


class FrameError(Exception):
    def __init__(self, kind, **kw):
        super().__init__(kind)
        self.kind, self.kw = kind, kw


def decode_raw(raw, as_type):
    """bus §8.1 rows 3-7, on a raw (COBS-decoded) frame."""
    if len(raw) < 6:
        raise FrameError("Truncated", len=len(raw))
    received = raw[-2] | raw[-1] << 8
    computed = crc16_modbus(raw[:-2])
    if received != computed:
        raise FrameError("BadCrc", received=received, computed=computed)
    vf = raw[0]
    if vf >> 4 != 1:
        raise FrameError("UnknownVersion", version=vf >> 4)
    flags = vf & 0x0F
    rest = raw[4:-2]
    trailer = None
    if flags & 0x02:
        if len(rest) < 10:
            raise FrameError("Truncated", len=len(raw))
        rest, trailer = rest[:-10], rest[-10:]
    try:
        r = Reader(rest)
        value = read(BUS_TYPES, as_type, r)
        r.done()
    except BadBody as e:
        raise FrameError("BadBody", why=str(e))
    header = {"version": vf >> 4, "flags": flags, "src": raw[1], "dst": raw[2], "seq": raw[3]}
    return header, rest, trailer, {as_type: value}


def decode_stream(data, as_type):
    """Split a byte run at 0x00 delimiters, one outcome per non-empty unit (bus §8.1)."""
    outcomes, unit, overflow = [], bytearray(), False
    for b in data:
        if b != 0:
            if len(unit) < MAX_ENCODED:
                unit.append(b)
            else:
                overflow = True
            continue
        if overflow:
            outcomes.append(("error", FrameError("TooLong")))
        elif unit:
            try:
                raw = cobs_decode(bytes(unit))
                outcomes.append(("frame", decode_raw(raw, as_type)))
            except BadCobs:
                outcomes.append(("error", FrameError("BadCobs")))
            except FrameError as e:
                outcomes.append(("error", e))
        unit, overflow = bytearray(), False
    return outcomes


def encode_frame(header, body, trailer=None):
    vf = header["version"] << 4 | header["flags"]
    raw = bytes([vf, header["src"], header["dst"], header["seq"]]) + body + (trailer or b"")
    crc = crc16_modbus(raw)
    raw += bytes([crc & 0xFF, crc >> 8])
    return raw, cobs_encode(raw) + b"\x00"


# ---------------------------------------------------------------- bus checks

BUS_SALT = b"locker bus node key v1"


def bus_node_key(key):
    """bus §7.2 from the vector's key description; checks the HKDF inputs too."""
    bank = bytes.fromhex(key["bank_key"])
    if key["serial"] is None:
        info = bytes([0, key["addr"]])
    else:
        info = bytes([1, key["addr"]]) + u64le(int(key["serial"], 16))
    eq("bus: node key HKDF info", info.hex(), key["hkdf_info"], key)
    eq("bus: node key HKDF salt", BUS_SALT.hex(), key["hkdf_salt"])
    prk, nk = hkdf(BUS_SALT, bank, info)
    if "prk" in key:
        eq("bus: node key PRK", prk.hex(), key["prk"])
    eq("bus: node key", nk.hex(), key["node_key"], key)
    return nk


def tag8(key, msg):
    return hmac256(key, msg)[:8]


def check_bus_auth(name, header, body, trailer, auth, vectors):
    covered = bytes([header["version"] << 4 | header["flags"], header["src"], header["dst"],
                     header["seq"]]) + body
    eq("bus: auth covered bytes", covered.hex(), auth["covered"], name)
    nk = bus_node_key(auth["key"])
    fresh, tag = trailer[:2], trailer[2:]
    kind = auth["kind"]
    if kind in ("signed command", "answer to a signed command"):
        direction = 1 if kind == "signed command" else 2
        eq("bus: direction byte", direction, auth["direction"], name)
        mac_input = covered + u64le(auth["counter"]) + bytes([direction])
        eq("bus: mac input", mac_input.hex(), auth["mac_input"], name)
        eq("bus: freshness", fresh.hex(), u64le(auth["counter"])[:2].hex(), name)
        eq("bus: freshness (json)", fresh.hex(), auth["freshness"], name)
        eq("bus: tag", tag8(nk, mac_input).hex(), tag.hex(), name)
        eq("bus: tag (json)", tag.hex(), auth["tag"], name)
    elif kind == "query":
        cin = u64le(auth["epoch"]) + bytes.fromhex(auth["salt"]) + u64le(auth["index"]) + b"\x05"
        eq("bus: challenge input", cin.hex(), auth["challenge_input"], name)
        eq("bus: freshness", fresh.hex(), "0000", name)
        eq("bus: challenge", tag8(nk, cin).hex(), tag.hex(), name)
        eq("bus: challenge (json)", tag.hex(), auth["challenge"], name)
    elif kind == "answer to a query":
        qcov = bytes.fromhex(auth["query_covered"])
        q = vectors.get(auth.get("answers"))
        if q is not None:
            eq("bus: query covered = answered vector", qcov.hex(), q["auth"]["covered"], name)
            eq("bus: challenge = answered vector", auth["challenge"], q["auth"]["challenge"], name)
        bin_input = qcov + bytes.fromhex(auth["challenge"]) + b"\x04"
        eq("bus: binding input", bin_input.hex(), auth["binding_input"], name)
        binding = tag8(nk, bin_input)
        eq("bus: binding", binding.hex(), auth["binding"], name)
        eq("bus: direction byte", 3, auth["direction"], name)
        mac_input = covered + binding + b"\x03"
        eq("bus: mac input", mac_input.hex(), auth["mac_input"], name)
        eq("bus: freshness", fresh.hex(), binding[:2].hex(), name)
        eq("bus: tag", tag8(nk, mac_input).hex(), tag.hex(), name)
        eq("bus: tag (json)", tag.hex(), auth["tag"], name)
    else:
        check("bus: auth kind known", False, f"{name}: {kind}")


def error_json(e):
    d = {"error": e.kind}
    if e.kind == "Truncated":
        d["len"] = e.kw["len"]
    elif e.kind == "BadCrc":
        d["received"] = f"0x{e.kw['received']:04x}"
        d["computed"] = f"0x{e.kw['computed']:04x}"
    elif e.kind == "UnknownVersion":
        d["version"] = e.kw["version"]
    return d


def check_bus():
    names = sorted(f[:-5] for f in os.listdir(BUS) if f.endswith(".json"))
    vectors = {n: json.load(open(os.path.join(BUS, n + ".json"))) for n in names}
    for name, v in vectors.items():
        if name in ("node_key_derivation", "counter_reconstruction"):
            continue
        wire = bytes.fromhex(open(os.path.join(BUS, name + ".hex")).read().strip())
        if name.startswith("malformed_"):
            got = []
            for kind, o in decode_stream(wire, v["decode_as"]):
                got.append(error_json(o) if kind == "error" else {"frame": o[3]})
            eq("bus: malformed vectors reach the named outcomes", got, v["outcomes"], name)
            continue
        as_type = "Command" if v["direction"] == "gateway to node" else "Report"
        eq("bus: delimiter and wire length", (wire[-1], wire.count(0), len(wire)),
           (0, 1, v["wire_length"]), name)
        raw = cobs_decode(wire[:-1])
        eq("bus: COBS decoding = raw", raw.hex(), v["raw"], name)
        eq("bus: CRC", f"0x{crc16_modbus(raw[:-2]):04x}", v["crc16"], name)
        eq("bus: CRC in frame, low byte first", raw[-2] | raw[-1] << 8, int(v["crc16"], 16), name)
        outs = decode_stream(wire, as_type)
        if not check("bus: frame decodes", len(outs) == 1 and outs[0][0] == "frame",
                     f"{name}: {outs}"):
            continue
        header, body, trailer, value = outs[0][1]
        want_h = dict(v["header"])
        names_ = want_h.pop("flag_names")
        eq("bus: header", header, want_h, name)
        eq("bus: flag names", [n for bit, n in FLAG_NAMES if header["flags"] & bit], names_, name)
        eq("bus: body bytes", body.hex(), v["body_postcard"], name)
        eq("bus: trailer present iff AUTHENTICATED and auth given",
           trailer is not None, v["auth"] is not None, name)
        eq(f"bus: body decoded ({as_type})", value, v["body"], name)
        _, re_wire = encode_frame(header, body, trailer)
        eq("bus: re-encoding (CRC + COBS + delimiter) = wire", re_wire.hex(), wire.hex(), name)
        if v["auth"] is not None and trailer is not None:
            check_bus_auth(name, header, body, trailer, v["auth"], vectors)

    for case in vectors["node_key_derivation"]["cases"]:
        bus_node_key(case)

    # bus §7.6: reconstruction; the tag verifies only under the counter it was made under
    for c in vectors["counter_reconstruction"]["cases"]:
        f, b = c["floor"], int.from_bytes(bytes.fromhex(c["freshness"]), "little")
        eq("bus: freshness = low 2 bytes of sent", b, c["sent"] & 0xFFFF, c)
        ahead = (b - f) % 65536
        cand = f + ahead if ahead < 32768 else f + ahead - 65536
        if cand < 0:
            cand = None
        eq("bus: counter reconstruction", cand, c["reconstructed"], c)
        if cand is None or cand != c["sent"]:
            verdict = "forged"
        elif cand >= f:
            verdict = f"fresh {cand}"
        else:
            verdict = f"stale {cand}"
        eq("bus: counter verdict", verdict, c["verdict"], c)


def main():
    check_bus()
    width = max(len(k) for k in RESULTS)
    for k, (p, t) in RESULTS.items():
        print(f"{'ok  ' if p == t else 'FAIL'} {k:<{width}} {p}/{t}")
    for f in FAILURES[:50]:
        print("  mismatch:", f)
    print(f"{len(FAILURES)} mismatches" if FAILURES else "all checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
