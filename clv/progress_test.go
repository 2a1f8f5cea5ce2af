package clv_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cohort-clv/cohort/clv"
)

// TestLoadProgress ensures Options.Progress ends with the whole file read,
// for plain and gzip CSV, and never reports more than the file's size.
func TestLoadProgress(t *testing.T) {
	var csv bytes.Buffer
	csv.WriteString("customer_id,date,amount\n")
	for i := range 20000 {
		csv.WriteString("c")
		csv.WriteString(string(rune('a' + i%26)))
		csv.WriteString(",1997-01-")
		csv.WriteString([]string{"01", "02", "03"}[i%3])
		csv.WriteString(",10.5\n")
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(csv.Bytes())
	zw.Close()
	for _, tc := range []struct {
		name string
		body []byte
	}{{"log.csv", csv.Bytes()}, {"log.csv.gz", gz.Bytes()}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name)
			if err := os.WriteFile(path, tc.body, 0o644); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var calls []int64
			var total int64
			opts := clv.Options{Progress: func(read, tot int64) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, read)
				total = tot
			}}
			if _, err := clv.Load(context.Background(), path, opts); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(calls) == 0 || total != int64(len(tc.body)) || calls[len(calls)-1] != total {
				t.Fatalf("progress calls %v of total %d, want the last to be the file size %d", calls, total, len(tc.body))
			}
			for i, c := range calls {
				if c > total || i > 0 && c < calls[i-1] {
					t.Errorf("call %d reports %d of %d after %v", i, c, total, calls[:i])
				}
			}
		})
	}
}
