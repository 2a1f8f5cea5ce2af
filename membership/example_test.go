package membership_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/cohort-clv/cohort/membership"
)

// A worker joins, a coordinator wins the election and sees the worker
// through Discovery, and the worker leaves.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "cohort-etcd")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// With no --etcd flag, cohort keeps its state in an etcd of its own.
	etcd, err := membership.StartEmbedded(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer etcd.Close()
	cli, err := membership.Dial(ctx, membership.Config{Endpoints: etcd.Endpoints()})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()

	// The coordinator: lead, then follow the workers.
	coord, err := membership.NewSession(ctx, cli)
	if err != nil {
		log.Fatal(err)
	}
	defer coord.Close()
	election := membership.NewElection(coord)
	if err := election.Campaign(ctx, "coord-a 127.0.0.1:7070"); err != nil {
		log.Fatal(err)
	}
	up := make(chan []membership.Member)
	go membership.NewDiscovery(cli, nil).Run(ctx, up)
	fmt.Println("workers:", len(<-up))

	// A worker: a session whose lease outlives a short stall, and its key.
	worker, err := membership.NewSession(ctx, cli, membership.WithTTL(2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := membership.Register(ctx, worker, "worker-0", []byte(`{"device":"cpu"}`)); err != nil {
		log.Fatal(err)
	}
	for _, m := range <-up {
		fmt.Printf("joined: %s %s\n", m.Name, m.Status)
	}
	worker.Close() // revokes the lease: the key goes at once, not after the TTL
	fmt.Println("workers:", len(<-up))

	leader, err := election.Leader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leader:", leader.Value)
	// Output:
	// workers: 0
	// joined: worker-0 {"device":"cpu"}
	// workers: 0
	// leader: coord-a 127.0.0.1:7070
}
