package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohort-clv/cohort/gpustats"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

func ptr[T any](v T) *T { return &v }

// TestNodeStatusKeepsAbsentReadings ensures a reading the GPU does not
// support stays absent in the compact status instead of becoming zero.
func TestNodeStatusKeepsAbsentReadings(t *testing.T) {
	smp := &gpustats.Sample{Time: time.Unix(100, 0), Hostname: "h1", NVML: true, GPUs: []gpustats.GPU{
		{Index: 0, Name: "NVIDIA H100", UUID: "GPU-0123456789abcdef", Healthy: true, GPUUtilization: ptr[uint32](87),
			MemoryUsed: ptr[uint64](1 << 30), MemoryTotal: ptr[uint64](80 << 30)},
	}, Host: &gpustats.Host{CPUs: 16, MemoryTotal: ptr[uint64](64 << 30), MemoryUsed: ptr[uint64](8 << 30)}}
	n := nodeStatus(smp, nil)
	g := n.GetGpus()[0]
	if g.UtilizationPercent == nil || *g.UtilizationPercent != 87 || g.GetMemoryTotalBytes() != 80<<30 {
		t.Errorf("gpu readings lost: %v", g)
	}
	if g.PowerMilliwatts != nil || g.TemperatureCelsius != nil {
		t.Errorf("unsupported readings present: power %v temp %v", g.PowerMilliwatts, g.TemperatureCelsius)
	}
	if g.GetUuid() != "GPU-01234567" {
		t.Errorf("uuid %q, want its first %d bytes", g.GetUuid(), uuidPrefix)
	}
	if n.GetHost().CpuBusy != nil || n.GetHost().GetCpus() != 16 {
		t.Errorf("host %v: want 16 CPUs and no busy fraction on a first sample", n.GetHost())
	}
	if n.GetHostname() != "h1" || n.GetActivity() != nil {
		t.Errorf("hostname %q activity %v", n.GetHostname(), n.GetActivity())
	}
}

// TestEncodeStatusFitsBound ensures a status always fits
// membership.MaxStatusBytes: a few GPUs are kept whole, many lose their
// names and then the GPUs past the bound.
func TestEncodeStatusFitsBound(t *testing.T) {
	for _, n := range []int{1, 8, 16, 200} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			smp := &gpustats.Sample{Hostname: strings.Repeat("h", 60), NVML: true}
			for i := range n {
				smp.GPUs = append(smp.GPUs, gpustats.GPU{Index: i, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-abcdef01-2345",
					Healthy: true, GPUUtilization: ptr[uint32](99), MemoryUsed: ptr[uint64](80 << 30),
					MemoryTotal: ptr[uint64](80 << 30), PowerMilliwatts: ptr[uint32](700000), Temperature: ptr[uint32](80)})
			}
			st := &cohortv1.WorkerStatus{RingAddr: "10.0.0.1:40000", HealthAddr: "10.0.0.1:9090", Pid: 1234567,
				Node: nodeStatus(smp, &cohortv1.WorkerActivity{JobId: strings.Repeat("j", 64), Rank: 1000, Allreduces: 1 << 40})}
			b, err := encodeStatus(st)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > membership.MaxStatusBytes {
				t.Fatalf("%d bytes, want at most %d", len(b), membership.MaxStatusBytes)
			}
			var back cohortv1.WorkerStatus
			if err := protojson.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			got := back.GetNode().GetGpus()
			if n <= 8 && (len(got) != n || got[0].GetName() == "") {
				t.Errorf("%d GPUs: kept %d, name %q; want all with names", n, len(got), got[0].GetName())
			}
			if len(got) == 0 || len(got) > n {
				t.Errorf("%d GPUs: kept %d", n, len(got))
			}
		})
	}
}

// TestActivityComputeSeconds ensures step counts and the median compute
// time before each allreduce follow the recorded allreduces.
func TestActivityComputeSeconds(t *testing.T) {
	p := &statusPublisher{}
	p.allreduced(time.Now(), time.Now(), nil, nil) // idle: ignored
	if p.activity() != nil {
		t.Fatal("activity while idle")
	}
	t0 := time.Unix(1000, 0)
	p.begin("job-a", 3, 2, t0)
	p.allreduced(t0.Add(time.Second), t0.Add(1500*time.Millisecond), nil, nil)   // 1 s compute
	p.allreduced(t0.Add(4500*time.Millisecond), t0.Add(5*time.Second), nil, nil) // 3 s compute
	a := p.activity()
	if a.GetJobId() != "job-a" || a.GetGeneration() != 3 || a.GetRank() != 2 || a.GetAllreduces() != 2 {
		t.Errorf("activity %v", a)
	}
	if a.GetComputeSeconds() != 2 {
		t.Errorf("compute seconds %v, want 2, the middle of 1 and 3", a.GetComputeSeconds())
	}
	// A step that also wrote a checkpoint (20 s) moves the median to 3;
	// a mean (8) would make this rank a straggler.
	p.allreduced(t0.Add(25*time.Second), t0.Add(25500*time.Millisecond), nil, nil)
	if a := p.activity(); a.GetComputeSeconds() != 3 {
		t.Errorf("compute seconds %v, want the median 3", a.GetComputeSeconds())
	}
	p.end()
	if p.activity() != nil {
		t.Error("activity after end")
	}
}

type fakeSampler struct{ calls int }

func (f *fakeSampler) Sample(context.Context) (*gpustats.Sample, error) {
	f.calls++
	return &gpustats.Sample{Hostname: "fake-host", NVMLError: "gpustats: NVML not available", Time: time.Now()}, nil
}

type fakeWriter struct {
	mu       sync.Mutex
	writes   [][]byte
	failFrom int // writes from this one on get ErrNotRegistered; 0 never
}

func (f *fakeWriter) UpdateStatus(_ context.Context, b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failFrom > 0 && len(f.writes)+1 >= f.failFrom {
		return fmt.Errorf("update: %w", membership.ErrNotRegistered)
	}
	f.writes = append(f.writes, b)
	return nil
}

// TestStatusPublisherRun ensures the publisher writes the base status plus
// the machine every interval, waits one interval before the first write,
// and stops once the registration is gone.
func TestStatusPublisherRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWriter{failFrom: 3}
		p := &statusPublisher{base: &cohortv1.WorkerStatus{RingAddr: "r:1", Pid: 7}, sampler: &fakeSampler{},
			writer: w, interval: time.Second, log: slog.New(slog.DiscardHandler)}
		done := make(chan struct{})
		start := time.Now()
		go func() { defer close(done); p.run(t.Context()) }()
		<-done
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("stopped after %v, want 3s (two writes, then the refused third)", got)
		}
		if len(w.writes) != 2 {
			t.Fatalf("%d writes, want 2", len(w.writes))
		}
		var st cohortv1.WorkerStatus
		if err := protojson.Unmarshal(w.writes[1], &st); err != nil {
			t.Fatal(err)
		}
		if st.GetRingAddr() != "r:1" || st.GetPid() != 7 || st.GetNode().GetHostname() != "fake-host" ||
			st.GetNode().GetNvmlError() == "" {
			t.Errorf("status %v", &st)
		}
	})
}

// slowReducer is a Reducer whose Sum takes a second and adds one.
type slowReducer struct{}

func (slowReducer) Sum(_ context.Context, buf []float32) error {
	time.Sleep(time.Second)
	for i := range buf {
		buf[i]++
	}
	return nil
}

// TestReducerTimesCompute ensures the wrapped reducer still reduces, counts
// allreduces, and measures the compute between them, not the allreduce
// itself; a nil publisher leaves the reducer alone.
func TestReducerTimesCompute(t *testing.T) {
	var none *statusPublisher
	if _, ok := none.reducer(slowReducer{}).(slowReducer); !ok {
		t.Error("nil publisher wrapped the reducer")
	}
	none.begin("j", 1, 0, time.Now()) // must not panic
	none.end()
	synctest.Test(t, func(t *testing.T) {
		p := &statusPublisher{}
		p.begin("job", 1, 0, time.Now())
		r := p.reducer(slowReducer{})
		buf := []float32{1}
		for range 3 {
			time.Sleep(2 * time.Second) // compute
			if err := r.Sum(t.Context(), buf); err != nil {
				t.Fatal(err)
			}
		}
		if buf[0] != 4 {
			t.Errorf("buf %v, want the sum passed through", buf)
		}
		a := p.activity()
		if a.GetAllreduces() != 3 || a.GetComputeSeconds() != 2 {
			t.Errorf("allreduces %d compute %v, want 3 and 2s", a.GetAllreduces(), a.GetComputeSeconds())
		}
	})
}
