package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cohort-clv/cohort/telemetry"
)

// A worker builds its own registry, registers the training metrics (and its
// gpustats.Collector), and serves them until its context ends.
func Example() {
	reg := telemetry.NewRegistry()
	training, err := telemetry.NewTraining(reg, telemetry.TrainingOptions{})
	if err != nil {
		panic(err)
	}
	rank := training.Rank("clv-7", "0")

	srv, err := telemetry.Listen(telemetry.ServerConfig{Addr: "127.0.0.1:0", Gatherer: reg})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	// In the training loop: time the local gradient, then allreduce.
	start := time.Now()
	rank.ComputeSeconds.Observe(time.Since(start).Seconds())
	rank.AllreduceBytes.Add(1 << 20)
	rank.Step.Inc()

	resp, err := http.Get("http://" + srv.Addr().String() + "/metrics")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "cohort_step") || strings.HasPrefix(line, "cohort_allreduce_bytes") {
			fmt.Print(line)
		}
	}
	cancel()
	fmt.Println(<-done)
	// Output:
	// cohort_allreduce_bytes_total{job="clv-7",rank="0"} 1.048576e+06
	// cohort_step{job="clv-7",rank="0"} 1
	// <nil>
}
