"""postcard's encoding of the primitive types the protocol uses, and nothing more.

Integers wider than a byte are LEB128 varints (signed ones zigzagged first), ``u8`` is one
raw byte, a ``bool`` one byte that must be 0 or 1, byte strings and sequences a varint
count then their items, an ``Option`` a 0/1 byte, and an enum its variant index as a
varint. The reader checks every count against what is left of the message before it
slices or loops, so a hostile count costs nothing.
"""

_MAX_BITS = {32: 5, 64: 10}


class DecodeError(ValueError):
    """A message that is not a valid encoding of what the protocol says comes next."""


class Writer:
    """Appends encoded values to a buffer."""

    def __init__(self):
        self.buf = bytearray()

    def u8(self, value):
        _check_range(value, 0, 0xFF, "u8")
        self.buf.append(value)

    def varint(self, value, bits):
        if type(value) is int and 0 <= value < 0x80:
            # The common case (a path's length, a tag), without the range check's cost.
            self.buf.append(value)
            return
        _check_range(value, 0, (1 << bits) - 1, "u%d" % bits)
        while value >= 0x80:
            self.buf.append((value & 0x7F) | 0x80)
            value >>= 7
        self.buf.append(value)

    def u32(self, value):
        self.varint(value, 32)

    def i32(self, value):
        _check_range(value, -(1 << 31), (1 << 31) - 1, "i32")
        self.varint(((value << 1) ^ (value >> 31)) & 0xFFFFFFFF, 32)

    def u64(self, value):
        self.varint(value, 64)

    def tag(self, index):
        self.u32(index)

    def length(self, count):
        self.varint(count, 64)

    def bytes(self, data):
        self.length(len(data))
        self.buf += data


class Reader:
    """Reads encoded values from one message, never past its end."""

    def __init__(self, data):
        self._data = bytes(data)
        self._pos = 0

    def remaining(self):
        return len(self._data) - self._pos

    def data_from(self):
        """The message and the position of the next byte, for a decoder's fast path,
        which must :meth:`seek` past what it read."""
        return self._data, self._pos

    def seek(self, pos):
        if not self._pos <= pos <= len(self._data):
            raise DecodeError("a read past the end of the message")
        self._pos = pos

    def u8(self):
        if self._pos >= len(self._data):
            raise DecodeError("the message ends early")
        value = self._data[self._pos]
        self._pos += 1
        return value

    def varint(self, bits):
        pos = self._pos
        if pos < len(self._data) and self._data[pos] < 0x80:
            # The common case (a tag, a kind, a short length), in one step.
            self._pos = pos + 1
            return self._data[pos]
        value = 0
        for i in range(_MAX_BITS[bits]):
            byte = self.u8()
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if value >> bits:
                    raise DecodeError("a varint overflows u%d" % bits)
                return value
        raise DecodeError("a varint longer than u%d allows" % bits)

    def u32(self):
        return self.varint(32)

    def i32(self):
        raw = self.varint(32)
        return (raw >> 1) ^ -(raw & 1)

    def u64(self):
        return self.varint(64)

    def bool(self):
        byte = self.u8()
        if byte > 1:
            raise DecodeError("a bool is 0x%02x" % byte)
        return byte == 1

    def tag(self, count, what):
        index = self.u32()
        if index >= count:
            raise DecodeError("unknown %s tag %d" % (what, index))
        return index

    def option(self):
        """True if an ``Option``'s value follows (``Some``)."""
        return self.tag(2, "Option") == 1

    def length(self, limit, what):
        """A count of items or bytes, at most ``limit``."""
        count = self.varint(64)
        if count > limit:
            raise DecodeError("%s of %d, over the limit of %d" % (what, count, limit))
        return count

    def bytes(self, limit, what):
        count = self.length(limit, what)
        if count > self.remaining():
            raise DecodeError("%s of %d bytes in the %d bytes left" % (what, count, self.remaining()))
        data = self._data[self._pos : self._pos + count]
        self._pos += count
        return data

    def str(self, limit, what):
        data = self.bytes(limit, what)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError("%s is not UTF-8: %s" % (what, e)) from None

    def end(self):
        if self.remaining():
            raise DecodeError("%d bytes after the end of the message" % self.remaining())


def _check_range(value, low, high, what):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError("%r is not a %s" % (value, what))
