package clv

import "fmt"

// Currencies across a file. Parsers see chunks of the file in any order,
// so each notes in its batch the first currency its amounts were written
// in and the first other one; the consumer, which takes the batches in
// file order, keeps the file's first currency, stops at the first amount
// in another (money.go says why), and says in the report that the amounts
// carried one.

// seenCurrency is a currency as a batch or the consumer first saw it.
type seenCurrency struct {
	cur   currency
	line  int64  // as badRow.line in a batch; absolute in the consumer
	field string // the amount as the log wrote it, for messages
}

// sawCurrency counts an amount written in cur on line. It returns false
// when cur is the batch's second currency: the consumer reports it, and
// the row is to go no further.
func (b *batch) sawCurrency(cur currency, field []byte, line int64) bool {
	b.curRows++
	switch {
	case b.cur[0].cur.key == "":
		b.cur[0] = seenCurrency{cur, line, string(field)}
	case cur.key != b.cur[0].cur.key:
		if b.cur[1].cur.key == "" {
			b.cur[1] = seenCurrency{cur, line, string(field)}
		}
		return false
	}
	return true
}

// currencies takes in the currencies of b, the next batch in file order.
// It returns the first amount of b in another currency than the file's
// first, its line within b, or nil.
func (c *consumer) currencies(b *batch) *seenCurrency {
	c.curRows += b.curRows
	for i := range b.cur {
		s := &b.cur[i]
		switch {
		case s.cur.key == "":
			return nil
		case c.cur.cur.key == "":
			c.cur = *s
			c.cur.line += c.base
		case s.cur.key != c.cur.cur.key:
			return s
		}
	}
	return nil
}

// mixedCurrency is the error of the amount s (its line within the batch
// being consumed), in another currency than the file's first.
func (c *consumer) mixedCurrency(s *seenCurrency) error {
	at := "line "
	if c.parquet {
		at = "row "
	}
	msg := fmt.Sprintf("%s is in %s, but %s on %s%d is in %s: amounts in two currencies cannot be summed; convert them to one currency, or split the log by currency",
		quoteField([]byte(s.field)), s.cur.text, quoteField([]byte(c.cur.field)), at, c.cur.line, c.cur.cur.text)
	// "$" and "USD" may well be one currency; say why they are not
	// taken for one.
	for _, p := range [][2]currency{{s.cur, c.cur.cur}, {c.cur.cur, s.cur}} {
		if p[0].ambiguous() && p[1].isCode() {
			msg += fmt.Sprintf(" (%s stands for several currencies, so it is not taken for %s)", p[0].text, p[1].text)
			break
		}
	}
	row := RowError{File: c.file, Line: c.base + s.line, Parquet: c.parquet, Column: c.amountCol, Reason: ReasonMixedCurrency, Msg: msg}
	if c.skip {
		return &mixedCurrencyError{row}
	}
	return &row
}

// currencyWarning says that the amounts carried a currency, which was
// dropped to read them; "" when none did.
func (c *consumer) currencyWarning() string {
	if c.curRows == 0 {
		return ""
	}
	kind, at := "symbol", "line"
	if c.cur.cur.isCode() {
		kind = "code"
	}
	if c.parquet {
		at = "row"
	}
	rows := "rows"
	if c.curRows == 1 {
		rows = "row"
	}
	return fmt.Sprintf("amounts carry a currency %s (%s on %d %s, such as %s on %s %d): read as numbers",
		kind, c.cur.cur.text, c.curRows, rows, quoteField([]byte(c.cur.field)), at, c.cur.line)
}
