package worker

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cohort-clv/cohort/gpustats"
	"github.com/cohort-clv/cohort/kernels/cpu"
	cmodel "github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/telemetry"
)

// fakeDriver is a gpustats.Driver with one GPU that reads utilisation and
// memory and supports nothing else.
type fakeDriver struct{}

func (fakeDriver) DriverVersion() (string, error)          { return "570.86.15", nil }
func (fakeDriver) DeviceCount() (int, error)               { return 1, nil }
func (fakeDriver) Device(int) (gpustats.Device, error)     { return fakeGPU{}, nil }
func (fakeDriver) XIDEvents() ([]gpustats.XIDEvent, error) { return nil, gpustats.ErrNotSupported }
func (fakeDriver) Close() error                            { return nil }
func (fakeGPU) Name() (string, error)                      { return "NVIDIA H100 80GB HBM3", nil }
func (fakeGPU) UUID() (string, error)                      { return "GPU-fake-0", nil }
func (fakeGPU) Utilization() (uint32, uint32, error)       { return 87, 12, nil }
func (fakeGPU) Memory() (uint64, uint64, uint64, error)    { return 10 << 30, 70 << 30, 80 << 30, nil }
func (fakeGPU) Temperature() (uint32, error)               { return 0, gpustats.ErrNotSupported }
func (fakeGPU) MemoryTemperature() (uint32, error)         { return 0, gpustats.ErrNotSupported }
func (fakeGPU) Power() (uint32, error)                     { return 0, gpustats.ErrNotSupported }
func (fakeGPU) Energy() (uint64, error)                    { return 0, gpustats.ErrNotSupported }
func (fakeGPU) Clock(gpustats.ClockKind) (uint32, error)   { return 0, gpustats.ErrNotSupported }
func (fakeGPU) ThrottleReasons() (uint64, error)           { return 0, gpustats.ErrNotSupported }
func (fakeGPU) PCIeThroughput() (uint32, uint32, error)    { return 0, 0, gpustats.ErrNotSupported }
func (fakeGPU) PCIeReplays() (uint64, error)               { return 0, gpustats.ErrNotSupported }
func (fakeGPU) ECCErrors(gpustats.ECCKind) (uint64, error) { return 0, gpustats.ErrNotSupported }
func (fakeGPU) Processes() ([]gpustats.Process, error)     { return nil, gpustats.ErrNotSupported }
func (fakeGPU) MIGDevices() ([]gpustats.MIGDevice, error)  { return nil, nil }

type fakeGPU struct{}

// twoRanks is a Reducer for a ring of two identical ranks: a Sum takes a
// quarter second and doubles the buffer.
type twoRanks struct{}

func (twoRanks) Sum(_ context.Context, buf []float32) error {
	time.Sleep(250 * time.Millisecond)
	for i := range buf {
		buf[i] *= 2
	}
	return nil
}

// newTestMetrics is a publisher over the fake GPU (and a fake /proc) whose
// samples and training go to a fresh registry's metrics, served by a
// telemetry server; scrapes see the clock now.
func newTestMetrics(t *testing.T, now func() time.Time) (*statusPublisher, *prometheus.Registry, *telemetry.Server) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{
		"stat":    "cpu  100 0 50 850 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\ncpu1 1 0 1 1 0 0 0 0 0 0\nintr 1\n",
		"meminfo": "MemTotal: 16384000 kB\nMemFree: 1000000 kB\nMemAvailable: 4096000 kB\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	s := gpustats.New(fakeDriver{}, gpustats.Config{Hostname: "h1", ProcRoot: dir, Logger: log})
	reg := prometheus.NewPedanticRegistry()
	m, err := newMetrics(reg, telemetry.TrainingOptions{ComputeBuckets: []float64{0.5, 1, 2}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	p := &statusPublisher{base: &cohortv1.WorkerStatus{RingAddr: "r:1"}, sampler: s, writer: &fakeWriter{},
		interval: statusInterval, log: log}
	detach, err := m.attach(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(detach)
	if err := p.publish(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv, err := telemetry.Listen(telemetry.ServerConfig{Addr: "127.0.0.1:0", Gatherer: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := srv.Serve(ctx); err != nil { // releases the port
			t.Error(err)
		}
	})
	return p, reg, srv
}

// scrape gets /metrics from srv's handler once and parses the page.
func scrape(t *testing.T, srv *telemetry.Server) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics = %d\n%s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// series returns the value of the series of name whose labels include
// want, and how many such series there are.
func series(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, int) {
	v, n := 0.0, 0
	for _, m := range mfs[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := true
		for k, w := range want {
			match = match && got[k] == w
		}
		if !match {
			continue
		}
		n++
		switch {
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Histogram != nil:
			v = m.GetHistogram().GetSampleSum()
		}
	}
	return v, n
}

// TestMetricsGeneration ensures a worker's /metrics shows its GPU under
// dcgm-exporter's names and labels plus the job and rank it trains (empty
// while idle), and the cohort_* training series of a simulated generation
// measured through the reducer wrapper; that the next generation of the
// job counts as a generation change and moves the series to the new rank;
// that idle series go after seriesLinger; and that the page passes
// client_golang's linter but for the deviations dcgm-exporter's names force.
func TestMetricsGeneration(t *testing.T) {
	ckpt := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	p, reg, srv := newTestMetrics(t, func() time.Time { return ckpt.Add(30 * time.Second) })
	gpu := map[string]string{"gpu": "0", "UUID": "GPU-fake-0", "device": "nvidia0",
		"modelName": "NVIDIA H100 80GB HBM3", "Hostname": "h1"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}

	mfs := scrape(t, srv)
	if v, n := series(mfs, "DCGM_FI_DEV_GPU_UTIL", with(gpu, "job", "", "rank", "")); n != 1 || v != 87 {
		t.Errorf("idle DCGM_FI_DEV_GPU_UTIL = %v (%d series), want 87 with empty job and rank", v, n)
	}
	if h := mfs["DCGM_FI_DEV_GPU_UTIL"].GetHelp(); h != "GPU utilization (in %)." {
		t.Errorf("help %q, want dcgm-exporter's", h)
	}
	if _, n := series(mfs, "cohort_step", nil); n != 0 {
		t.Errorf("%d cohort_step series before any job", n)
	}

	synctest.Test(t, func(t *testing.T) {
		p.begin("clv-7", 1, 0, time.Now())
		r := p.reducer(twoRanks{})
		sum := func(buf []float32) {
			if err := r.Sum(t.Context(), buf); err != nil {
				t.Fatal(err)
			}
		}
		grad := func(loss float32) []float32 { return []float32{1, 2, 3, 4, 5, 6, 7, loss} }
		time.Sleep(time.Second)  // fetching the shard: not a step
		sum(make([]float32, 16)) // the data statistics
		for range 3 {
			time.Sleep(1500 * time.Millisecond) // a step's compute
			sum(grad(0.25))
		}
		sum([]float32{1, 0}) // the epoch's validation loss
		p.epoch(cmodel.EpochStats{Epoch: 1, Steps: 3}, 1234)
		p.checkpointed(ckpt)

		mfs := scrape(t, srv)
		if v, n := series(mfs, "DCGM_FI_DEV_GPU_UTIL", with(gpu, "job", "clv-7", "rank", "0")); n != 1 || v != 87 {
			t.Errorf("training DCGM_FI_DEV_GPU_UTIL = %v (%d series), want 87 labelled clv-7 rank 0", v, n)
		}
		if _, n := series(mfs, "cohort_host_memory_total_bytes", map[string]string{"Hostname": "h1", "job": "clv-7", "rank": "0"}); n != 1 {
			t.Errorf("%d cohort_host_memory_total_bytes series for the job, want 1", n)
		}
		r0 := map[string]string{"job": "clv-7", "rank": "0"}
		for _, c := range []struct {
			name string
			want float64
		}{
			{"cohort_step", 3},
			{"cohort_loss", 0.5}, // the last slot, summed
			{"cohort_samples_per_second", 1234},
			{"cohort_allreduce_bytes_total", 3 * 4 * 8},
			{"cohort_allreduce_seconds_total", 0.75},
			{"cohort_compute_seconds", 4.5}, // the histogram's sum: 3 steps of 1.5 s
			{"cohort_generation_changes_total", 0},
			{"cohort_checkpoint_age_seconds", 30},
		} {
			if v, n := series(mfs, c.name, r0); n != 1 || v != c.want {
				t.Errorf("%s = %v (%d series), want %v", c.name, v, n, c.want)
			}
		}
		if got := mfs["cohort_compute_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); got != 3 {
			t.Errorf("cohort_compute_seconds counts %d steps, want 3", got)
		}
		lint(t, reg)
		p.end()

		// Generation 2 of the job, with this worker at rank 1 now.
		p.begin("clv-7", 2, 1, time.Now())
		r = p.reducer(twoRanks{})
		sum(make([]float32, 16))
		sum(grad(0.125))
		mfs = scrape(t, srv)
		r1 := map[string]string{"job": "clv-7", "rank": "1"}
		for _, c := range []struct {
			name string
			want float64
		}{
			{"cohort_step", 4},
			{"cohort_loss", 0.25},
			{"cohort_allreduce_bytes_total", 4 * 4 * 8},
			{"cohort_generation_changes_total", 1},
			{"cohort_checkpoint_age_seconds", 30},
		} {
			if v, n := series(mfs, c.name, r1); n != 1 || v != c.want {
				t.Errorf("generation 2: %s = %v (%d series), want %v", c.name, v, n, c.want)
			}
		}
		if _, n := series(mfs, "cohort_step", r0); n != 0 {
			t.Error("rank 0's series linger after the worker moved to rank 1")
		}
		p.end()

		p.expire(time.Now().Add(seriesLinger - time.Second))
		if _, n := series(scrape(t, srv), "cohort_step", r1); n != 1 {
			t.Error("series gone before seriesLinger")
		}
		p.expire(time.Now().Add(seriesLinger))
	})

	mfs = scrape(t, srv)
	for name := range mfs {
		// cohort_worker_* describe the worker itself, not what it trains.
		if strings.HasPrefix(name, "cohort_") && !strings.HasPrefix(name, "cohort_host_") &&
			!strings.HasPrefix(name, "cohort_gpu_") && !strings.HasPrefix(name, "cohort_worker_") && len(mfs[name].GetMetric()) > 0 {
			t.Errorf("%s still exported %v after the worker was idle for %v", name, mfs[name].GetMetric(), seriesLinger)
		}
	}
	if _, n := series(mfs, "DCGM_FI_DEV_FB_USED", with(gpu, "job", "", "rank", "")); n != 1 {
		t.Error("idle worker lost its GPU series")
	}

}

// lint fails t for every lint problem of reg's page but those
// dcgm-exporter's names force (counters without "_total", the camelCase
// modelName label, which cohort_gpu_* share), which gpustats'
// TestCollectorLint pins down.
func lint(t *testing.T, reg prometheus.Gatherer) {
	t.Helper()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		gpu := strings.HasPrefix(pr.Metric, "cohort_gpu_") && strings.Contains(pr.Text, "camelCase")
		if !strings.HasPrefix(pr.Metric, "DCGM_") && !gpu {
			t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
		}
	}
}

// TestTrainShardSums ensures sumClassifier matches model.TrainShard: over
// a real run through the wrapped reducer, weight checksum exchanges
// included, the step count is the model's own.
func TestTrainShardSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const rows, cols = 96, 3
	d := cmodel.Data{Rows: rows, Cols: cols}
	idx := make([]int, rows)
	for i := range rows {
		for range cols {
			d.X = append(d.X, float32(rng.NormFloat64()))
		}
		y := float32(0)
		if rng.IntN(2) == 0 {
			y = float32(rng.ExpFloat64() * 50)
		}
		d.Y = append(d.Y, y)
		idx[i] = i
	}
	val := cmodel.Data{X: d.X[:32*cols], Y: d.Y[:32], Rows: 32, Cols: cols}
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, telemetry.TrainingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := &statusPublisher{series: &rankSeries{t: m.training}}
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	p.begin("j", 1, 0, time.Now())
	r := &mirror{}
	_, hist, err := cmodel.TrainShard(t.Context(), be, cmodel.Shard{Train: d, Val: val, TrainIndex: idx, TrainRows: rows},
		p.reducer(r), cmodel.Config{Batch: 20, MaxEpochs: 3, Hidden: []int{4}, Patience: 10, Seed: 1},
		cmodel.TrainOptions{Rank: 0, Replicas: 2, ChecksumEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	steps := hist.Epochs[len(hist.Epochs)-1].Steps
	if r.checksums != steps/2 {
		t.Fatalf("%d checksum exchanges in %d steps, want %d: the test no longer covers them", r.checksums, steps, steps/2)
	}
	if got := testutil.ToFloat64(m.training.Step.WithLabelValues("j", "0")); got != float64(steps) {
		t.Errorf("cohort_step %v, want the model's %d steps", got, steps)
	}
	if got := testutil.ToFloat64(m.training.Loss.WithLabelValues("j", "0")); !(got > 0) {
		t.Errorf("cohort_loss %v, want a positive minibatch loss", got)
	}
	want := uint64(1 + steps + r.checksums + len(hist.Epochs))
	if a := p.activity(); a.GetAllreduces() != want {
		t.Errorf("%d allreduces, want %d: statistics, %d steps, %d checksums, %d validations",
			a.GetAllreduces(), want, steps, r.checksums, len(hist.Epochs))
	}
}

// mirror is the Reducer of rank 0 of two replicas where rank 1 holds no
// rows: sums are rank 0's own, except that rank 1 counts itself in the
// statistics (the replica count, the 7th float64 as head and tail) and a
// weight checksum exchange (4 limbs per replica) gets rank 1's slots equal
// to rank 0's.
type mirror struct{ sums, checksums int }

func (m *mirror) Sum(_ context.Context, buf []float32) error {
	m.sums++
	if m.sums == 1 {
		buf[12]++
	} else if len(buf) == 8 {
		m.checksums++
		copy(buf[4:], buf[:4])
	}
	return nil
}
