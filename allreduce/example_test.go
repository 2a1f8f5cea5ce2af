package allreduce_test

import (
	"context"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"

	"github.com/cohort-clv/cohort/allreduce"
)

// Three ranks in one process average their gradients over the in-memory
// transport, as tests and single-process runs do.
func ExampleRing_Average() {
	const n = 3
	hub := allreduce.NewLocal(n)
	grads := [][]float32{{1, 2, 3, 4, 5}, {3, 2, 1, 0, -1}, {2, 2, 2, 2, 2}}
	var wg sync.WaitGroup
	for rank := range n {
		ring, err := allreduce.New(allreduce.Config{Rank: rank, Size: n, Job: "churn-7", Generation: 1,
			Transport: hub.Endpoint(rank)})
		if err != nil {
			panic(err)
		}
		wg.Go(func() {
			if err := ring.Average(context.Background(), grads[rank]); err != nil {
				panic(err)
			}
		})
	}
	wg.Wait()
	fmt.Println(grads[0])
	fmt.Println(grads[1])
	// Output:
	// [2 2 2 2 2]
	// [2 2 2 2 2]
}

// Two ranks sum over gRPC on loopback. In a real job each worker process
// serves one allreduce.Server on its gRPC port for its whole life, and makes
// a GRPCTransport and a Ring for every generation it joins.
func ExampleServer_Transport() {
	const n = 2
	addrs := make([]string, n)
	servers := make([]*allreduce.Server, n)
	for rank := range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		gs := grpc.NewServer(allreduce.ServerOptions()...)
		servers[rank] = allreduce.NewServer()
		servers[rank].Register(gs)
		go gs.Serve(lis)
		defer gs.Stop()
		addrs[rank] = lis.Addr().String()
	}
	bufs := [][]float32{{1, 10, 100}, {2, 20, 200}}
	var wg sync.WaitGroup
	for rank := range n {
		tr, err := servers[rank].Transport(allreduce.GRPCConfig{Job: "churn-7", Generation: 4, Rank: rank, Peers: addrs})
		if err != nil {
			panic(err)
		}
		ring, err := allreduce.New(allreduce.Config{Rank: rank, Size: n, Job: "churn-7", Generation: 4, Transport: tr})
		if err != nil {
			panic(err)
		}
		wg.Go(func() {
			defer tr.Close() // when the generation ends
			if err := ring.Sum(context.Background(), bufs[rank]); err != nil {
				panic(err)
			}
		})
	}
	wg.Wait()
	fmt.Println(bufs[0], bufs[1])
	// Output: [3 30 300] [3 30 300]
}
