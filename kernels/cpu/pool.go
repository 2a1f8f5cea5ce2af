package cpu

import "sync"

// pool is a fixed set of worker goroutines. The goroutine that calls run is
// worker 0, so a pool of n threads starts n-1 goroutines and a one-thread
// pool starts none.
type pool struct {
	mu     sync.Mutex // guards closed against a concurrent close
	closed bool
	jobs   []chan job // one channel per goroutine worker 1..n-1
	wg     sync.WaitGroup
}

// job is one task index of one run call.
type job struct {
	fn   func(task int)
	task int
	done *sync.WaitGroup
}

func newPool(n int) *pool {
	p := &pool{jobs: make([]chan job, n-1)}
	for i := range p.jobs {
		ch := make(chan job)
		p.jobs[i] = ch
		// The goroutine must not keep the Backend reachable between jobs
		// (the cleanup New registers could never run): it holds only ch,
		// and a finished job is dead on its stack.
		p.wg.Go(func() {
			for j := range ch {
				j.fn(j.task)
				j.done.Done()
			}
		})
	}
	return p
}

// size is the number of tasks run can execute in parallel.
func (p *pool) size() int {
	if p.closed {
		return 1
	}
	return len(p.jobs) + 1
}

// run executes fn(0..tasks-1) and returns when all are done. Tasks beyond
// the pool size, or any task after close, run on the caller in order.
func (p *pool) run(tasks int, fn func(task int)) {
	if tasks <= 1 || p.closed {
		for t := range tasks {
			fn(t)
		}
		return
	}
	var done sync.WaitGroup
	extra := min(tasks-1, len(p.jobs))
	done.Add(extra)
	for i := range extra {
		p.jobs[i] <- job{fn: fn, task: i + 1, done: &done}
	}
	fn(0)
	for t := extra + 1; t < tasks; t++ {
		fn(t)
	}
	done.Wait()
}

// close stops the goroutines and waits for them. It is idempotent.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, ch := range p.jobs {
		close(ch)
	}
	p.wg.Wait()
}
