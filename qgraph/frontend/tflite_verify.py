"""The flatbuffer layer of a .tflite check: every table, vector and string the reader will touch
lies inside the file, before the schema's object API reads it.

The flatbuffers Python accessors check nothing themselves: an offset past the end raises a
`struct.error` or `ValueError` from deep inside, and a vtable offset that points before the
start of the file wraps around silently (Python's negative indexing) and reads garbage. This
is the check LiteRT's C++ `Verifier` does, for the tables of the TFLite schema that qgraph
reads; other tables (builtin options, custom quantization, external buffer groups) get the
table-level check (vtable and inline fields inside the file), and the object API's own reads
of their vectors are bounded by Python. A failure names the first field at fault by its path
in the schema, e.g. `subgraphs[0].tensors[12].shape`.
"""

from __future__ import annotations

import struct


class Damaged(Exception):  # noqa: N818 - a state, not an action: "the file is damaged: ..."
    """The file's content is inconsistent; the reader names the file and re-raises this as a
    `ModelFileError`."""


#: Each table's fields in schema order (the vtable's order), as "name:kind": kind is a scalar's
#: size in bytes, `str`, `[n]` a vector of n-byte scalars, `[Table]` a vector of tables, `Table`
#: one table, `*` any table (only its layout is checked), `I` a SparseIndexVector table whose
#: type is the field before. tests/reliability/test_fuzz_reader.py compares this with the schema.
FIELDS = {
    "Model": "version:4 operator_codes:[OperatorCode] subgraphs:[SubGraph] description:str "
    "buffers:[Buffer] metadata_buffer:[4] metadata:[Metadata] signature_defs:[SignatureDef] "
    "external_buffer_groups:[*] external_buffers:[*]",
    "OperatorCode": "deprecated_builtin_code:1 custom_code:str version:4 builtin_code:4",
    "SubGraph": "tensors:[Tensor] inputs:[4] outputs:[4] operators:[Operator] name:str debug_metadata_index:4",
    "Tensor": "shape:[4] type:1 buffer:4 name:str quantization:QuantizationParameters is_variable:1 "
    "sparsity:SparsityParameters shape_signature:[4] has_rank:1 variant_tensors:[*] external_buffer:4",
    "Operator": "opcode_index:4 inputs:[4] outputs:[4] builtin_options_type:1 builtin_options:* "
    "custom_options:[1] custom_options_format:1 mutating_variable_inputs:[1] intermediates:[4] "
    "large_custom_options_offset:8 large_custom_options_size:8 builtin_options_2_type:1 "
    "builtin_options_2:* debug_metadata_index:4",
    "Buffer": "data:[1] offset:8 size:8",
    "QuantizationParameters": "min:[4] max:[4] scale:[4] zero_point:[8] details_type:1 details:* "
    "quantized_dimension:4",
    "SparsityParameters": "traversal_order:[4] block_map:[4] dim_metadata:[DimensionMetadata]",
    "DimensionMetadata": "format:1 dense_size:4 array_segments_type:1 array_segments:I "
    "array_indices_type:1 array_indices:I",
    "Metadata": "name:str buffer:4",
    "SignatureDef": "inputs:[TensorMap] outputs:[TensorMap] signature_key:str deprecated_tag:1 subgraph_index:4",
    "TensorMap": "name:str tensor_index:4",
    "Int32Vector": "values:[4]",
    "Uint16Vector": "values:[2]",
    "Uint8Vector": "values:[1]",
}
_LAYOUT = {table: [f.split(":") for f in spec.split()] for table, spec in FIELDS.items()}
#: SparseIndexVector's union members, by type code.
_INDEX_VECTORS = {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"}


def verify(data: bytes) -> None:
    """Raise `Damaged` at the first table, vector or string of `data` (a .tflite whose file
    identifier has been checked) that does not lie inside it."""
    v = _Verifier(data)
    v.table(v.uoffset(0, "the root offset"), "Model", "model")


class _Verifier:
    def __init__(self, data: bytes) -> None:
        self.data, self.size = data, len(data)
        # A table takes at least 4 bytes of its own: more visits than that means shared or looping offsets.
        self.budget = self.size // 4 + 16

    def need(self, pos: int, n: int, what: str) -> None:
        if pos < 0:
            raise Damaged(f"{what} at byte {pos} lies before the start of the file")
        if pos + n > self.size:
            raise Damaged(
                f"{what} at byte {pos} ({n} bytes) runs past the end of the file ({self.size} bytes; "
                "truncated?)"
            )

    def u16(self, pos: int, what: str) -> int:
        self.need(pos, 2, what)
        return struct.unpack_from("<H", self.data, pos)[0]

    def u32(self, pos: int, what: str) -> int:
        self.need(pos, 4, what)
        return struct.unpack_from("<I", self.data, pos)[0]

    def uoffset(self, pos: int, what: str) -> int:
        """The position an offset field at `pos` points to."""
        return pos + self.u32(pos, what)

    def table(self, pos: int, kind: str, path: str) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise Damaged(f"{path}: the file's offsets visit more tables than it can hold (they loop)")
        if pos % 4:
            raise Damaged(f"{path}: table at byte {pos} is not 4-byte aligned")
        self.need(pos, 4, f"{path}: table")
        vtable = pos - struct.unpack_from("<i", self.data, pos)[0]
        if vtable % 2:
            raise Damaged(f"{path}: its vtable at byte {vtable} is not 2-byte aligned")
        vt_size, obj_size = self.u16(vtable, f"{path}: vtable"), self.u16(vtable + 2, f"{path}: vtable")
        if vt_size < 4 or vt_size % 2 or obj_size < 4:
            raise Damaged(f"{path}: its vtable is malformed (size {vt_size}, table size {obj_size})")
        self.need(vtable, vt_size, f"{path}: vtable")
        self.need(pos, obj_size, f"{path}: table")
        layout = _LAYOUT.get(kind, [])
        for i in range((vt_size - 4) // 2):
            offset = struct.unpack_from("<H", self.data, vtable + 4 + 2 * i)[0]
            if not offset:
                continue
            name, field = layout[i] if i < len(layout) else (f"field {i}", "1")
            size = int(field) if field.isdigit() else 4
            if offset + size > obj_size:
                raise Damaged(f"{path}.{name}: lies outside its table ({offset} + {size} > {obj_size} bytes)")
            if field == "I":  # the member's type is the field before: an unknown one reads as None
                type_at = struct.unpack_from("<H", self.data, vtable + 2 + 2 * i)[0] if i else 0
                field = _INDEX_VECTORS.get(self.data[pos + type_at] if type_at else 0, "")
            if field and not field.isdigit():
                self.reference(pos + offset, field, f"{path}.{name}")

    def reference(self, at: int, field: str, path: str) -> None:
        """The string, vector or table the offset field at `at` points to."""
        target = self.uoffset(at, path)
        if field == "str":
            n = self.vector(target, 1, path, extra=1)
            if self.data[target + 4 + n] != 0:
                raise Damaged(f"{path}: string is not zero-terminated")
        elif field[0] == "[" and field[1:-1].isdigit():
            self.vector(target, int(field[1:-1]), path)
        elif field[0] == "[":
            n = self.vector(target, 4, path)
            for j in range(n):
                self.table(self.uoffset(target + 4 + 4 * j, f"{path}[{j}]"), field[1:-1], f"{path}[{j}]")
        else:
            self.table(target, field, path)

    def vector(self, pos: int, item: int, path: str, extra: int = 0) -> int:
        if pos % 4:
            raise Damaged(f"{path}: vector at byte {pos} is not 4-byte aligned")
        n = self.u32(pos, f"{path}: vector length")
        self.need(pos + 4, n * item + extra, f"{path}: {n} x {item}-byte vector")
        return n
