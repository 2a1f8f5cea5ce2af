package clv

import (
	"encoding/base64"
	"encoding/binary"
)

// arrowSchemaKey is the Parquet key-value metadata entry where pyarrow (and
// pandas through it, and arrow-rs, and DuckDB when asked) keep the Arrow
// schema of the table: base64 of an Arrow IPC Schema message. Parquet's own
// TIMESTAMP type says only whether a value is an instant (adjusted to UTC);
// the time zone a pandas column was localised to lives only here.
const arrowSchemaKey = "ARROW:schema"

// arrowTimeZones returns the time zone of every top-level timestamp field
// of the Arrow schema in meta (the ARROW:schema value) that has one, by
// field name. It returns nil for anything it cannot read: the schema is a
// hint, and a file without a readable one is read as before.
//
// It reads just enough of the FlatBuffers encoding of Message -> Schema ->
// [Field] -> Timestamp (format/Message.fbs and format/Schema.fbs of Apache
// Arrow), with every offset checked against the buffer.
func arrowTimeZones(meta string) map[string]string {
	buf, err := base64.StdEncoding.DecodeString(meta)
	if err != nil {
		if buf, err = base64.RawStdEncoding.DecodeString(meta); err != nil {
			return nil
		}
	}
	// The IPC framing: 0xFFFFFFFF (since Arrow 0.15), then the metadata
	// length, then the FlatBuffer; older writers omit the 0xFFFFFFFF.
	if len(buf) >= 8 && binary.LittleEndian.Uint32(buf) == 0xFFFFFFFF {
		buf = buf[4:]
	}
	if len(buf) < 4 {
		return nil
	}
	if n := binary.LittleEndian.Uint32(buf); n > 0 && uint64(n) <= uint64(len(buf)-4) {
		buf = buf[4 : 4+n]
	}
	fb := flatBuf(buf)
	msg, ok := fb.root()
	if !ok {
		return nil
	}
	const headerSchema = 1 // MessageHeader.Schema
	if ht, ok := fb.uint8Field(msg, 1); !ok || ht != headerSchema {
		return nil
	}
	schema, ok := fb.tableField(msg, 2)
	if !ok {
		return nil
	}
	n, at, ok := fb.vectorField(schema, 1)
	if !ok {
		return nil
	}
	const typeTimestamp = 10 // Type.Timestamp
	var zones map[string]string
	for i := range n {
		field, ok := fb.indirect(at + 4*i)
		if !ok {
			return zones
		}
		name, ok := fb.stringField(field, 0)
		if !ok {
			continue
		}
		if tt, ok := fb.uint8Field(field, 2); !ok || tt != typeTimestamp {
			continue
		}
		ts, ok := fb.tableField(field, 3)
		if !ok {
			continue
		}
		if tz, ok := fb.stringField(ts, 1); ok && tz != "" {
			if zones == nil {
				zones = make(map[string]string)
			}
			zones[name] = tz
		}
	}
	return zones
}

// flatBuf reads FlatBuffers tables with bounds checks: every accessor
// reports false rather than panicking on a short or corrupt buffer.
type flatBuf []byte

// u32 reads the little-endian uint32 at off.
func (b flatBuf) u32(off int) (int, bool) {
	if off < 0 || off > len(b)-4 {
		return 0, false
	}
	return int(binary.LittleEndian.Uint32(b[off:])), true
}

// indirect follows the uoffset at off (relative to off itself).
func (b flatBuf) indirect(off int) (int, bool) {
	rel, ok := b.u32(off)
	if !ok || rel == 0 || off+rel > len(b)-4 {
		return 0, false
	}
	return off + rel, true
}

// root is the root table.
func (b flatBuf) root() (int, bool) { return b.indirect(0) }

// field returns the position of field id of the table at t, or false
// when the table lacks it (or is corrupt).
func (b flatBuf) field(t, id int) (int, bool) {
	so, ok := b.u32(t)
	if !ok {
		return 0, false
	}
	vt := t - int(int32(uint32(so)))
	if vt < 0 || vt > len(b)-4 {
		return 0, false
	}
	vtLen := int(binary.LittleEndian.Uint16(b[vt:]))
	slot := 4 + 2*id
	if slot+2 > vtLen || vt+slot+2 > len(b) {
		return 0, false
	}
	fo := int(binary.LittleEndian.Uint16(b[vt+slot:]))
	if fo == 0 || t+fo >= len(b) {
		return 0, false
	}
	return t + fo, true
}

func (b flatBuf) uint8Field(t, id int) (uint8, bool) {
	p, ok := b.field(t, id)
	if !ok {
		return 0, false
	}
	return b[p], true
}

func (b flatBuf) tableField(t, id int) (int, bool) {
	p, ok := b.field(t, id)
	if !ok {
		return 0, false
	}
	return b.indirect(p)
}

// vectorField returns the length of the vector in field id of table t and
// the position of its first element.
func (b flatBuf) vectorField(t, id int) (n, at int, ok bool) {
	v, ok := b.tableField(t, id)
	if !ok {
		return 0, 0, false
	}
	n, ok = b.u32(v)
	if !ok || n > (len(b)-v-4)/4 {
		return 0, 0, false
	}
	return n, v + 4, true
}

func (b flatBuf) stringField(t, id int) (string, bool) {
	s, ok := b.tableField(t, id)
	if !ok {
		return "", false
	}
	n, ok := b.u32(s)
	if !ok || n > len(b)-s-4 {
		return "", false
	}
	return string(b[s+4 : s+4+n]), true
}
