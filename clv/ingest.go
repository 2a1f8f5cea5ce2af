package clv

import (
	"bytes"
	"context"
	"errors"
	"hash/maphash"
)

// batch is a run of parsed rows in file order: the unit that moves from the
// parsers to the one goroutine that owns the store. Batches are recycled.
type batch struct {
	seq    int
	last   bool  // no batch follows
	lines  int64 // lines (CSV) or rows (Parquet) this batch covers
	n      int   // good records
	ids    []byte
	idEnd  []int32  // record i's id is ids[idEnd[i-1]:idEnd[i]]
	hash   []uint64 // record i's id hash (hashID), computed off the consumer's goroutine
	day    []int32
	amount []float64
	qty    []float64 // when a quantity column is mapped
	extra  []float64 // n*nExtra, when extras are mapped
	bad    []badRow
	err    error // read error after the records (I/O, corrupt gzip)

	// The ids of rows dated after the cutoff, with their hashes: the rows
	// are ignored, but their customers are registered, so that those who
	// first bought after the calibration end are counted as left out.
	late     []byte
	lateEnd  []int32
	lateHash []uint64

	// The currencies the amounts were written in (money.go): the
	// first, and the first other one after it. With the batch's place in
	// the file that is all the consumer needs to find the first amount in
	// a second currency.
	cur     [2]seenCurrency
	curRows int64 // amounts written with a currency

	rows         int64 // data rows seen, good or bad
	negatives    int64 // rows with a negative amount, netted or dropped
	dropped      int64 // negative rows dropped (DropNegative)
	afterHoldout int64 // rows after the holdout end, ignored
}

func (b *batch) reset(seq int) {
	*b = batch{seq: seq, ids: b.ids[:0], idEnd: b.idEnd[:0], hash: b.hash[:0], day: b.day[:0], amount: b.amount[:0],
		qty: b.qty[:0], extra: b.extra[:0], bad: b.bad[:0], late: b.late[:0], lateEnd: b.lateEnd[:0], lateHash: b.lateHash[:0]}
}

// addLate records the id of a row dated after the cutoff. A run of rows of
// one customer (a log sorted by customer) is recorded once.
func (b *batch) addLate(id []byte, seed maphash.Seed) {
	if n := len(b.lateEnd); n > 0 {
		start := int32(0)
		if n > 1 {
			start = b.lateEnd[n-2]
		}
		if bytes.Equal(b.late[start:], id) {
			return
		}
	}
	b.late = append(b.late, id...)
	b.lateEnd = append(b.lateEnd, int32(len(b.late)))
	b.lateHash = append(b.lateHash, hashID(seed, id))
}

// addBad records a bad row found before record b.n.
func (b *batch) addBad(line int64, r Reason, col, msg string) {
	b.bad = append(b.bad, badRow{at: b.n, line: line, reason: r, col: col, msg: msg})
}

// consumer applies batches to the store in file order and keeps the report's
// row counts.
type consumer struct {
	st      *store
	file    string
	parquet bool
	skip    bool
	nExtra  int

	amountCol string // the amount column as errors name it

	base         int64 // lines before the current batch
	rows         int64
	bad          map[Reason]int64
	examples     []BadRow
	negatives    int64
	dropped      int64
	afterHoldout int64
	cur          seenCurrency // the first currency of the file, its line absolute
	curRows      int64
}

func (c *consumer) consume(b *batch) error {
	// An amount in a second currency stops the load where it is in the
	// file: after the bad rows before it, before those after it. The
	// records around it need no such care: the store is dropped.
	mixed := c.currencies(b)
	bi, start := 0, int32(0)
	for i := 0; i < b.n; i++ {
		for bi < len(b.bad) && b.bad[bi].at == i {
			if mixed != nil && b.bad[bi].line > mixed.line {
				return c.mixedCurrency(mixed)
			}
			if err := c.badRow(&b.bad[bi]); err != nil {
				return err
			}
			bi++
		}
		end := b.idEnd[i]
		id := b.ids[start:end]
		start = end
		var qty float64
		if c.st.hasQty {
			qty = b.qty[i]
		}
		var extra []float64
		if c.nExtra > 0 {
			extra = b.extra[i*c.nExtra : (i+1)*c.nExtra]
		}
		if err := c.st.add(b.hash[i], id, b.day[i], b.amount[i], qty, extra); err != nil {
			return err
		}
	}
	for ; bi < len(b.bad); bi++ {
		if mixed != nil && b.bad[bi].line > mixed.line {
			return c.mixedCurrency(mixed)
		}
		if err := c.badRow(&b.bad[bi]); err != nil {
			return err
		}
	}
	if mixed != nil {
		return c.mixedCurrency(mixed)
	}
	start = 0
	for i, end := range b.lateEnd {
		if err := c.st.register(b.lateHash[i], b.late[start:end]); err != nil {
			return err
		}
		start = end
	}
	c.base += b.lines
	c.rows += b.rows
	c.negatives += b.negatives
	c.dropped += b.dropped
	c.afterHoldout += b.afterHoldout
	return b.err
}

// badRow stops the load at a bad row, or counts it when skipping.
func (c *consumer) badRow(br *badRow) error {
	e := &RowError{File: c.file, Line: c.base + br.line, Parquet: c.parquet, Column: br.col, Reason: br.reason, Msg: br.msg}
	if !c.skip {
		return e
	}
	if c.bad == nil {
		c.bad = make(map[Reason]int64)
	}
	c.bad[br.reason]++
	if len(c.examples) < maxBadExamples {
		c.examples = append(c.examples, BadRow{Line: e.Line, Reason: e.Reason, Error: e.Error()})
	}
	return nil
}

// errIncomplete means the producers stopped without their last batch and
// without a cancelled context: a bug, not bad input.
var errIncomplete = errors.New("internal error: reading stopped early")

// pipeline runs produce, which sends numbered batches taken from free to
// out in any order and returns when it is done, and consumes them in order.
// The first error stops everything; every goroutine has returned when
// pipeline does.
func pipeline(ctx context.Context, nbatch int, produce func(ctx context.Context, free chan *batch, out chan<- *batch), consume func(*batch) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan *batch, nbatch)
	for range nbatch {
		free <- &batch{}
	}
	out := make(chan *batch, nbatch)
	go func() {
		produce(ctx, free, out)
		close(out)
	}()
	drain := func() {
		cancel()
		for range out {
		}
	}
	pending := make(map[int]*batch, nbatch)
	next := 0
	for b := range out {
		pending[b.seq] = b
		for {
			b, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if err := consume(b); err != nil {
				drain()
				return err
			}
			if b.last {
				drain()
				return nil
			}
			free <- b
		}
		if err := ctx.Err(); err != nil {
			drain()
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errIncomplete
}
