"""Just enough of a FlatBuffers reader to find a TFLite model's metadata entries.

The runtime must not depend on TensorFlow or on the flatbuffers package to read the
contract, and parsing the whole schema would cost start-up time, so this reads only
``Model.metadata[i].name`` and ``Model.buffers[j].data`` with bounds checks.
A malformed file raises ``ModelError``; it never reads outside the buffer.
"""

from __future__ import annotations

import struct

from .errors import ModelError

TFLITE_IDENTIFIER = b"TFL3"
# Field slots in tflite's schema.fbs: table Model { version; operator_codes; subgraphs;
# description; buffers; metadata_buffer; metadata; signature_defs }.
_MODEL_BUFFERS = 4
_MODEL_METADATA = 6
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_MODEL_OPERATOR_CODES, _MODEL_SUBGRAPHS = 1, 2
_OPCODE_DEPRECATED, _OPCODE_VERSION, _OPCODE_BUILTIN = 0, 2, 3
_SUBGRAPH_TENSORS, _SUBGRAPH_OPERATORS = 0, 3
_OPERATOR_OPCODE_INDEX, _OPERATOR_INPUTS = 0, 1
_TENSOR_QUANTIZATION = 4
_QUANT_SCALE = 2
FULLY_CONNECTED = 9
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.size = len(data)

    def u32(self, pos: int) -> int:
        self._check(pos, 4)
        return struct.unpack_from("<I", self.data, pos)[0]

    def i32(self, pos: int) -> int:
        self._check(pos, 4)
        return struct.unpack_from("<i", self.data, pos)[0]

    def u16(self, pos: int) -> int:
        self._check(pos, 2)
        return struct.unpack_from("<H", self.data, pos)[0]

    def i8(self, pos: int) -> int:
        self._check(pos, 1)
        return struct.unpack_from("<b", self.data, pos)[0]

    def u64(self, pos: int) -> int:
        self._check(pos, 8)
        return struct.unpack_from("<Q", self.data, pos)[0]

    def _check(self, pos: int, length: int) -> None:
        if pos < 0 or pos + length > self.size:
            raise ModelError(
                f"expected a well-formed TFLite flatbuffer, got an offset {pos} outside its {self.size} bytes"
            )

    def field(self, table: int, slot: int) -> int | None:
        """Absolute position of a table field, or None when the field is absent."""
        vtable = table - self.i32(table)
        vt_size = self.u16(vtable)
        entry = 4 + 2 * slot
        if entry >= vt_size:
            return None
        rel = self.u16(vtable + entry)
        return table + rel if rel else None

    def indirect(self, pos: int) -> int:
        return pos + self.u32(pos)

    def vector(self, pos: int) -> tuple[int, int]:
        """(start, length) of the vector referenced at pos."""
        vec = self.indirect(pos)
        length = self.u32(vec)
        return vec + 4, length

    def string(self, pos: int) -> bytes:
        start, length = self.vector(pos)
        self._check(start, length)
        return bytes(self.data[start : start + length])


def is_tflite(data: bytes) -> bool:
    return len(data) >= 8 and bytes(data[4:8]) == TFLITE_IDENTIFIER


def read_metadata(data: bytes) -> dict[str, bytes]:
    """Map metadata name -> raw buffer bytes, for every entry of the model's metadata."""
    if not is_tflite(data):
        head = bytes(data[:8])
        raise ModelError(f"expected a TFLite model (file identifier 'TFL3'), got {len(data)} bytes starting {head!r}")
    r = _Reader(data)
    model = r.indirect(0)
    meta_field = r.field(model, _MODEL_METADATA)
    buffers_field = r.field(model, _MODEL_BUFFERS)
    if meta_field is None or buffers_field is None:
        return {}
    buf_start, buf_count = r.vector(buffers_field)
    meta_start, meta_count = r.vector(meta_field)
    found: dict[str, bytes] = {}
    for i in range(meta_count):
        entry = r.indirect(meta_start + 4 * i)
        name_pos = r.field(entry, _METADATA_NAME)
        index_pos = r.field(entry, _METADATA_BUFFER)
        if name_pos is None or index_pos is None:
            continue
        index = r.u32(index_pos)
        if index >= buf_count:
            raise ModelError(f"expected a metadata buffer index below {buf_count}, got {index}")
        name = r.string(name_pos).decode("utf-8", "replace")
        found[name] = _buffer_bytes(r, r.indirect(buf_start + 4 * index))
    return found


def _buffer_bytes(r: _Reader, buffer: int) -> bytes:
    data_pos = r.field(buffer, _BUFFER_DATA)
    if data_pos is not None:
        return r.string(data_pos)
    # Large models keep buffers after the flatbuffer, addressed by offset and size.
    off_pos, size_pos = r.field(buffer, _BUFFER_OFFSET), r.field(buffer, _BUFFER_SIZE)
    if off_pos is None or size_pos is None:
        return b""
    offset, size = r.u64(off_pos), r.u64(size_pos)
    r._check(offset, size)
    return bytes(r.data[offset : offset + size])


def _table_vector(r: _Reader, table: int, slot: int) -> list[int]:
    """Positions of the tables in a vector-of-tables field (empty when absent)."""
    pos = r.field(table, slot)
    if pos is None:
        return []
    start, count = r.vector(pos)
    if count > (r.size - start) // 4:
        raise ModelError(f"expected a vector that fits in the file, got {count} entries")
    return [r.indirect(start + 4 * i) for i in range(count)]


def operator_codes(data: bytes) -> list[tuple[int, int]]:
    """(builtin code, version) of every operator code of the model."""
    r = _Reader(data)
    model = r.indirect(0)
    codes = []
    for oc in _table_vector(r, model, _MODEL_OPERATOR_CODES):
        dep = r.field(oc, _OPCODE_DEPRECATED)
        new = r.field(oc, _OPCODE_BUILTIN)
        ver = r.field(oc, _OPCODE_VERSION)
        code = max(r.i8(dep) if dep is not None else 0, r.i32(new) if new is not None else 0)
        codes.append((code, r.i32(ver) if ver is not None else 1))
    return codes


def has_per_channel_fully_connected(data: bytes) -> bool:
    """True if a FULLY_CONNECTED op has a weight tensor quantized with more than one scale."""
    if not is_tflite(data):
        return False
    r = _Reader(data)
    model = r.indirect(0)
    codes = operator_codes(data)
    budget = 1_000_000  # operators visited at most: a crafted file must not make this loop forever
    for subgraph in _table_vector(r, model, _MODEL_SUBGRAPHS):
        tensors = _table_vector(r, subgraph, _SUBGRAPH_TENSORS)
        for op in _table_vector(r, subgraph, _SUBGRAPH_OPERATORS):
            budget -= 1
            if budget < 0:
                raise ModelError("expected at most 1,000,000 operators, got more")
            idx_pos = r.field(op, _OPERATOR_OPCODE_INDEX)
            index = r.u32(idx_pos) if idx_pos is not None else 0
            if index >= len(codes) or codes[index][0] != FULLY_CONNECTED:
                continue
            inputs_pos = r.field(op, _OPERATOR_INPUTS)
            if inputs_pos is None:
                continue
            start, count = r.vector(inputs_pos)
            if count < 2:
                continue
            weights = r.i32(start + 4)
            if not 0 <= weights < len(tensors):
                continue
            q = r.field(tensors[weights], _TENSOR_QUANTIZATION)
            if q is None:
                continue
            scale = r.field(r.indirect(q), _QUANT_SCALE)
            if scale is not None and r.vector(scale)[1] > 1:
                return True
    return False


def operator_count(data: bytes) -> int:
    """Number of operators in all subgraphs (a proxy for per-op interpreter overhead)."""
    r = _Reader(data)
    model = r.indirect(0)
    return sum(len(_table_vector(r, sg, _SUBGRAPH_OPERATORS)) for sg in _table_vector(r, model, _MODEL_SUBGRAPHS))
