package clv

import (
	"cmp"
	"errors"
	"hash/maphash"
	"math"
	"slices"
)

// entry is one customer-day: the day's net spend and a link to the
// customer's previous day. Entries live in fixed-size blocks (an arena
// without pointers, so the garbage collector never scans it, and growth
// never copies it). A customer's days form a list from the newest back, so
// adding a day writes only the new entry, never an old one.
type entry struct {
	spend float64
	day   int32
	link  uint32 // index of the customer's previous entry (0 = none) | buyBit
}

// buyBit marks a day with at least one row whose amount is not negative: a
// purchase day. Days that hold only returns lack it.
const buyBit = 1 << 31

const (
	blockBits = 16
	blockLen  = 1 << blockBits
	blockMask = blockLen - 1
	// maxEntries keeps entry indexes below buyBit.
	maxEntries = buyBit - 1
)

type block struct {
	e     [blockLen]entry
	qty   []float64 // per entry, when a quantity column is mapped
	extra []float64 // per entry, nExtra values each
}

// custState is where a customer's list ends. tailDay lets a row for the same
// day as the previous one merge without touching the arena.
type custState struct {
	tail    uint32
	tailDay int32
	n       uint32 // entries (distinct days, unless unsorted) | unsortedBit
}

// unsortedBit marks a customer one of whose days arrived after a later one:
// its days are sorted and merged at the end.
const unsortedBit = 1 << 31

func (c *custState) count() int     { return int(c.n &^ unsortedBit) }
func (c *custState) unsorted() bool { return c.n&unsortedBit != 0 }

// store interns customer ids and accumulates their days. It is owned by one
// goroutine, the one that consumes batches in file order.
type store struct {
	ids    *interner
	cust   []custState // filled from the table by done
	blocks []*block
	next   uint32 // next free entry; entry 0 is never used so 0 can mean "none"
	hasQty bool
	nExtra int

	minDay, maxDay int32
	amount, qty    float64 // totals over accepted rows
	transactions   int64
}

var errTooManyDays = errors.New("more than 2^31 customer-days: the data does not fit one process")

func newStore(seed maphash.Seed, hasQty bool, nExtra int) *store {
	return &store{ids: newInterner(seed), next: 1, hasQty: hasQty, nExtra: nExtra,
		minDay: math.MaxInt32, maxDay: math.MinInt32}
}

// at returns the entry at index i.
func (s *store) at(i uint32) *entry { return &s.blocks[i>>blockBits].e[i&blockMask] }

// alloc returns a fresh entry index, growing the arena a block at a time.
func (s *store) alloc() (uint32, error) {
	i := s.next
	if i >= maxEntries {
		return 0, errTooManyDays
	}
	if int(i>>blockBits) == len(s.blocks) {
		b := &block{}
		if s.hasQty {
			b.qty = make([]float64, blockLen)
		}
		if s.nExtra > 0 {
			b.extra = make([]float64, blockLen*s.nExtra)
		}
		s.blocks = append(s.blocks, b)
	}
	s.next++
	return i, nil
}

// add records one accepted row of the customer whose id is id, with hash h.
func (s *store) add(h uint64, id []byte, day int32, amount, qty float64, extra []float64) error {
	sl, err := s.ids.intern(h, id)
	if err != nil {
		return err
	}
	s.transactions++
	s.amount += amount
	s.qty += qty
	s.minDay = min(s.minDay, day)
	s.maxDay = max(s.maxDay, day)
	var buy uint32
	if amount >= 0 {
		buy = buyBit
	}
	c := &sl.custState
	if c.n > 0 && c.tailDay == day {
		e := s.at(c.tail)
		e.spend += amount
		e.link |= buy
		s.addExtras(c.tail, qty, extra)
		return nil
	}
	idx, err := s.alloc()
	if err != nil {
		return err
	}
	*s.at(idx) = entry{spend: amount, day: day, link: buy | c.tail}
	s.addExtras(idx, qty, extra)
	if c.n > 0 && day < c.tailDay {
		c.n |= unsortedBit
	}
	c.tail, c.tailDay = idx, day
	c.n++
	return nil
}

// register records the customer whose id is id, with hash h, without a
// row: one whose rows all lie after the cutoff is so known to have bought,
// and is counted as left out (it has no days, so no features).
func (s *store) register(h uint64, id []byte) error {
	_, err := s.ids.intern(h, id)
	return err
}

// done ends the adding: customer states move out of the table, indexed by
// customer.
func (s *store) done() { s.cust = s.ids.states() }

func (s *store) addExtras(idx uint32, qty float64, extra []float64) {
	b := s.blocks[idx>>blockBits]
	j := int(idx & blockMask)
	if s.hasQty {
		b.qty[j] += qty
	}
	if s.nExtra > 0 {
		dst := b.extra[j*s.nExtra : (j+1)*s.nExtra]
		for k, v := range extra {
			dst[k] += v
		}
	}
}

// dayRec is one merged customer-day as features see it.
type dayRec struct {
	day   int32
	buy   bool
	spend float64
	qty   float64
	extra int // offset of this day's extras in the gather buffer
}

// gatherWidth is how many customers' lists gather walks at once. The
// lists of customers who bought on interleaved dates are scattered over the
// arena; walking several in lockstep keeps that many independent memory
// loads in flight instead of one dependent chain.
const gatherWidth = 8

// gatherer holds one worker's buffers for gather.
type gatherer struct {
	recs [gatherWidth][]dayRec
	ex   [gatherWidth][]float64
}

// gather collects the days of customers cis (at most gatherWidth) into
// g.recs[j], sorted by day with same-day entries merged, and their extras
// into g.ex[j].
func (s *store) gather(cis []int32, g *gatherer) {
	var cur [gatherWidth]uint32
	var k [gatherWidth]int
	for j, ci := range cis {
		c := &s.cust[ci]
		n := c.count()
		g.recs[j] = slices.Grow(g.recs[j][:0], n)[:n]
		g.ex[j] = slices.Grow(g.ex[j][:0], n*s.nExtra)[:n*s.nExtra]
		cur[j], k[j] = c.tail, n-1 // the list runs newest first
	}
	for active := true; active; {
		active = false
		for j := range cis {
			if k[j] < 0 {
				continue
			}
			active = true
			i := cur[j]
			b := s.blocks[i>>blockBits]
			jj := int(i & blockMask)
			e := &b.e[jj]
			r := dayRec{day: e.day, buy: e.link&buyBit != 0, spend: e.spend, extra: k[j] * s.nExtra}
			if s.hasQty {
				r.qty = b.qty[jj]
			}
			if s.nExtra > 0 {
				copy(g.ex[j][r.extra:r.extra+s.nExtra], b.extra[jj*s.nExtra:(jj+1)*s.nExtra])
			}
			g.recs[j][k[j]] = r
			cur[j] = e.link &^ buyBit
			k[j]--
		}
	}
	for j, ci := range cis {
		if s.cust[ci].unsorted() {
			g.recs[j] = s.mergeDays(g.recs[j], g.ex[j])
		}
	}
}

// mergeDays sorts recs by day and merges the entries of one day.
func (s *store) mergeDays(recs []dayRec, ex []float64) []dayRec {
	sortRecs(recs)
	out := recs[:1]
	for _, r := range recs[1:] {
		last := &out[len(out)-1]
		if r.day != last.day {
			out = append(out, r)
			continue
		}
		last.spend += r.spend
		last.qty += r.qty
		last.buy = last.buy || r.buy
		for k := 0; k < s.nExtra; k++ {
			ex[last.extra+k] += ex[r.extra+k]
		}
	}
	return out
}

// sortRecs sorts by day, keeping arrival order among equal days so float
// sums come out the same on every run.
func sortRecs(recs []dayRec) {
	slices.SortStableFunc(recs, func(a, b dayRec) int { return cmp.Compare(a.day, b.day) })
}
