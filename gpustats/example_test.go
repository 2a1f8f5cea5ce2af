package gpustats_test

import (
	"context"
	"fmt"

	"github.com/cohort-clv/cohort/gpustats"
	"github.com/prometheus/client_golang/prometheus"
)

// A process samples its machine once a second with Run and serves the latest
// sample on its own registry; here a host-only Sampler stands in for one
// over NVML (gpustats.NewLocal), which is what a worker uses.
func ExampleNewCollector() {
	s := gpustats.New(nil, gpustats.Config{Hostname: "node-a", ProcRoot: "-"})
	defer s.Close()
	smp, err := s.Sample(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(smp.NVMLError)

	reg := prometheus.NewRegistry()
	reg.MustRegister(gpustats.NewCollector(s.Latest, gpustats.CollectorOptions{Job: "clv-7", Rank: "0"}))
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		fmt.Println(mf.GetName(), m.GetGauge().GetValue())
	}
	// Output:
	// gpustats: NVML not available
	// cohort_gpu_nvml_available 0
}
