// Package coordinator runs training jobs across workers. This file holds the
// generation plan: which live workers form the ring, in what order, and which
// worker holds each customer's rows.
package coordinator

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
)

// VirtualNodes is how many points each worker puts on the consistent-hash
// ring. With 128 points per worker, a worker's share of the customers is
// within about 10% of the fair share (one standard deviation).
const VirtualNodes = 128

// Plan is one generation of a job: the live workers, sorted by name (a
// worker's index is its rank in the allreduce ring), and a consistent-hash
// ring that maps every customer id to the worker holding its rows. Between
// two generations only the rows of workers that left move, and a worker that
// joins takes rows only from the others, never shuffling the rest.
type Plan struct {
	Job        string   `json:"job"`
	Generation uint64   `json:"generation"`
	Workers    []string `json:"workers"`

	points []point // sorted by hash
}

type point struct {
	hash uint64
	rank int32
}

// NewPlan builds generation gen of job over the live workers (any order,
// no duplicates, at least one).
func NewPlan(job string, gen uint64, live []string) (*Plan, error) {
	if len(live) == 0 {
		return nil, errors.New("coordinator: plan: no live workers")
	}
	workers := slices.Clone(live)
	slices.Sort(workers)
	for i := 1; i < len(workers); i++ {
		if workers[i] == workers[i-1] {
			return nil, fmt.Errorf("coordinator: plan: worker %q listed twice", workers[i])
		}
	}
	p := &Plan{Job: job, Generation: gen, Workers: workers, points: make([]point, 0, len(workers)*VirtualNodes)}
	for rank, w := range workers {
		for v := range VirtualNodes {
			p.points = append(p.points, point{hash: mix(hashString(fmt.Sprintf("%s#%d", w, v))), rank: int32(rank)})
		}
	}
	// Ties between two workers' points (vanishingly rare) break by rank, so
	// every coordinator builds the same ring.
	sort.Slice(p.points, func(i, j int) bool {
		a, b := p.points[i], p.points[j]
		return a.hash < b.hash || a.hash == b.hash && a.rank < b.rank
	})
	return p, nil
}

// Owner returns the rank of the worker that holds the customer's rows: the
// first ring point at or after the customer's hash, wrapping around.
func (p *Plan) Owner(customer string) int {
	h := mix(hashString(customer))
	i := sort.Search(len(p.points), func(i int) bool { return p.points[i].hash >= h })
	if i == len(p.points) {
		i = 0
	}
	return int(p.points[i].rank)
}

// Rank returns a worker's rank in the plan.
func (p *Plan) Rank(worker string) (int, bool) {
	return slices.BinarySearch(p.Workers, worker)
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// mix is the splitmix64 finaliser: FNV-1a alone clusters similar strings
// ("w-1#3", "w-1#4"), which would bunch a worker's points on the ring.
func mix(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	return z ^ z>>31
}
