"""Values and messages between reval's judge and the candidate it calls (graders/code; one file, copied into both
sandboxed runs).

A message is a 4-byte big-endian length and a UTF-8 JSON document. Values are JSON, with tagged one-key objects for
what JSON lacks: {"$tuple": [...]}, {"$set": [...]}, {"$frozenset": [...]}, {"$dict": [[key, value], ...]},
{"$int": "0x..."} (beyond 64 bits), {"$float": "nan" | "inf" | "-inf"}, {"$bytes": "hex"}, {"$complex": [re, im]}.
Every dict travels as $dict, so a bare JSON object is never a value. Decoding builds builtins only — never an object
of the sender's making — so a value's == is Python's own; nothing is pickled. The receiver bounds message sizes.
"""
import json
import math
import os
import select
import struct
import time

MAX_DEPTH = 200


class Gone(Exception):
    """The other side closed its end (it exited or was killed)."""


class BadMessage(Exception):
    """The other side sent something that is not a well-formed message."""


class TooLarge(BadMessage):
    """A message (or all of them together) over the receiver's limit."""


class Timeout(Exception):
    """No message within the wall-clock time allowed."""


class Unsupported(Exception):
    """A value of a type the codec does not carry."""


def encode(v, depth=0):
    if depth > MAX_DEPTH:
        raise Unsupported('a value nested deeper than %d levels' % MAX_DEPTH)
    if v is None or v is True or v is False:
        return v
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        v = int(v)
        return v if -(1 << 63) <= v < (1 << 63) else {'$int': hex(v)}
    if isinstance(v, float):
        v = float(v)
        return v if math.isfinite(v) else {'$float': repr(v)}
    if isinstance(v, str):
        return str(v)
    d = depth + 1
    if isinstance(v, list):
        return [encode(x, d) for x in v]
    if isinstance(v, tuple):
        return {'$tuple': [encode(x, d) for x in v]}
    if isinstance(v, frozenset):
        return {'$frozenset': [encode(x, d) for x in v]}
    if isinstance(v, set):
        return {'$set': [encode(x, d) for x in v]}
    if isinstance(v, dict):
        return {'$dict': [[encode(k, d), encode(x, d)] for k, x in v.items()]}
    if isinstance(v, (bytes, bytearray)):
        return {'$bytes': bytes(v).hex()}
    if isinstance(v, complex):
        return {'$complex': [encode(v.real, d), encode(v.imag, d)]}
    raise Unsupported(type(v).__name__)


def _tagged(obj):
    if len(obj) != 1:
        raise BadMessage('an object that is not a tagged value')
    (tag, x), = obj.items()
    if tag == '$tuple' and type(x) is list:
        return tuple(x)
    if tag == '$set' and type(x) is list:
        return set(x)
    if tag == '$frozenset' and type(x) is list:
        return frozenset(x)
    if tag == '$dict' and type(x) is list:
        out = {}
        for pair in x:
            if type(pair) is not list or len(pair) != 2:
                raise BadMessage('a $dict entry that is not a [key, value] pair')
            out[pair[0]] = pair[1]
        return out
    if tag == '$int' and type(x) is str and len(x) <= (1 << 20):
        return int(x, 16)
    if tag == '$float' and x in ('nan', 'inf', '-inf'):
        return float(x)
    if tag == '$bytes' and type(x) is str:
        return bytes.fromhex(x)
    if tag == '$complex' and type(x) is list and len(x) == 2 and all(type(c) in (int, float) for c in x):
        return complex(x[0], x[1])
    raise BadMessage('an unknown tagged value %r' % tag[:40])


def decode_message(data):
    """The message in `data` (bytes) as plain Python values; BadMessage for anything else."""
    try:
        return json.loads(data.decode('utf-8'), object_hook=_tagged)
    except BadMessage:
        raise
    except (ValueError, TypeError, RecursionError, MemoryError, UnicodeDecodeError) as e:
        raise BadMessage('%s: %s' % (type(e).__name__, str(e)[:200]))


class Channel:
    """Length-prefixed messages on a stream socket (fd 3 in both runs)."""

    def __init__(self, fd, max_message=1 << 30, max_total=1 << 62):
        self.fd = fd
        self.max_message = max_message
        self.max_total = max_total
        self.received = 0

    def send(self, message):
        data = json.dumps(message, separators=(',', ':'), allow_nan=False).encode('utf-8')
        buf = memoryview(struct.pack('>I', len(data)) + data)
        try:
            while buf:
                n = os.write(self.fd, buf)
                buf = buf[n:]
        except OSError as e:
            raise Gone(str(e))

    def _read(self, n, deadline, first):
        chunks = []
        while n > 0:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    raise Timeout()
            try:
                chunk = os.read(self.fd, min(n, 1 << 20))
            except OSError as e:
                raise Gone(str(e))
            if not chunk:
                if first and not chunks:
                    raise Gone('end of file')
                raise Gone('end of file inside a message')
            chunks.append(chunk)
            n -= len(chunk)
        return b''.join(chunks)

    def recv(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        (length,) = struct.unpack('>I', self._read(4, deadline, True))
        if length > self.max_message:
            raise TooLarge('a message of %d bytes (at most %d)' % (length, self.max_message))
        if self.received + length > self.max_total:
            raise TooLarge('more than %d bytes in all' % self.max_total)
        self.received += length + 4
        return decode_message(self._read(length, deadline, False))

    def close(self):
        try:
            os.close(self.fd)
        except OSError:
            pass
