package clv

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// progressEvery is how often Load reports how far it read.
const progressEvery = 250 * time.Millisecond

// countingFile is an *os.File that counts the bytes read through it, by
// Read (CSV, gzip) or ReadAt (Parquet), for Options.Progress.
type countingFile struct {
	f *os.File
	n atomic.Int64
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.f.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingFile) Seek(off int64, whence int) (int64, error) { return c.f.Seek(off, whence) }

var _ interface {
	io.Reader
	io.ReaderAt
	io.Seeker
} = (*countingFile)(nil)

// reportProgress calls report with c's count every progressEvery until the
// returned stop is called, which reports once more and waits.
// A total of 0 (a pipe) means unknown.
func reportProgress(c *countingFile, total int64, report func(read, total int64)) (stop func()) {
	read := func() int64 {
		if n := c.n.Load(); total <= 0 || n < total {
			return n
		}
		return total
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				report(read(), total)
				return
			case <-t.C:
				report(read(), total)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
