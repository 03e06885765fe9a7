"""sockchat frames for Python tests: the 16-byte header (PROTOCOL.md,
"Frame header") and whole-frame reads from a blocking socket."""
import struct

HEADER = struct.Struct(">2sBBBBHII")  # magic, version, kind, type, status, reserved, id, length
REQUEST, RESPONSE, INDICATION = 1, 2, 3
PING = 5
HELLO, SHUTDOWN, ERROR = 64, 67, 68


def frame(kind, mtype, frame_id=0, payload=b"", status=0, length=None):
    """One frame's bytes.  `length` replaces the payload's length in the
    header, for tests that send a frame lying about its size."""
    n = len(payload) if length is None else length
    return HEADER.pack(b"SC", 1, kind, mtype, status, 0, frame_id, n) + payload


def recv_exact(sock, n):
    """n bytes from sock; ConnectionError when the peer closes first."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def read_frame(sock):
    """The next frame as (kind, type, status, id, payload)."""
    magic, version, kind, mtype, status, _res, frame_id, length = HEADER.unpack(recv_exact(sock, HEADER.size))
    if magic != b"SC" or version != 1:
        raise ValueError(f"not a sockchat v1 header: magic {magic!r} version {version}")
    return kind, mtype, status, frame_id, recv_exact(sock, length)
