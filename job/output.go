package job

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/cohort-clv/cohort/internal/atomicfile"
)

// predictionHeader is the CSV header, in Prediction's field order.
const predictionHeader = "customer_id,p_return,expected_spend,decile," +
	"baseline_expected_purchases,baseline_p_alive,baseline_expected_spend"

// WritePredictions writes ps to path as Parquet when path ends in .parquet,
// CSV otherwise. The file appears whole or not at all: it is written to a
// temporary file in the same directory, synced, then renamed.
func WritePredictions(path string, ps []Prediction) error {
	write := WritePredictionsCSV
	if strings.HasSuffix(strings.ToLower(path), ".parquet") {
		write = writePredictionsParquet
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return write(w, ps) }); err != nil {
		return fmt.Errorf("job: write predictions: %w", err)
	}
	return nil
}

// WritePredictionsCSV writes ps as CSV, the header first, to w: the
// format WritePredictions gives a file, for callers that stream it (cohort
// predict --out -).
func WritePredictionsCSV(w io.Writer, ps []Prediction) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString(predictionHeader)
	bw.WriteByte('\n')
	var b []byte
	for _, p := range ps {
		b = b[:0]
		b = appendCSVField(b, p.Customer)
		for _, v := range []float64{p.PReturn, p.ExpectedSpend} {
			b = strconv.AppendFloat(append(b, ','), v, 'g', 7, 64)
		}
		b = strconv.AppendInt(append(b, ','), int64(p.Decile), 10)
		for _, v := range []float64{p.BaselinePurchases, p.BaselinePAlive, p.BaselineSpend} {
			b = strconv.AppendFloat(append(b, ','), v, 'g', 7, 64)
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendCSVField quotes s when it holds a comma, quote or line break.
func appendCSVField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(b, s...)
	}
	return append(append(b, '"'), strings.ReplaceAll(s, `"`, `""`)+`"`...)
}

// writePredictionsParquet writes ps as Parquet with zstd-compressed
// columns, as cohort features does: uncompressed, the file came out larger
// than the CSV.
func writePredictionsParquet(w io.Writer, ps []Prediction) error {
	pw := parquet.NewGenericWriter[Prediction](w, parquet.Compression(&zstd.Codec{}))
	if _, err := pw.Write(ps); err != nil {
		return err
	}
	return pw.Close()
}
