package worker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cohort-clv/cohort/allreduce"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// interruptedPrefix is coordinator.InterruptedPrefix: an error report
// that starts with it tells the coordinator this worker waits for the next
// generation. (The worker does not import the coordinator.)
const interruptedPrefix = "interrupted: "

// generation trains one generation and reports how it ended; errors go to
// the coordinator (and the log), never end the worker.
func (w *worker) generation(ctx context.Context, plan *cohortv1.GenerationPlan, rank int, rev int64) {
	log := w.log.With("job", plan.GetJobId(), "generation", plan.GetGeneration(), "rank", rank)
	log.Info("worker: generation starts", "workers", len(plan.GetWorkers()))
	conn, err := grpc.NewClient(plan.GetCoordinatorAddr(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDisableServiceConfig(), // no DNS TXT lookup per connection (see allreduce)
		grpc.WithChainUnaryInterceptor(rpcerr.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(rpcerr.StreamClientInterceptor()))
	if err != nil {
		log.Error("worker: dial coordinator", "addr", plan.GetCoordinatorAddr(), "err", err)
		return
	}
	defer conn.Close()
	r := reporter{cli: cohortv1.NewCoordinatorClient(conn), plan: plan, rank: rank, name: w.cfg.Name}
	// A worker whose lease ended is out of the job: it stops training
	// rather than hold its peers in a ring the coordinator gave up on.
	gctx, cancel := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	sess := w.sess.Load()
	go func() {
		defer close(watched)
		select {
		case <-sess.Done():
			cancel(fmt.Errorf("worker %s: lease %x lost", w.cfg.Name, sess.Lease()))
		case <-gctx.Done():
		}
	}()
	// A newer plan of the job (a worker joined) ends this generation at
	// its next allreduce, with the state after the last completed step.
	newer := make(chan struct{})
	superseded := make(chan struct{})
	go func() {
		defer close(superseded)
		w.awaitNewer(gctx, plan, rev, newer, func(why error) { cancel(why) })
	}()
	err = w.train(gctx, plan, rank, cohortv1.NewDataClient(conn), r, newer)
	if cause := context.Cause(gctx); err != nil && cause != nil && ctx.Err() == nil {
		err = fmt.Errorf("%w (%w)", err, cause)
	}
	cancel(nil)
	<-watched
	<-superseded
	if err == nil {
		log.Info("worker: generation done")
		return
	}
	if ctx.Err() != nil || errors.Is(context.Cause(gctx), errJobEnded) {
		log.Info("worker: generation stopped", "err", err)
		return
	}
	msg := cohortv1.Clip(err.Error(), cohortv1.MaxErrorLen-len(interruptedPrefix))
	var in *model.Interrupted
	if errors.As(err, &in) {
		w.resume.keep(plan.GetJobId(), plan.GetGeneration(), in.State)
	}
	if interruption(err) {
		// The coordinator's next generation resumes from w.resume.
		msg = interruptedPrefix + msg
		log.Warn("worker: generation interrupted", "err", err)
	} else {
		w.resume.forget(plan.GetJobId())
		log.Error("worker: generation failed", "err", err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	switch rerr := r.send(rctx, &cohortv1.ReportRequest{Report: &cohortv1.ReportRequest_Error{Error: msg}}); {
	case errors.Is(rerr, rpcerr.ErrStaleGeneration):
		// The coordinator already moved on to the next generation.
		log.Debug("worker: report failure", "err", rerr)
	case rerr != nil:
		log.Warn("worker: report failure", "err", rerr)
	}
}

// train fetches the shard, builds the ring and runs TrainShard; rank 0
// reports epochs and the final model.
func (w *worker) train(ctx context.Context, plan *cohortv1.GenerationPlan, rank int, data cohortv1.DataClient, r reporter, newer <-chan struct{}) error {
	// The plan comes from etcd: refuse one out of bounds before using it.
	if err := plan.Validate(); err != nil {
		return fmt.Errorf("worker: refuse the plan of job %s, generation %d: %w", plan.GetJobId(), plan.GetGeneration(), err)
	}
	cfg := plan.GetModel().Config()
	sh, names, log1p, err := fetchShard(ctx, data, plan, rank)
	if err != nil {
		return err
	}
	peers := make([]string, len(plan.GetWorkers()))
	for i, pw := range plan.GetWorkers() {
		peers[i] = pw.GetRingAddr()
	}
	timeout := time.Duration(plan.GetTimeoutMs()) * time.Millisecond
	tr, err := w.ring.Transport(allreduce.GRPCConfig{Job: plan.GetJobId(), Generation: plan.GetGeneration(), Rank: rank,
		Peers: peers, Timeout: timeout, Token: plan.GetToken()})
	if err != nil {
		return fmt.Errorf("worker: ring transport: %w", err)
	}
	defer tr.Close()
	ar, err := allreduce.New(allreduce.Config{Rank: rank, Size: len(peers), Job: plan.GetJobId(),
		Generation: plan.GetGeneration(), Transport: tr, Timeout: timeout})
	if err != nil {
		return fmt.Errorf("worker: ring: %w", err)
	}
	ring := fencedRing{r: ar, newer: newer}
	resume := w.resume.state(plan.GetJobId())
	// A generation after the first, or one of a job resumed from a
	// checkpoint, starts from the furthest state any rank holds; rank 0
	// offers the checkpoint when it holds nothing newer.
	if plan.GetGeneration() > 1 || plan.GetResumeFrom() != nil {
		var loadErr error
		// Compared as uint64: a pointer's step past an int's range must
		// not turn into a negative int and the check off (Validate has
		// refused a plan with one; the comparison stays safe anyway).
		if ptr := plan.GetResumeFrom(); ptr != nil && rank == 0 && uint64(stepOf(resume)) < ptr.GetStep() {
			if st, err := loadCheckpoint(ptr); err != nil {
				loadErr = err
			} else {
				resume = st
			}
		}
		limit, err := stateLimit(cfg, len(names))
		if err != nil {
			return err
		}
		if resume, err = agree(ctx, ring, rank, len(peers), resume, limit); err != nil {
			return err
		}
		if ptr := plan.GetResumeFrom(); loadErr != nil && uint64(stepOf(resume)) < ptr.GetStep() {
			// No rank holds a state as far as the checkpoint, which exists
			// but cannot be read here: starting over would quietly throw
			// away the job's progress.
			return fmt.Errorf("worker: resume: %w", loadErr)
		}
		if resume != nil {
			w.resume.keep(plan.GetJobId(), plan.GetGeneration(), resume)
			w.log.Info("worker: resuming", "job", plan.GetJobId(), "generation", plan.GetGeneration(),
				"epoch", resume.Epoch, "row", resume.Offset, "step", resume.Adam.Step, "done", resume.Done)
		}
	}
	be := w.cfg.NewBackend(int(plan.GetThreads()))
	if c, ok := be.(interface{ Close() error }); ok {
		defer c.Close()
	}
	var done *model.TrainState
	opts := model.TrainOptions{FeatureNames: names, Log1p: log1p, Resume: resume,
		Rank: rank, Replicas: len(peers), ChecksumEvery: int(plan.GetChecksumEvery()),
		OnDone: func(st *model.TrainState) { done = st }}
	if every := int(plan.GetCheckpointEvery()); rank == 0 && every > 0 && plan.GetCheckpointDir() != "" {
		c := &checkpointer{dir: plan.GetCheckpointDir(), job: plan.GetJobId(), gen: plan.GetGeneration(), log: w.log,
			fingerprint: plan.GetFingerprint(),
			written:     w.status.checkpointed,
			report: func(ctx context.Context, p *cohortv1.CheckpointPointer) error {
				return r.send(ctx, &cohortv1.ReportRequest{Report: &cohortv1.ReportRequest_Checkpoint{Checkpoint: p}})
			}}
		opts.CheckpointEvery = every
		opts.Checkpoint = func(st *model.TrainState) error { return c.save(ctx, st) }
	}
	w.status.begin(plan.GetJobId(), plan.GetGeneration(), rank, time.Now())
	defer w.status.end()
	bus := &busMeter{r: w.status.reducer(ring), n: len(peers)}
	var epochs *epochReporter
	if rank == 0 {
		// Progress is advisory: a lost report must not stop training, and
		// a dead coordinator must not stall the ring (audit 7 ops #4).
		// Reports go out from a goroutine of their own, each with a
		// deadline, the newest replacing one not yet sent.
		epochs = newEpochReporter(ctx, r, reportTimeout(timeout), w.log)
		defer epochs.close()
		opts.OnEpoch = func(st model.EpochStats) {
			sps := 0.0
			if st.Wall > 0 {
				sps = float64(sh.TrainRows) / st.Wall.Seconds()
			}
			w.status.epoch(st, sps)
			epochs.put(&cohortv1.ReportRequest{Report: &cohortv1.ReportRequest_Epoch{Epoch: epochProto(st)},
				SamplesPerSecond: sps, AllreduceGbps: bus.take()})
		}
	}
	// The status shows what this worker trains and its compute time
	// between allreduces, the straggler signal cohort top flags (begun
	// above, before the hooks that use it).
	net, hist, err := model.TrainShard(ctx, be, sh, bus, cfg, opts)
	if err != nil {
		return fmt.Errorf("worker: train: %w", err)
	}
	// Every rank keeps the finished state: should the coordinator die
	// before it has the final model, the next one's generation resumes
	// from it and rank 0 reports the model again, without training.
	if done != nil {
		w.resume.keep(plan.GetJobId(), plan.GetGeneration(), done)
	}
	if rank != 0 {
		return nil
	}
	// The last epoch's report goes before the model, as it did when
	// reports were sent in line.
	epochs.close()
	f := &cohortv1.FinalModel{Params: encodeFloats(net.Params()), Mean: net.Pipeline.Mean, Std: net.Pipeline.Std,
		BestEpoch: uint32(hist.BestEpoch), BestValLoss: hist.BestValLoss, StoppedEarly: hist.StoppedEarly}
	for _, e := range hist.Epochs {
		f.Epochs = append(f.Epochs, epochProto(e))
	}
	if err := r.sendFinal(ctx, f); err != nil {
		return fmt.Errorf("worker: report final model: %w: %w", errUnreported, err)
	}
	return nil
}

// busMeter measures the ring's bus bandwidth: a ring allreduce of S bytes
// over n ranks moves 2(n-1)/n S through each rank's links, so that over
// the time spent inside Sum is what NCCL and Horovod call bus bandwidth.
// The time includes waiting for the slowest rank, so a straggler shows as
// lower bandwidth. Only the training goroutine uses it.
type busMeter struct {
	r     model.Reducer
	n     int
	bytes float64
	spent time.Duration
}

func (b *busMeter) Sum(ctx context.Context, buf []float32) error {
	start := time.Now()
	err := b.r.Sum(ctx, buf)
	b.spent += time.Since(start)
	b.bytes += 4 * float64(len(buf))
	return err
}

// take returns the bus bandwidth in GB/s since the last take, and resets.
func (b *busMeter) take() float64 {
	defer func() { b.bytes, b.spent = 0, 0 }()
	if b.n < 2 || b.spent <= 0 {
		return 0
	}
	return b.bytes * 2 * float64(b.n-1) / float64(b.n) / b.spent.Seconds() / 1e9
}

// stepOf is the optimizer step a state is at (0 for none).
func stepOf(st *model.TrainState) int {
	if st == nil {
		return 0
	}
	return st.Adam.Step
}

// reporter sends reports of one generation.
type reporter struct {
	cli  cohortv1.CoordinatorClient
	plan *cohortv1.GenerationPlan
	rank int
	name string
}

func (r reporter) send(ctx context.Context, req *cohortv1.ReportRequest) error {
	req.JobId, req.Generation, req.Rank, req.Worker = r.plan.GetJobId(), r.plan.GetGeneration(), uint32(r.rank), r.name
	req.Token = r.plan.GetToken()
	_, err := r.cli.Report(ctx, req)
	return err
}

// sendFinal streams the final model in chunks (Coordinator.ReportFinal):
// the coordinator takes no message over gRPC's default 4 MiB.
func (r reporter) sendFinal(ctx context.Context, f *cohortv1.FinalModel) error {
	st, err := r.cli.ReportFinal(ctx)
	if err != nil {
		return err
	}
	for _, c := range cohortv1.FinalModelChunks(f) {
		if c.GetSeq() == 0 {
			c.JobId, c.Generation, c.Rank, c.Worker = r.plan.GetJobId(), r.plan.GetGeneration(), uint32(r.rank), r.name
			c.Token = r.plan.GetToken()
		}
		if err := st.Send(c); err != nil {
			if errors.Is(err, io.EOF) {
				break // the coordinator ended the stream: CloseAndRecv says why
			}
			return err
		}
	}
	_, err = st.CloseAndRecv()
	return err
}

// fetchShard streams the rank's training and validation rows.
func fetchShard(ctx context.Context, data cohortv1.DataClient, plan *cohortv1.GenerationPlan, rank int) (model.Shard, []string, []bool, error) {
	var sh model.Shard
	req := &cohortv1.ShardRequest{JobId: plan.GetJobId(), Generation: plan.GetGeneration(), Rank: uint32(rank),
		WorldSize: uint32(len(plan.GetWorkers())), Split: cohortv1.Split_SPLIT_TRAIN, Token: plan.GetToken()}
	tr, err := fetchSplit(ctx, data, req)
	if err != nil {
		return sh, nil, nil, err
	}
	req.Split = cohortv1.Split_SPLIT_VALIDATION
	va, err := fetchSplit(ctx, data, req)
	if err != nil {
		return sh, nil, nil, err
	}
	sh = model.Shard{Train: tr.data, Val: va.data, TrainIndex: tr.global, TrainRows: tr.splitRows}
	return sh, tr.names, tr.log1p, nil
}

// split is one streamed split of a shard.
type split struct {
	data      model.Data
	global    []int
	splitRows int
	names     []string
	log1p     []bool
}

// fetchSplit streams one split of the rank's shard. Every chunk is checked
// against its bounds and the first chunk's schema (ShardChunk.Validate), and
// the stream is refused as soon as it holds more rows than the first chunk
// announced, so a coordinator cannot make the worker hold more than that.
func fetchSplit(ctx context.Context, data cohortv1.DataClient, req *cohortv1.ShardRequest) (*split, error) {
	op := fmt.Sprintf("worker: fetch %v shard of rank %d", req.GetSplit(), req.GetRank())
	st, err := data.Shard(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	s := &split{}
	var want int
	for seq := uint32(0); ; seq++ {
		c, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: stream ended before the last chunk", op)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if c.GetSeq() != seq {
			return nil, fmt.Errorf("%s: chunk %d, want %d", op, c.GetSeq(), seq)
		}
		if seq == 0 {
			s.names, s.log1p, s.splitRows = c.GetFeatureNames(), c.GetLog1P(), int(c.GetSplitRows())
			want, s.data.Cols = int(c.GetTotalRows()), len(s.names)
		}
		if err := c.Validate(s.data.Cols); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		n := int(c.GetRows())
		if s.data.Rows+n > want {
			return nil, fmt.Errorf("%s: chunk %d: %d rows so far, more than the %d the first chunk announced",
				op, seq, s.data.Rows+n, want)
		}
		b := c.GetFeatures()
		for i := 0; i < len(b); i += 4 {
			s.data.X = append(s.data.X, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
		}
		s.data.Y = append(s.data.Y, c.GetLabels()...)
		for _, g := range c.GetGlobalRows() {
			if int(g) >= s.splitRows {
				return nil, fmt.Errorf("%s: chunk %d: global row %d, the split has %d", op, seq, g, s.splitRows)
			}
			s.global = append(s.global, int(g))
		}
		s.data.Rows += n
		if c.GetLast() {
			break
		}
	}
	if s.data.Rows != want {
		return nil, fmt.Errorf("%s: got %d rows, the first chunk announced %d", op, s.data.Rows, want)
	}
	return s, nil
}

func epochProto(st model.EpochStats) *cohortv1.EpochStats {
	return &cohortv1.EpochStats{Epoch: uint32(st.Epoch), TrainLoss: st.TrainLoss, ValLoss: st.ValLoss, Best: st.Best,
		Lr: st.LR, Steps: uint64(st.Steps), WallNs: int64(st.Wall)}
}

func encodeFloats(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}
