package clv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/maphash"
)

// interner maps customer ids to dense indexes 0, 1, 2... in order of first
// appearance, and keeps each customer's running state in the same slot, so
// that a row costs one cache miss, not two. It is an open-addressing table
// over one byte arena: no pointers for the garbage collector to scan, no
// allocation per id, and ids of up to 8 bytes compare inside the slot
// without touching the arena. The hashes are computed by the parser
// goroutines, so the one goroutine that interns only probes.
type interner struct {
	seed  maphash.Seed
	slots []slot
	mask  uint64
	ids   []byte   // all ids, back to back
	ends  []uint32 // ends[i] is where id i ends in ids
}

// slot is one table entry (32 bytes, two per cache line); idx 0 marks it
// empty.
type slot struct {
	key uint64 // the id's first 8 bytes, zero-padded
	tag uint32 // hash bits and the id's length (capped at 255)
	idx uint32 // customer index + 1
	hlo uint32 // the hash's low bits, so growing never rehashes
	custState
}

var errTooManyIDs = errors.New("customer ids exceed 4 GiB in total: the data does not fit one process")

func newInterner(seed maphash.Seed) *interner {
	t := &interner{seed: seed}
	t.resize(1 << 12)
	return t
}

// hashID is what parsers compute for each id.
func hashID(seed maphash.Seed, id []byte) uint64 { return maphash.Bytes(seed, id) }

func slotKey(id []byte) uint64 {
	if len(id) >= 8 {
		return binary.LittleEndian.Uint64(id)
	}
	var b [8]byte
	copy(b[:], id)
	return binary.LittleEndian.Uint64(b[:])
}

func slotTag(h uint64, n int) uint32 { return uint32(h>>40)<<8 | uint32(min(n, 255)) }

// id returns customer i's id bytes.
func (t *interner) id(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = t.ends[i-1]
	}
	return t.ids[start:t.ends[i]]
}

// len is the number of distinct ids.
func (t *interner) len() int { return len(t.ends) }

// intern returns the slot of id, whose hash is h, adding it when new. The
// pointer is valid until the next call.
func (t *interner) intern(h uint64, id []byte) (*slot, error) {
	key, tag := slotKey(id), slotTag(h, len(id))
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.idx == 0 {
			return t.add(s, h, key, tag, id)
		}
		if s.tag == tag && s.key == key && (len(id) <= 8 || bytes.Equal(t.id(int(s.idx-1)), id)) {
			return s, nil
		}
	}
}

func (t *interner) add(s *slot, h, key uint64, tag uint32, id []byte) (*slot, error) {
	if uint64(len(t.ids))+uint64(len(id)) > 1<<32-1 || len(t.ends) >= 1<<31-1 {
		return nil, errTooManyIDs
	}
	t.ids = append(t.ids, id...)
	t.ends = append(t.ends, uint32(len(t.ids)))
	*s = slot{key: key, tag: tag, idx: uint32(len(t.ends)), hlo: uint32(h)}
	if 4*len(t.ends) <= 3*len(t.slots) { // keep the load under 3/4: probes stay within a cache line or two
		return s, nil
	}
	t.resize(2 * len(t.slots))
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		if t.slots[i].idx == s.idx {
			return &t.slots[i], nil
		}
	}
}

// resize moves every slot into a table of n (at most 2^32) slots.
func (t *interner) resize(n int) {
	old := t.slots
	t.slots = make([]slot, n)
	t.mask = uint64(n - 1)
	for _, s := range old {
		if s.idx == 0 {
			continue
		}
		i := uint64(s.hlo) & t.mask
		for t.slots[i].idx != 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = s
	}
}

// states returns every customer's state, indexed by customer, and drops the
// table.
func (t *interner) states() []custState {
	out := make([]custState, len(t.ends))
	for _, s := range t.slots {
		if s.idx != 0 {
			out[s.idx-1] = s.custState
		}
	}
	t.slots = nil
	return out
}

// strings returns every id as a string, all sharing one allocation.
func (t *interner) strings() []string {
	all := string(t.ids)
	out := make([]string, len(t.ends))
	start := uint32(0)
	for i, end := range t.ends {
		out[i] = all[start:end]
		start = end
	}
	return out
}
