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
SCHEMA = os.path.join(ROOT, "spec", "schema")

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
    # compared as JSON text, so that true and 1 (or 1.0) differ
    same = json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)
    return check(name, same, f"{what}: got {got!r}, want {want!r}")


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
    # Bit k-1 is bus version k (spec/bus.md section 5.5).
    "ProtocolVersions": "u8",
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
        ("NodeStarted", [("reset_reason", "ResetReason"), ("held", ("opt", "HeldEvents"))]),
        ("CommandsRefused", [("refused", "u16"), ("reason", "NackReason")]),
    ]),
    "HeldEvents": ("struct", [("first", "EventSeq"), ("next", "EventSeq"), ("dropped", "u16")]),
    "EventRecord": ("struct", [("seq", "EventSeq"), ("event", "Event")]),
    "EventBatch": ("seq", "EventRecord", 6),
    "Command": ("enum", [
        ("Ping", [("versions", "ProtocolVersions")]),
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
                  ("reset_reason", "ResetReason"), ("versions", "ProtocolVersions")]),
        ("Status", "ChannelStatus"),
        ("BulkStatus", "BulkStatus"),
        ("Events", [("events", "EventBatch"), ("dropped", "u16")]),
        ("Ack", None),
        ("Nack", "NackReason"),
        ("AuthFloor", [("floor", "u64")]),
    ]),
}


# ---------------------------------------------------------------- postcard writer (the other direction)


def varint_bytes(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


ZIGZAG_BITS = {"i16": 16, "i32": 32, "i64": 64}


def write(types, t, value):
    """Encode a JSON-shaped value (as in the golden .json files) as postcard."""
    if isinstance(t, str):
        if t == "u8":
            return bytes([value])
        if t == "bool":
            return b"\x01" if value is True else b"\x00"
        if t in ("u16", "u32", "u64"):
            return varint_bytes(value)
        if t in ZIGZAG_BITS:
            return varint_bytes((value << 1) ^ (value >> (ZIGZAG_BITS[t] - 1)))
        return write(types, types[t], value)
    kind = t[0]
    if kind == "opt":
        return b"\x00" if value is None else b"\x01" + write(types, t[1], value)
    if kind == "seq":
        return varint_bytes(len(value)) + b"".join(write(types, t[1], x) for x in value)
    if kind == "bytes":
        return bytes(value)
    if kind == "text":
        b = value.encode("utf-8")
        return varint_bytes(len(b)) + b
    if kind == "hex":
        b = bytes.fromhex(value)
        return varint_bytes(len(b)) + b
    if kind == "struct":
        return write_fields(types, t[1], value)
    if kind == "enum":
        name = value if isinstance(value, str) else next(iter(value))
        for number, (vname, fields) in enumerate(t[1]):
            if vname == name:
                head = varint_bytes(number)
                return head if fields is None else head + write_fields(types, fields, value[name])
        raise ValueError(f"unknown variant {name}")
    raise ValueError(t)


def write_fields(types, fields, value):
    if isinstance(fields, list):
        return b"".join(write(types, ft, value[n]) for n, ft in fields)
    return write(types, fields, value)


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
        return u64le(auth["counter"])[:2] + tag8(nk, mac_input)
    elif kind == "query":
        cin = u64le(auth["epoch"]) + bytes.fromhex(auth["salt"]) + u64le(auth["index"]) + b"\x05"
        eq("bus: challenge input", cin.hex(), auth["challenge_input"], name)
        eq("bus: freshness", fresh.hex(), "0000", name)
        eq("bus: challenge", tag8(nk, cin).hex(), tag.hex(), name)
        eq("bus: challenge (json)", tag.hex(), auth["challenge"], name)
        return b"\x00\x00" + tag8(nk, cin)
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
        return binding[:2] + tag8(nk, mac_input)
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
        eq(f"bus: body encoded from the JSON ({as_type})",
           write(BUS_TYPES, as_type, v["body"][as_type]).hex(), v["body_postcard"], name)
        _, re_wire = encode_frame(header, body, trailer)
        eq("bus: re-encoding (CRC + COBS + delimiter) = wire", re_wire.hex(), wire.hex(), name)
        made = None
        if v["auth"] is not None and trailer is not None:
            made = check_bus_auth(name, header, body, trailer, v["auth"], vectors)
        # the other direction: the frame built from the JSON alone (header, body value,
        # trailer recomputed from the key and counter, challenge or binding)
        raw2, wire2 = encode_frame(want_h, write(BUS_TYPES, as_type, v["body"][as_type]), made)
        eq("bus: frame built from the JSON = wire", wire2.hex(), wire.hex(), name)

    # bus section 5.5: the greeting agrees on the highest version both sets hold
    ping = vectors["cmd_ping"]["body"]["Command"]["Ping"]["versions"]
    pong = vectors["rep_pong"]["body"]["Report"]["Pong"]["versions"]
    eq("bus: Ping and Pong agree on the highest common version", agreed_version(ping, pong), 1)
    eq("bus: no common version with a node that claims none", agreed_version(ping, 0), None)

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



# ---------------------------------------------------------------- uplink types (uplink.md §3.3, §4)

# Extra uplink leaves: text with a byte bound, bytes with a fixed or maximum length.
#   ("text", max), ("hex", exact_or_None, max)


def read_up(t, r):
    if isinstance(t, tuple) and t[0] == "text":
        n = r.varint(32)
        if n > t[1]:
            raise BadBody("text too long")
        try:
            return r.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise BadBody("bad UTF-8")
    if isinstance(t, tuple) and t[0] == "hex":
        n = r.varint(32)
        if (t[1] is not None and n != t[1]) or n > t[2]:
            raise BadBody("bytes of the wrong length")
        return r.take(n).hex()
    raise ValueError(t)


UP_TYPES = dict(BUS_TYPES)  # the bus vocabulary keeps its Rust names (uplink §3.2)
UP_TYPES.update({
    "MessageId": "u64", "CompartmentId": "u16", "NodeAddr": "u8", "ParcelNumber": "u32",
    "Instant": "u64", "Duration": "u64",
    "BankId": ("text", 32), "ParcelRef": ("text", 32), "Recipient": ("text", 64),
    "PickupCodeText": ("text", 10), "Description": ("text", 96),
    "Tag": ("hex", 16, 16), "CodeHash": ("hex", 16, 16), "AuditLink": ("hex", 32, 32),
    "OfflineToken": ("hex", None, 64),
    "SizeClass": enum("Small", "Medium", "Large", "ExtraLarge"),
    "Stamp": ("struct", [("mono_ms", "Instant"), ("unix_s", ("opt", "i64"))]),
    "NodeInfo": ("struct", [("node", "NodeAddr"), ("firmware", ("opt", "FirmwareVersion")),
                            ("reset_reason", ("opt", "ResetReason"))]),
    "BootNotification": ("struct", [
        ("bank_id", "BankId"), ("reason", "ResetReason"), ("reset_request", ("opt", "MessageId")),
        ("gateway_firmware", "FirmwareVersion"), ("versions", "ProtocolVersions"),
        ("nodes", ("seq", "NodeInfo", 32)),
        ("compartments", "u16"), ("layout_fingerprint", "u32"), ("incarnation", "u32"),
        ("at", "Stamp")]),
    "Dimensions": ("struct", [("width_mm", "u16"), ("height_mm", "u16"), ("depth_mm", "u16")]),
    "CompartmentInfo": ("struct", [
        ("id", "CompartmentId"), ("node", "NodeAddr"), ("channel", "Channel"),
        ("size", "SizeClass"), ("inner", "Dimensions"), ("refrigerated", "bool"),
        ("accessible", "bool")]),
    "LayoutPage": ("struct", [("first", "u16"), ("total", "u16"),
                              ("compartments", ("seq", "CompartmentInfo", 16))]),
    "NodeBoot": ("struct", [
        ("node", "NodeAddr"), ("firmware", "FirmwareVersion"), ("reset_reason", "ResetReason"),
        ("uptime_ms", "u32"), ("reset_request", ("opt", "MessageId")), ("at", "Stamp")]),
    "Heartbeat": ("struct", [("at", "Stamp"), ("backlog", "u32")]),
    "StatusNotification": ("struct", [
        ("compartment", "CompartmentId"), ("status", "CompartmentStatus"), ("door", "DoorState"),
        ("occupied", ("opt", "bool")), ("parcel", ("opt", "ParcelNumber")),
        ("out_of_service", ("opt", "ServiceReason")), ("at", "Stamp")]),
    "ParcelEvent": ("struct", [
        ("parcel", "ParcelNumber"), ("compartment", "CompartmentId"), ("step", "ParcelStep"),
        ("actor", "Actor"), ("at", "Stamp")]),
    "Notification": ("struct", [
        ("to", "Actor"), ("compartment", "CompartmentId"), ("parcel", ("opt", "ParcelNumber")),
        ("kind", "NotificationKind"), ("at", "Stamp")]),
    "Alert": ("struct", [
        ("kind", "AlertKind"), ("compartment", ("opt", "CompartmentId")),
        ("parcel", ("opt", "ParcelNumber")), ("evidence", "Evidence"),
        ("snapshot", ("opt", "u32")), ("at", "Stamp")]),
    "SecurityEvent": ("struct", [
        ("kind", "SecurityKind"), ("compartment", ("opt", "CompartmentId")),
        ("node", ("opt", "NodeAddr")), ("request_id", ("opt", "u64")), ("keypad", ("opt", "u8")),
        ("count", "u32"), ("snapshot", ("opt", "u32")), ("at", "Stamp")]),
    "AuditRecord": ("struct", [
        ("seq", "u64"), ("at", "Stamp"), ("actor", "Actor"),
        ("compartment", ("opt", "CompartmentId")), ("parcel", ("opt", "ParcelNumber")),
        ("event", "AuditEvent"), ("snapshot", ("opt", "u32")), ("link", "AuditLink")]),
    "Statistics": ("struct", [
        ("at", "Stamp"), ("deposits", "u32"), ("pickups", "u32"), ("reminders", "u32"),
        ("escalations", "u32"), ("expiries", "u32"), ("alerts", "u32"),
        ("mean_dwell_s", ("opt", "u64")), ("compartments", "u16"), ("free", "u16"),
        ("out_of_service", "u16"), ("backlog", "u32")]),
    "SizeFigures": ("struct", [
        ("size", "SizeClass"), ("deposits", "u32"), ("compartments", "u16"),
        ("occupied", "u16"), ("out_of_service", "u16")]),
    "Analytics": ("struct", [
        ("at", "Stamp"), ("deposits_by_hour", ("seq", "u32", 24)),
        ("pickups_by_hour", ("seq", "u32", 24)), ("deposits_by_weekday", ("seq", "u32", 7)),
        ("pickups_by_weekday", ("seq", "u32", 7)), ("dwell", ("seq", "u32", 7)),
        ("sizes", ("seq", "SizeFigures", 4)), ("refused_oversize", "u32"),
        ("refused_bank_full", "u32"), ("refused_unavailable", "u32")]),
    "CallResult": ("struct", [("request", "MessageId"), ("response", "Response")]),
    "CallError": ("struct", [("request", "MessageId"), ("code", "ErrorCode"),
                             ("description", "Description")]),
    "Response": ("enum", [
        ("reserved", [("compartment", "CompartmentId"), ("parcel", "ParcelNumber"),
                      ("pickup_code", ("opt", "PickupCodeText"))]),
        ("parcel_announced", [("compartment", "CompartmentId"), ("parcel", "ParcelNumber"),
                              ("pickup_code", ("opt", "PickupCodeText"))]),
        ("reservation_cancelled", [("compartment", "CompartmentId")]),
        ("deadline_extended", [("compartment", "CompartmentId")]),
        ("opening", [("compartment", "CompartmentId"), ("request_id", "u64")]),
        ("availability_changed", [("scope", "Scope"), ("available", "bool")]),
        ("reset_accepted", [("target", "ResetTarget"), ("in_flight", "u16")]),
        ("configuration_changed", [("reboot_required", "bool")]),
        ("configuration", "PolicyConfig"),
        ("snapshot_scheduled", [("compartment", "CompartmentId")]),
        ("diagnostics", "Diagnostics"),
        ("sensor_recalibrating", [("compartment", "CompartmentId")])]),
    "Diagnostics": ("struct", [
        ("gateway_firmware", "FirmwareVersion"), ("nodes", ("seq", "NodeInfo", 32)),
        ("bus", "BusStats"), ("out_of_service", ("seq", "OutOfService", 32)),
        ("out_of_service_total", "u16"), ("sensor_health_alerts", "u32"), ("backlog", "u32"),
        ("duplicates_ignored", "u32"), ("forged_refused", "u32")]),
    "BusStats": ("struct", [(n, "u32") for n in (
        "frames_sent", "retransmissions", "responses", "timeouts", "unexpected",
        "duplicates_filtered", "nodes_lost")]),
    "OutOfService": ("struct", [("compartment", "CompartmentId"), ("reason", "ServiceReason")]),
    "ErrorCode": enum(
        "not_supported", "formation_violation", "unknown_compartment", "unknown_node",
        "wrong_stage", "out_of_service", "oversize", "bank_full", "no_refrigerated_free",
        "no_accessible_free", "low_battery", "shutting_down", "reset_in_progress", "unavailable",
        "not_authorized", "replayed", "rate_limited", "invalid_configuration", "busy",
        "internal_error", "code_in_use", "out_of_window", "other_incarnation"),
    # downward payloads (§4.4)
    "ReserveCompartment": ("struct", [("kind", "ParcelKind"), ("needs", "ParcelNeeds")]),
    "ParcelNeeds": ("struct", [
        ("size", ("opt", "SizeClass")), ("dimensions", ("opt", "Dimensions")),
        ("perishable", "bool"), ("accessible", "bool")]),
    "AnnounceParcel": ("struct", [
        ("parcel_ref", "ParcelRef"), ("recipient", "Recipient"), ("kind", "ParcelKind"),
        ("needs", "ParcelNeeds"), ("deadlines", "Deadlines"), ("credential", "Credential")]),
    "Deadlines": ("struct", [("extra_pickup_ms", "Duration")]),
    "Credential": ("enum", [("code_hash", "CodeHash"), ("offline_token", "OfflineToken")]),
    "RemoteOpen": ("struct", [
        ("incarnation", "u32"), ("compartment", "CompartmentId"), ("request_id", "u64"),
        ("tag", "Tag")]),
    "Scope": ("enum", [("bank", None), ("compartment", "CompartmentId")]),
    "ResetTarget": ("enum", [("gateway", None), ("node", "NodeAddr")]),
    "PolicyConfig": ("struct", [
        ("reminder_after_ms", "Duration"), ("escalation_after_ms", "Duration"),
        ("expiry_after_ms", "Duration"), ("reservation_hold_ms", "Duration"),
        ("deposit_window_ms", "Duration"), ("door_ajar_limit_ms", "Duration"),
        ("unlock_confirm_ms", "Duration"), ("presence_settle_ms", "Duration"),
        ("unlock_pulse_ms", "u16"), ("code_digits", "u8"), ("min_charge_for_deposit", "u8"),
        ("quiet_hours", ("opt", "QuietHours")), ("time_zone", "TimeZone"),
        ("lockout", "LockoutConfig"), ("health", "HealthConfig"),
        ("node_config", ("opt", "NodeConfig"))]),
    "QuietHours": ("struct", [("start_minute", "u16"), ("end_minute", "u16")]),
    "TimeZone": ("struct", [
        ("standard_offset_minutes", "i16"), ("summer", ("opt", "SummerTime"))]),
    "SummerTime": ("struct", [
        ("save_minutes", "u8"), ("starts", "Transition"), ("ends", "Transition")]),
    "Transition": ("struct", [
        ("month", "u8"), ("week", "u8"), ("weekday", "u8"), ("minute", "u16")]),
    "LockoutConfig": ("struct", [
        ("free_attempts", "u8"), ("base_lockout_ms", "Duration"), ("max_lockout_ms", "Duration"),
        ("spike_window_ms", "Duration"), ("spike_threshold", "u16")]),
    "HealthConfig": ("struct", [
        ("drift_band", "i32"), ("stuck_after_ms", "Duration"), ("flap_window_ms", "Duration"),
        ("flap_changes", "u8"), ("lock_fault_limit", "u8")]),
    # enums (§4.5)
    "CompartmentStatus": enum("free", "reserved", "depositing", "stored", "collecting",
                               "expired", "removing", "inspecting"),
    "ParcelStep": ("enum", [(n, None) for n in (
        "reserved", "reservation_cancelled", "reservation_expired", "deposit_started",
        "deposited", "no_parcel_detected", "reminded", "escalated", "expired", "pickup_started",
        "picked_up", "left_inside", "returned")] + [("deadline_extended", [("by_ms", "Duration")])]),
    "AlertKind": enum(
        "lock_fault", "door_ajar", "no_parcel_detected", "parcel_left_inside", "parcel_missing",
        "unexpected_item", "door_open_unexpectedly", "sensor_health", "removal_not_verified",
        "power_on_battery", "power_restored", "power_critical", "node_lost", "node_back",
        "node_fault", "forged_remote_open", "remote_open_flood", "temperature_out_of_range",
        "temperature_sensor_silent"),
    "Evidence": ("enum", [
        ("none", None), ("presence", "Presence"), ("door", "DoorState"), ("fault", "FaultCode"),
        ("unlock_attempts", "u8"),
        ("scan", [("door", "DoorState"), ("occupied", "bool"), ("faulted", "bool")]),
        ("health", "HealthIssue"), ("node", "NodeAddr"), ("power", "PowerStatus"),
        ("remote_open", [("request_id", "u64")]),
        ("remote_opens", [("opens", "u8"), ("window_ms", "Duration")]),
        ("temperature", [("reading", "Temperature"), ("limit", "Temperature"),
                         ("out_for_ms", "Duration")]),
        ("temperature_silent", [("last", ("opt", "Temperature")),
                                ("silent_for_ms", "Duration")])]),
    "SecurityKind": enum("forged_tag", "replay", "rate_limit_tripped", "keypad_lockout_spike",
                          "forced_door"),
    "RemoteOpenRefusal": enum("forged_tag", "replayed", "stale", "rate_limited", "locked",
                               "other_incarnation"),
    "AuditEvent": ("enum", [
        ("reserved", None), ("reservation_cancelled", None), ("reservation_expired", None),
        ("unlock_commanded", [("purpose", "Purpose"), ("attempt", "u8")]),
        ("door_opened", None), ("door_closed", None), ("deposit_verified", None),
        ("no_parcel_detected", None), ("pickup_verified", [("purpose", "Purpose")]),
        ("parcel_left_inside", None), ("reminder_sent", None),
        ("reminder_deferred", [("by_ms", "Duration")]), ("escalation_sent", None),
        ("expired", None), ("door_forced", None), ("door_ajar", None), ("lock_fault", None),
        ("sensor_disagrees", [("presence", "Presence")]),
        ("out_of_service", [("reason", "ServiceReason")]), ("back_in_service", None),
        ("deadline_extended", [("by_ms", "Duration")]), ("code_rejected", [("keypad", "u8")]),
        ("code_accepted", [("keypad", "u8")]), ("keypad_attack_suspected", None),
        ("power", "PowerStatus"), ("restored", None),
        ("discrepancy", [("door", "DoorState"), ("occupied", "bool"), ("faulted", "bool")]),
        ("node_lost", "NodeAddr"), ("node_back", "NodeAddr"), ("fault_reported", "FaultCode"),
        ("maintenance_needed", None), ("remote_open_accepted", [("request_id", "u64")]),
        ("remote_open_refused", [("compartment", "CompartmentId"), ("request_id", "u64"),
                                 ("reason", "RemoteOpenRefusal")]),
        ("remote_opens_locked", [("opens", "u8")]),
        ("remote_open_lock_cleared", [("staff", "u32")]), ("staff_opened", [("staff", "u32")]),
        ("staff_open_all", [("staff", "u32"), ("opened", "u16"), ("remaining", "u16")]),
        ("token_accepted", [("keypad", "u8")]), ("token_refused", [("keypad", "u8")]),
        ("sensor_recalibrated", [("staff", "u32")]),
        ("incarnation_started", [("previous", "u32"), ("incarnation", "u32")]),
        ("code_for_counter_parcel", [("keypad", "u8")]),
        ("deposit_code_accepted", [("keypad", "u8")]),
        ("deposit_code_rejected", [("keypad", "u8")]),
        ("deposit_opened_by", [("account", "u32")]), ("removal_certified", [("staff", "u32")]),
        ("policy_changed", None), ("other", None),
        ("temperature_restored", [("out_for_ms", "Duration"), ("worst", "Temperature")]),
        ("cold_chain", [("min", ("opt", "Temperature")), ("max", ("opt", "Temperature")),
                        ("out_of_range_ms", "Duration")]),
        ("sensor_recalibrated_automatically", [("drift", "HealthIssue")]),
        ("snapshot_taken", None), ("snapshot_failed", None),
        ("sensor_recalibrated_remotely", None), ("snapshot_requested", None),
        ("serviced", [("staff", "u32")]),
        ("drift_under_parcel", [("drift", "HealthIssue")]),
        ("recalibration_failed", None)]),
    "Actor": enum("courier", "recipient", "staff", "backend", "system"),
    "ParcelKind": enum("delivery", "return"),
    "Purpose": enum("deposit", "pickup", "removal", "inspection"),
    "ServiceReason": enum("override", "forced_door", "lock_fault", "sensor_disagrees",
                           "removal_not_verified", "sensor_failed"),
    "NotificationKind": enum(
        "parcel_ready", "no_parcel_detected", "reminder", "escalation", "removal_task",
        "parcel_left_inside", "close_the_door", "reservation_expired", "door_would_not_open",
        "parcel_expired", "moved_to_counter", "parcel_incident"),
    "HealthIssue": ("enum", [
        ("presence_drift", [("reading", "i32"), ("threshold", "i32"), ("band", "i32")]),
        ("presence_stuck", [("reading", "i32"), ("since_ms", "Instant")]),
        ("door_flapping", [("changes", "u8"), ("within_ms", "Duration")]),
        ("repeated_lock_faults", [("count", "u8")])]),
    "Upward": ("enum", [
        ("boot_notification", "BootNotification"), ("layout", "LayoutPage"),
        ("node_boot", "NodeBoot"), ("heartbeat", "Heartbeat"),
        ("status_notification", "StatusNotification"), ("parcel_event", "ParcelEvent"),
        ("notification", "Notification"), ("alert", "Alert"),
        ("security_event", "SecurityEvent"), ("audit", "AuditRecord"),
        ("statistics", "Statistics"), ("call_result", "CallResult"),
        ("call_error", "CallError"), ("analytics", "Analytics")]),
    "Downward": ("enum", [
        ("ack", "MessageId"), ("reserve_compartment", "ReserveCompartment"),
        ("announce_parcel", "AnnounceParcel"),
        ("cancel_reservation", [("compartment", "CompartmentId")]),
        ("extend_deadline", [("compartment", "CompartmentId"), ("by_ms", "Duration")]),
        ("remote_open", "RemoteOpen"),
        ("change_availability", [("scope", "Scope"), ("available", "bool")]),
        ("reset", [("kind", "RebootKind"), ("target", "ResetTarget")]),
        ("change_configuration", "PolicyConfig"), ("get_configuration", None),
        ("trigger_snapshot", [("compartment", "CompartmentId")]),
        ("get_diagnostics", None),
        ("boot_ack", [("boot", "MessageId"), ("versions", "ProtocolVersions")]),
        ("recalibrate_sensor", [("compartment", "CompartmentId")])]),
})


def read_uplink(t, r):
    if isinstance(t, str) and t not in SCALARS:
        return read_uplink(UP_TYPES[t], r)
    if isinstance(t, tuple) and t[0] in ("text", "hex"):
        return read_up(t, r)
    if isinstance(t, str):
        return SCALARS[t](r)
    kind = t[0]
    if kind == "opt":
        return r.option(lambda rr: read_uplink(t[1], rr))
    if kind == "seq":
        n = r.varint(32)
        if n > t[2]:
            raise BadBody("list too long")
        return [read_uplink(t[1], r) for _ in range(n)]
    if kind == "bytes":
        return list(r.take(t[1]))
    if kind == "struct":
        return up_fields(t[1], r)
    if kind == "enum":
        v = r.varint(32)
        if v >= len(t[1]):
            raise BadBody(f"unknown variant {v}")
        name, fields = t[1][v]
        return name if fields is None else {name: up_fields(fields, r)}
    raise ValueError(t)


def up_fields(fields, r):
    if isinstance(fields, list):
        return {n: read_uplink(ft, r) for n, ft in fields}
    return read_uplink(fields, r)



# ---------------------------------------------------------------- uplink checks (uplink.md §2, §8, §10)

UP_SALT = b"locker/v1/bank-keys"
LABELS = ["locker/v1/code-hash", "locker/v1/remote-open", "locker/v1/offline-token",
          "locker/v1/downward", "locker/v1/deposit-code"]


def uplink_keys(secret, bank):
    prk = hmac256(UP_SALT, secret)
    keys = {}
    for label in LABELS:
        info = label.encode() + bank.to_bytes(4, "little")
        keys[label] = (info, hmac256(prk, info + b"\x01"))
    return prk, keys


def mac16(key, msg):
    return hmac256(key, msg)[:16]


def remote_open_tag(keys, bank, inc, comp, req):
    mi = (b"locker/v1/remote-open" + bank.to_bytes(4, "little") + inc.to_bytes(4, "little")
          + comp.to_bytes(2, "little") + u64le(req))
    return mi, mac16(keys["locker/v1/remote-open"][1], mi)


def code_hash(keys, bank, code):
    mi = bank.to_bytes(4, "little") + code.encode("ascii")
    return mi, mac16(keys["locker/v1/code-hash"][1], mi)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def layout_fingerprint(compartments):
    sizes = [n for n, _ in UP_TYPES["SizeClass"][1]]
    data = b""
    for c in compartments:
        d = c["inner"]
        data += (c["id"].to_bytes(2, "little") + bytes([c["node"], c["channel"],
                 sizes.index(c["size"]), c["refrigerated"] | c["accessible"] << 1])
                 + d["width_mm"].to_bytes(2, "little") + d["height_mm"].to_bytes(2, "little")
                 + d["depth_mm"].to_bytes(2, "little"))
    return crc32c(data)


def check_mac_vectors(m):
    secret, bank = bytes.fromhex(m["bank_secret"]), m["bank_number"]
    eq("uplink mac_vectors: HKDF salt", UP_SALT.hex(), m["hkdf"]["salt_hex"])
    prk, keys = uplink_keys(secret, bank)
    eq("uplink mac_vectors: PRK", prk.hex(), m["hkdf"]["prk"])
    for k in m["keys"]:
        info, key = keys[k["label"]]
        eq("uplink mac_vectors: key info", info.hex(), k["info"], k["label"])
        eq("uplink mac_vectors: key", key.hex(), k["key"], k["label"])
    d = m["downward_tag"]
    mi = b"locker/v1/downward" + bank.to_bytes(4, "little") + bytes.fromhex(d["postcard_before_tag"])
    eq("uplink mac_vectors: downward tag input", mi.hex(), d["mac_input"])
    eq("uplink mac_vectors: downward tag", mac16(keys["locker/v1/downward"][1], mi).hex(), d["tag"])
    r = Reader(bytes.fromhex(d["postcard_before_tag"]))
    eq("uplink mac_vectors: downward tag message id", (r.byte(), r.varint(64)), (1, d["id"]))
    d = m["remote_open_tag"]
    mi, tag = remote_open_tag(keys, bank, d["incarnation"], d["compartment"], d["request_id"])
    eq("uplink mac_vectors: remote-open input", mi.hex(), d["mac_input"])
    eq("uplink mac_vectors: remote-open tag", tag.hex(), d["tag"])
    d = m["code_hash"]
    mi, h = code_hash(keys, bank, d["code"])
    eq("uplink mac_vectors: code hash input", mi.hex(), d["mac_input"])
    eq("uplink mac_vectors: code hash", h.hex(), d["hash"])
    d = m["offline_token"]
    signed = (bytes([d["version"]]) + bank.to_bytes(4, "little")
              + d["incarnation"].to_bytes(4, "little") + d["compartment"].to_bytes(2, "little")
              + d["parcel"].to_bytes(4, "little") + u64le(d["expires_at"]))
    eq("uplink mac_vectors: offline token signed bytes", signed.hex(), d["signed_bytes"])
    mi = b"locker/v1/offline-token" + signed
    eq("uplink mac_vectors: offline token input", mi.hex(), d["mac_input"])
    tag = mac16(keys["locker/v1/offline-token"][1], mi)
    eq("uplink mac_vectors: offline token tag", tag.hex(), d["tag"])
    eq("uplink mac_vectors: offline token (39 bytes)", (signed + tag).hex(), d["token"])
    eq("uplink mac_vectors: offline token length", len(signed + tag), 39)
    d = m["deposit_code"]
    mi = (b"locker/v1/deposit-code" + bank.to_bytes(4, "little")
          + d["incarnation"].to_bytes(4, "little") + d["compartment"].to_bytes(2, "little")
          + d["parcel"].to_bytes(4, "little"))
    eq("uplink mac_vectors: deposit code input", mi.hex(), d["mac_input"])
    tag = mac16(keys["locker/v1/deposit-code"][1], mi)
    eq("uplink mac_vectors: deposit code tag", tag.hex(), d["tag"])
    n = int.from_bytes(tag[:8], "little")
    eq("uplink mac_vectors: deposit code u64", n, d["first_8_bytes_le"])
    eq("uplink mac_vectors: deposit code", f"{n % 10**8:08d}", d["code"])
    return secret, bank, keys


def check_uplink():
    mv = json.load(open(os.path.join(UPLINK, "mac_vectors.json")))
    secret, bank, keys = check_mac_vectors(mv)
    names = sorted(f[: -len(".postcard.hex")] for f in os.listdir(UPLINK)
                   if f.endswith(".postcard.hex"))
    messages = {}
    for name in names:
        j = json.load(open(os.path.join(UPLINK, name + ".json")))
        pc = bytes.fromhex(open(os.path.join(UPLINK, name + ".postcard.hex")).read().strip())
        messages[name] = j
        down = "tag" in j
        body_type = "Downward" if down else "Upward"
        # the header and the body's variant: every message
        r = Reader(pc)
        v, mid = r.byte(), r.varint(64)
        eq("uplink: envelope v", v, j["v"], name)
        eq("uplink: envelope id", mid, j["id"], name)
        variant = r.varint(32)
        vname = UP_TYPES[body_type][1][variant][0] if variant < len(UP_TYPES[body_type][1]) else None
        jname = j["body"] if isinstance(j["body"], str) else next(iter(j["body"]))
        eq(f"uplink: body variant number and name ({body_type})", vname, jname, name)
        # the whole message, field by field
        r = Reader(pc)
        try:
            env = {"v": r.byte(), "id": r.varint(64), "body": read_uplink(body_type, r)}
            if down:
                env["tag"] = read_uplink("Tag", r)
            r.done()
        except BadBody as e:
            check(f"uplink: full decoding ({body_type})", False, f"{name}: {e}")
            continue
        eq(f"uplink: full decoding = JSON ({body_type})", env, j, name)
        again = bytes([j["v"]]) + varint_bytes(j["id"]) + write(UP_TYPES, body_type, j["body"])
        if down:
            again += write(UP_TYPES, "Tag", j["tag"])
        eq(f"uplink: postcard encoded from the JSON ({body_type})", again.hex(), pc.hex(), name)
        if down:
            eq("uplink: downward tag is the last 17 bytes", pc[-17], 0x10, name)
            mi = b"locker/v1/downward" + bank.to_bytes(4, "little") + pc[:-17]
            eq("uplink: downward tag recomputed", mac16(keys["locker/v1/downward"][1], mi).hex(),
               pc[-16:].hex(), name)
            b = j["body"]
            if isinstance(b, dict) and "remote_open" in b:
                ro = b["remote_open"]
                _, tag = remote_open_tag(keys, bank, ro["incarnation"], ro["compartment"],
                                         ro["request_id"])
                eq("uplink: remote-open tag recomputed", tag.hex(), ro["tag"], name)
            if isinstance(b, dict) and "announce_parcel" in b:
                cred = b["announce_parcel"]["credential"]
                if "code_hash" in cred:
                    _, h = code_hash(keys, bank, "271828")
                    eq("uplink: code hash of 271828 recomputed", h.hex(), cred["code_hash"], name)
    if "boot_notification" in messages and "layout" in messages:
        page = messages["layout"]["body"]["layout"]
        boot = messages["boot_notification"]["body"]["boot_notification"]
        eq("uplink: layout fingerprint (CRC-32C) recomputed",
           layout_fingerprint(page["compartments"]), boot["layout_fingerprint"])
    if "boot_notification" in messages and "boot_ack" in messages:
        # versioning.md section 4: the highest version in both sets (bit k-1 = version k).
        ours = messages["boot_notification"]["body"]["boot_notification"]["versions"]
        theirs = messages["boot_ack"]["body"]["boot_ack"]["versions"]
        eq("uplink: boot_ack agrees on the highest common version",
           agreed_version(ours, theirs), 1)
        eq("uplink: boot_ack acknowledges the boot notification",
           messages["boot_ack"]["body"]["boot_ack"]["boot"], messages["boot_notification"]["id"])
    eq("uplink: CRC-32C check value", crc32c(b"123456789"), 0xE3069283)
    eq("bus: CRC-16/MODBUS check value", crc16_modbus(b"123456789"), 0x4B37)


def agreed_version(ours, theirs):
    """The version two sides agree on (versioning.md section 4): the highest bit set
    in both one-byte sets, bit k-1 standing for version k; None when they share none."""
    common = ours & theirs & 0xFF
    return common.bit_length() or None


# ---------------------------------------------------------------- uplink JSON Schemas (schema/)


def schema_refs(node, found):
    """Every $ref in a schema document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                found.append(v)
            else:
                schema_refs(v, found)
    elif isinstance(node, list):
        for v in node:
            schema_refs(v, found)
    return found


def schema_messages(schema, body_type):
    """The body names a schema's body enum lists: "name" or {"name": ...}."""
    names = set()
    for alt in schema["$defs"][body_type]["oneOf"]:
        if "const" in alt:
            names.add(alt["const"])
        else:
            names.update(alt["properties"])
    return names


def check_uplink_schemas():
    """Reads spec/schema/ with the standard library: no validator here, the Rust test
    validates; this checks that the files are JSON Schema documents that stand alone
    and name exactly the messages of the golden files."""
    schemas = {}
    for body_type, file in (("Upward", "upward.schema.json"), ("Downward", "downward.schema.json")):
        try:
            with open(os.path.join(SCHEMA, file)) as f:
                schemas[body_type] = json.load(f)
        except (OSError, ValueError) as e:
            check("uplink schema: parses as JSON", False, f"{file}: {e}")
            continue
        s = schemas[body_type]
        check("uplink schema: parses as JSON", True)
        eq("uplink schema: draft 2020-12", s.get("$schema"),
           "https://json-schema.org/draft/2020-12/schema", file)
        eq("uplink schema: envelope members", sorted(s["properties"]),
           ["body", "id", "tag", "v"] if body_type == "Downward" else ["body", "id", "v"], file)
        eq("uplink schema: v is the protocol version", s["properties"]["v"].get("const"), 1, file)
        for ref in schema_refs(s, []):
            name = ref[len("#/$defs/"):]
            check("uplink schema: every $ref is a definition of the same file",
                  ref.startswith("#/$defs/") and name in s["$defs"], f"{file}: {ref}")
    if len(schemas) < 2:
        return
    seen = {"Upward": set(), "Downward": set()}
    for f in sorted(os.listdir(UPLINK)):
        if not f.endswith(".json") or f == "mac_vectors.json":
            continue
        j = json.load(open(os.path.join(UPLINK, f)))
        body_type = "Downward" if "tag" in j else "Upward"
        name = j["body"] if isinstance(j["body"], str) else next(iter(j["body"]))
        seen[body_type].add(name)
    for body_type, s in schemas.items():
        eq(f"uplink schema: messages named = messages of the golden files ({body_type})",
           sorted(schema_messages(s, body_type)), sorted(seen[body_type]))


def main():
    check_bus()
    check_uplink()
    check_uplink_schemas()
    width = max(len(k) for k in RESULTS)
    for k, (p, t) in RESULTS.items():
        print(f"{'ok  ' if p == t else 'FAIL'} {k:<{width}} {p}/{t}")
    for f in FAILURES[:50]:
        print("  mismatch:", f)
    print(f"{len(FAILURES)} mismatches" if FAILURES else "all checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
