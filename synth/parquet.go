package synth

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// parquetRow is one transaction as WriteParquet stores it: the columns and
// values WriteCSV writes, the date as a Parquet DATE.
type parquetRow struct {
	Customer string `parquet:"customer_id"`
	// Date counts days since 1970-01-01 (the DATE logical type).
	Date   int32   `parquet:"date,date"`
	Amount float64 `parquet:"amount"`
}

// parquetBatch is how many rows WriteParquet hands the writer at once, and
// parquetRowGroup how many rows one row group holds: memory stays bounded
// by a row group, however many customers cfg has.
const (
	parquetBatch    = 4096
	parquetRowGroup = 1 << 20
)

// WriteParquet writes cfg's transactions to w as Parquet (zstd) with the
// columns of WriteCSV: customer_id (string), date (DATE) and amount
// (double, rounded to cents as WriteCSV writes it), so a log generated in
// either format reads into the same dataset. It streams, one row group at
// a time; it does not close w.
func WriteParquet(ctx context.Context, w io.Writer, cfg Config) error {
	g, err := newGenerator(cfg)
	if err != nil {
		return err
	}
	pw := parquet.NewGenericWriter[parquetRow](w, parquet.Compression(&zstd.Codec{}), parquet.MaxRowsPerRowGroup(parquetRowGroup))
	startDay := int32(day(cfg.Start).Unix() / 86400)
	width := idWidth(cfg.Customers)
	var (
		rows = make([]parquetRow, 0, parquetBatch)
		id   string
		buf  []byte
		last = -1
	)
	flush := func() error {
		_, err := pw.Write(rows)
		rows = rows[:0]
		return err
	}
	err = g.run(ctx, func(k int, weeks, amount float64) error {
		if k != last {
			buf = appendID(buf[:0], k, width)
			id, last = string(buf), k
		}
		d := min(int(weeks*7), g.endDays-1)
		rows = append(rows, parquetRow{Customer: id, Date: startDay + int32(d), Amount: math.Round(amount*100) / 100})
		if len(rows) == cap(rows) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = pw.Close()
	}
	if err != nil {
		return fmt.Errorf("synth: write parquet: %w", err)
	}
	return nil
}
