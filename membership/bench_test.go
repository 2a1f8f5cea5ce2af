package membership

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkThousandWorkers registers 1,000 simulated workers, each with its
// own session (lease + keep-alive) over four shared clients, against the
// embedded etcd, and waits until Discovery lists them all. One op is one
// such round, ended by closing every session (close-all-ms: revoke all,
// until Discovery lists none). In the first round it also
// holds the workers for two TTLs and reports the keep-alive load: lease
// renewals per second counted by the server, and the CPU the whole process
// (server and clients) spends on it. Run it with -benchtime 1x.
func BenchmarkThousandWorkers(b *testing.B) {
	const workers, clients, parallel = 1000, 4, 64
	e := startEmbedded(b, "")
	var clis []*clientv3.Client
	for range clients {
		clis = append(clis, dial(b, e))
	}
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	up := make(chan []Member)
	go newDiscovery(clis[0], nil).Run(ctx, up)
	waitLen := func(n int) {
		for ms := range up {
			if len(ms) == n {
				return
			}
		}
	}
	waitLen(0)

	var register, discover, leave time.Duration
	b.ResetTimer()
	for round := range b.N {
		start := time.Now()
		sessions := make([]*Session, workers)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		sem := make(chan struct{}, parallel)
		for i := range workers {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				s, err := NewSession(ctx, clis[i%clients])
				if err == nil {
					sessions[i] = s
					_, err = Register(ctx, s, fmt.Sprintf("worker-%04d", i), []byte(`{"device":"cpu","step":0}`))
				}
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		register += time.Since(start)
		waitLen(workers)
		discover += time.Since(start)

		if round == 0 {
			b.StopTimer()
			hold := 2 * DefaultTTL
			renewed0, cpu0 := leaseRenewals(b), processCPU()
			time.Sleep(hold)
			renewed, cpu := leaseRenewals(b)-renewed0, processCPU()-cpu0
			// All still there after two TTLs: the keep-alives kept up.
			resp, err := clis[0].Get(ctx, WorkersPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil || resp.Count != workers {
				b.Fatalf("after %v: %v workers (%v), want %d", hold, resp.Count, err, workers)
			}
			b.ReportMetric(renewed/hold.Seconds(), "renewals/s")
			b.ReportMetric(100*cpu.Seconds()/hold.Seconds(), "keepalive-cpu-%")
			b.StartTimer()
		}

		start = time.Now()
		var cw sync.WaitGroup
		for _, s := range sessions {
			cw.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				s.Close()
			})
		}
		cw.Wait()
		waitLen(0)
		leave += time.Since(start)
	}
	b.ReportMetric(float64(leave.Milliseconds())/float64(b.N), "close-all-ms")
	b.ReportMetric(float64(register.Milliseconds())/float64(b.N), "register-ms")
	b.ReportMetric(float64(discover.Milliseconds())/float64(b.N), "discovered-ms")
}

// leaseRenewals reads the embedded server's count of lease renewals from
// the default Prometheus registry, where etcd registers its metrics.
func leaseRenewals(b *testing.B) float64 {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "etcd_debugging_lease_renewed_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	b.Fatal("etcd_debugging_lease_renewed_total not registered")
	return 0
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStartEmbedded measures StartEmbedded in a fresh directory until
// the server answers; start-ms excludes the Close that ends each op.
func BenchmarkStartEmbedded(b *testing.B) {
	var ready time.Duration
	for b.Loop() {
		start := time.Now()
		e, err := StartEmbedded(b.Context(), b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		ready += time.Since(start)
		e.Close()
	}
	b.ReportMetric(float64(ready.Microseconds())/1000/float64(b.N), "start-ms")
}
