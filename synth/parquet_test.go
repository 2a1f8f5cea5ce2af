package synth

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// TestWriteParquetMatchesCSV ensures WriteParquet stores, row for row, the
// ids, dates and amounts WriteCSV writes, with the date as a Parquet DATE,
// across more rows than one batch.
func TestWriteParquetMatchesCSV(t *testing.T) {
	cfg := small(BGNBD, 3000, 4)
	var cbuf, pbuf bytes.Buffer
	if err := WriteCSV(context.Background(), &cbuf, cfg); err != nil {
		t.Fatal(err)
	}
	if err := WriteParquet(context.Background(), &pbuf, cfg); err != nil {
		t.Fatal(err)
	}
	want, err := csv.NewReader(&cbuf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(pbuf.Bytes()), int64(pbuf.Len()))
	if err != nil {
		t.Fatalf("open parquet: %v", err)
	}
	col, ok := f.Schema().Lookup("date")
	if !ok {
		t.Fatal("no date column")
	}
	if lt := col.Node.Type().LogicalType(); lt.String() != "DATE" {
		t.Errorf("date column has logical type %v, want DATE", lt)
	}
	got, err := parquet.Read[parquetRow](bytes.NewReader(pbuf.Bytes()), int64(pbuf.Len()))
	if err != nil {
		t.Fatalf("read parquet: %v", err)
	}
	if len(got) != len(want)-1 || len(got) <= parquetBatch {
		t.Fatalf("%d parquet rows, want the CSV's %d (and more than one batch of %d)", len(got), len(want)-1, parquetBatch)
	}
	for i, r := range got {
		row := want[i+1]
		date := time.Unix(int64(r.Date)*86400, 0).UTC().Format(time.DateOnly)
		if r.Customer != row[0] || date != row[1] || strconv.FormatFloat(r.Amount, 'f', 2, 64) != row[2] {
			t.Fatalf("row %d: parquet %s %s %v, csv %q", i+2, r.Customer, date, r.Amount, row)
		}
	}
}

// TestWriteParquetStops ensures a cancelled context or a failing writer
// ends WriteParquet with the cause.
func TestWriteParquetStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteParquet(ctx, io.Discard, small(BGNBD, 3000, 4)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	if err := WriteParquet(context.Background(), &failWriter{n: 100}, small(BGNBD, 3000, 4)); err == nil {
		t.Error("failing writer: no error")
	}
}
