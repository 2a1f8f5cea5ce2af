package synth

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// WriteCSV writes cfg's transactions to w as CSV with the header
// customer_id,date,amount: ids like c0000001, the calendar date of each
// transaction (2006-01-02, UTC; day precision) and the amount with two
// decimals. Several transactions of one customer on one day stay separate
// rows. w is buffered here; WriteCSV does not close it.
func WriteCSV(ctx context.Context, w io.Writer, cfg Config) error {
	g, err := newGenerator(cfg)
	if err != nil {
		return err
	}
	dates := dateTable(day(cfg.Start), g.endDays)
	width := idWidth(cfg.Customers)
	bw := bufio.NewWriterSize(w, 256<<10)
	if _, err := bw.WriteString("customer_id,date,amount\n"); err != nil {
		return fmt.Errorf("synth: write csv: %w", err)
	}
	var (
		line []byte
		id   []byte
		last = -1
	)
	err = g.run(ctx, func(k int, weeks, amount float64) error {
		if k != last {
			id, last = appendID(id[:0], k, width), k
		}
		// weeks < endWeeks, but weeks*7 may round up to endDays.
		d := min(int(weeks*7), g.endDays-1)
		line = append(line[:0], id...)
		line = append(line, ',')
		line = append(line, dates[d*10:d*10+10]...)
		line = append(line, ',')
		line = appendCents(line, amount)
		line = append(line, '\n')
		_, err := bw.Write(line)
		return err
	})
	if err != nil {
		return fmt.Errorf("synth: write csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("synth: write csv: %w", err)
	}
	return nil
}

// appendCents appends amount >= 0 with two decimals, through integer cents:
// three times faster than strconv.AppendFloat(b, amount, 'f', 2, 64), equal
// to it except that exact half-cent ties may round the other way.
func appendCents(b []byte, amount float64) []byte {
	if !(amount < 1e12) { // cents beyond 2^53 lose precision; also NaN
		return strconv.AppendFloat(b, amount, 'f', 2, 64)
	}
	c := int64(math.Round(amount * 100))
	b = strconv.AppendInt(b, c/100, 10)
	c %= 100
	return append(b, '.', byte('0'+c/10), byte('0'+c%10))
}

// dateTable holds the 10-byte dates of days [0, n) from start, back to back,
// so rows need no calendar arithmetic; its size depends on the window only.
func dateTable(start time.Time, n int) []byte {
	b := make([]byte, 0, 10*n)
	for i := range n {
		b = start.AddDate(0, 0, i).AppendFormat(b, time.DateOnly)
	}
	return b
}
