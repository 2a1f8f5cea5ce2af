package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/kernels"
	"github.com/cohort-clv/cohort/membership"
	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// Progress is rank 0's report after an epoch.
type Progress struct {
	Generation uint64
	Workers    int
	Epoch      model.EpochStats
	// SamplesPerSecond is training rows per second over all workers.
	SamplesPerSecond float64
	// AllreduceGBps is the ring's bus bandwidth over the epoch (0 with one
	// worker).
	AllreduceGBps float64
}

// generation is one generation of the running job: its plan, the rows each
// rank holds, and the reports its workers send.
type generation struct {
	plan    *Plan
	members []membership.Member
	prep    *job.Prepared
	// fingerprint goes into every plan (planFingerprint).
	fingerprint []byte
	// token is the generation's secret (GenerationPlan.token): every
	// request of its workers carries it (generation.authorize).
	token []byte
	// train and val hold, by rank, the global row numbers (indices into
	// prep.Train and prep.Val) of the rank's shard, in increasing order.
	train, val [][]int
	reports    chan *cohortv1.ReportRequest
	done       chan struct{} // closed when Train stops listening
}

// Train is the job's training step (a job.TrainStep): it waits for
// Config.Workers registered workers, writes the generation plan to etcd,
// serves the shards, relays rank 0's epochs to ev.Epoch and returns the
// model rank 0 ends with. be is not used: the workers compute. A worker
// that loses its lease, or a failed allreduce, starts a new generation of
// the survivors (see follow); an error other than an interruption, or
// fewer than Config.MinWorkers survivors, fails the job.
func (j *Job) Train(ctx context.Context, _ kernels.Backend, p *job.Prepared, ev job.Events) (*model.Model, model.History, error) {
	ctx, up, disc, stop := j.discover(ctx)
	defer stop()

	fp, err := j.planFingerprint(p)
	if err != nil {
		return nil, model.History{}, fmt.Errorf("coordinator: train: %w", err)
	}
	members, err := j.awaitWorkers(ctx, up, disc)
	if err != nil {
		return nil, model.History{}, fmt.Errorf("coordinator: train: %w", err)
	}
	g, err := j.startGeneration(ctx, j.cfg.FirstGeneration, members, p, fp, "")
	if err != nil {
		return nil, model.History{}, fmt.Errorf("coordinator: train: %w", err)
	}
	net, hist, err := j.follow(ctx, g, members, up, disc, ev)
	if err != nil {
		return nil, hist, fmt.Errorf("coordinator: train: job %s: %w", j.cfg.JobID, err)
	}
	return net, hist, nil
}

// discover follows the live workers until stop is called: up gets each
// new list, disc the discovery's error. The returned ctx ends with stop.
func (j *Job) discover(ctx context.Context) (_ context.Context, up <-chan []membership.Member, disc chan error, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	lists := make(chan []membership.Member, 1)
	disc = make(chan error, 1)
	discDone := make(chan struct{})
	go func() {
		defer close(discDone)
		disc <- membership.NewDiscovery(j.cfg.Client, j.cfg.Logger).Run(ctx, lists)
	}()
	// Wait on discDone, not disc: follow may already have taken the
	// discovery's error from disc.
	return ctx, lists, disc, func() { cancel(); <-discDone }
}

// AwaitStartable blocks until the job could start: Config.StartWorkers
// of its candidates are live and free. It claims none of them, so another
// job may still take them first; Train then waits as before. A Server
// calls it before it reads and prepares a submitted job's data, so a
// queue of PENDING jobs holds no data in the leader's memory.
func (j *Job) AwaitStartable(ctx context.Context) error {
	ctx, up, disc, stop := j.discover(ctx)
	defer stop()
	got, err := j.awaitWorkers(ctx, up, disc)
	if err != nil {
		return fmt.Errorf("coordinator: job %s: %w", j.cfg.JobID, err)
	}
	j.release(got)
	return nil
}

// awaitWorkers returns the first generation's workers, sorted by name: as
// many candidates as it can get, up to Config.Workers, once it can get
// Config.StartWorkers. Meanwhile the record's message says how many it
// has and needs (see waitingMessage).
func (j *Job) awaitWorkers(ctx context.Context, up <-chan []membership.Member, disc <-chan error) ([]membership.Member, error) {
	t := time.NewTimer(j.cfg.StartTimeout)
	defer t.Stop()
	have := 0
	var live []membership.Member
	said := ""
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-disc:
			return nil, fmt.Errorf("watch workers: %w", err)
		case <-t.C:
			return nil, fmt.Errorf("%d of %d workers available within %v", have, j.cfg.StartWorkers, j.cfg.StartTimeout)
		case live = <-up:
		case <-j.poolChanged():
		}
		cands := j.candidates(live, nil)
		// All or nothing: not enough yet leaves them to other jobs.
		got, free := j.take(cands, j.cfg.Workers, j.cfg.StartWorkers)
		have = free
		if len(got) >= j.cfg.StartWorkers {
			slices.SortFunc(got, func(a, b membership.Member) int { return strings.Compare(a.Name, b.Name) })
			return got, nil
		}
		if err := j.sayWaiting(ctx, &said, waitingMessage(len(cands), free, j.cfg.StartWorkers)); err != nil {
			return nil, err
		}
	}
}

// waitingMessage is the record's message while a job waits for workers:
// live is how many eligible workers are registered, free how many of
// them no other job holds, need how many the job waits for.
func waitingMessage(live, free, need int) string {
	if busy := live - free; busy > 0 {
		return fmt.Sprintf("waiting for workers: %d live (%d busy with other jobs), needs %d", live, busy, need)
	}
	return fmt.Sprintf("waiting for workers: %d live, needs %d", live, need)
}

// sayWaiting records msg as the job's message unless *said already holds
// it, so that a status rewritten every few seconds costs no write. Only a
// cancellation (Jobs.Cancel ended the record) is an error: a message that
// could not be written is logged and the job waits on.
func (j *Job) sayWaiting(ctx context.Context, said *string, msg string) error {
	if msg == *said {
		return nil
	}
	err := j.put(ctx, func(r *cohortv1.Job) { r.Message = msg })
	if errors.Is(err, context.Canceled) {
		return err
	}
	if err != nil {
		j.cfg.Logger.Warn("coordinator: record why the job waits", "job", j.cfg.JobID, "err", err)
		return nil
	}
	*said = msg
	// Debug: status and watch show it; at info, cohort train --workers
	// would print it among its progress lines while its workers start.
	j.cfg.Logger.Debug("coordinator: job waits for workers", "job", j.cfg.JobID, "message", msg)
	return nil
}

// poolChanged fires when another job of the Server frees workers (nil,
// which never fires, without a Server).
func (j *Job) poolChanged() <-chan struct{} {
	if j.cfg.PoolChanged == nil {
		return nil
	}
	return j.cfg.PoolChanged()
}

// release gives back workers the job claimed but does not use.
func (j *Job) release(ms []membership.Member) {
	if j.cfg.Release != nil && len(ms) > 0 {
		j.cfg.Release(memberNames(ms))
	}
}

// candidates are the live workers outside members that the job may take
// in: named in Config.WorkerNames when that is set, with a ring address;
// Config.Prefer's first, then by name.
func (j *Job) candidates(live, members []membership.Member) []membership.Member {
	var out []membership.Member
	for _, m := range live {
		if slices.ContainsFunc(members, func(p membership.Member) bool { return p.Name == m.Name }) ||
			len(j.cfg.WorkerNames) > 0 && !slices.Contains(j.cfg.WorkerNames, m.Name) {
			continue
		}
		st := &cohortv1.WorkerStatus{}
		if cohortv1.UnmarshalRecord(m.Status, st) != nil || st.GetRingAddr() == "" {
			continue
		}
		out = append(out, m)
	}
	pref := func(m membership.Member) int {
		if slices.Contains(j.cfg.Prefer, m.Name) {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(out, func(a, b membership.Member) int { return pref(a) - pref(b) })
	return out
}

// take claims up to n of the candidates, in order, through Config.Claim,
// if at least atLeast of them are free; free is how many were.
func (j *Job) take(cands []membership.Member, n, atLeast int) (got []membership.Member, free int) {
	if n <= 0 {
		return nil, 0
	}
	if j.cfg.Claim == nil {
		if len(cands) < atLeast {
			return nil, len(cands)
		}
		return cands[:min(len(cands), n)], len(cands)
	}
	names, free := j.cfg.Claim(memberNames(cands), n, atLeast)
	return slices.DeleteFunc(slices.Clone(cands), func(m membership.Member) bool { return !slices.Contains(names, m.Name) }), free
}

// planFingerprint is p's fingerprint for the plans (GenerationPlan.fingerprint),
// computed once per job: it hashes the training and validation matrices.
// One over the plan's bound (long feature names or paths) is left out with
// a warning: the job trains as before fingerprints, its checkpoints
// checked on resume by what their state shows.
func (j *Job) planFingerprint(p *job.Prepared) ([]byte, error) {
	fp, err := p.Fingerprint()
	if err != nil {
		return nil, err
	}
	if len(fp) > cohortv1.MaxFingerprintLen {
		j.cfg.Logger.Warn("coordinator: the run's fingerprint exceeds a plan's bound; the workers' checkpoints carry none",
			"job", j.cfg.JobID, "bytes", len(fp), "max", cohortv1.MaxFingerprintLen)
		return nil, nil
	}
	return fp, nil
}

// startGeneration plans generation gen over members and writes the plan
// and the RUNNING job to etcd in one transaction. fp is the run's
// fingerprint (planFingerprint), which rank 0 saves in its checkpoints;
// why, "" for a job's first generation, says why the generation changed
// ("worker w1 lost its lease"): the record's message keeps it, as
// "generation N: why", for status and the watchers' events.
func (j *Job) startGeneration(ctx context.Context, gen uint64, members []membership.Member, p *job.Prepared, fp []byte, why string) (*generation, error) {
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.Name
	}
	plan, err := NewPlan(j.cfg.JobID, gen, names)
	if err != nil {
		return nil, err
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	g := &generation{plan: plan, members: members, prep: p, fingerprint: fp, token: token, train: shardRows(plan, p.Train), val: shardRows(plan, p.Val),
		reports: make(chan *cohortv1.ReportRequest, 16), done: make(chan struct{})}
	gp := &cohortv1.GenerationPlan{JobId: j.cfg.JobID, Generation: gen, CoordinatorAddr: j.Addr(),
		Model: cohortv1.ModelConfigOf(p.Spec.Model.WithDefaults()), Threads: uint32(j.cfg.Threads), TimeoutMs: uint32(j.cfg.Timeout.Milliseconds()),
		CheckpointEvery: uint32(j.cfg.CheckpointEvery), CheckpointDir: j.cfg.CheckpointDir, ChecksumEvery: uint32(j.cfg.ChecksumEvery),
		ResumeFrom: j.lastCheckpoint(), Fingerprint: fp, Token: token}
	for _, m := range members { // sorted by name, so index = rank
		st := &cohortv1.WorkerStatus{}
		if err := cohortv1.UnmarshalRecord(m.Status, st); err != nil || st.GetRingAddr() == "" {
			return nil, fmt.Errorf("worker %s: status %q has no ring address (%v)", m.Name, m.Status, err)
		}
		gp.Workers = append(gp.Workers, &cohortv1.PlanWorker{Name: m.Name, RingAddr: st.GetRingAddr()})
	}
	raw, err := protojson.Marshal(gp)
	if err != nil {
		return nil, fmt.Errorf("encode plan: %w", err)
	}
	j.mu.Lock()
	j.gen = g
	j.mu.Unlock()
	err = j.put(ctx, func(r *cohortv1.Job) {
		r.State, r.Generation, r.Workers = cohortv1.JobState_JOB_STATE_RUNNING, gen, uint32(len(members))
		r.Message = ""
		if why != "" {
			r.Message = cohortv1.Clip(fmt.Sprintf("generation %d: %s", gen, why), cohortv1.MaxReasonLen)
		}
		if r.Spec.GetSource() == nil {
			r.Spec.Source = &cohortv1.JobSpec_DataPath{DataPath: p.Spec.Data}
		}
		if r.Spec.OutDir == "" {
			r.Spec.OutDir = p.Spec.Out
		}
		// The effective configuration, defaults filled, so status can
		// show e.g. the epochs a job will run.
		r.Spec.Model = gp.Model
		if r.StartedAt == nil {
			r.StartedAt = timestamppb.Now()
		}
	}, clientv3.OpPut(membership.GenerationKey(j.cfg.JobID, gen), string(raw)))
	if err != nil {
		return nil, err
	}
	j.cfg.Logger.Debug("coordinator: generation started", "job", j.cfg.JobID, "generation", gen, "workers", strings.Join(names, ","))
	return g, nil
}

// shardRows splits the row numbers of customers by the plan's owner of
// each customer id.
func shardRows(plan *Plan, customers []*clv.Customer) [][]int {
	out := make([][]int, len(plan.Workers))
	for i, c := range customers {
		r := plan.Owner(c.ID)
		out[r] = append(out[r], i)
	}
	return out
}

// progress records an epoch in etcd and hands it to the caller.
func (j *Job) progress(ctx context.Context, g *generation, st model.EpochStats, sps, gbps float64, ev job.Events) {
	if err := j.put(ctx, func(r *cohortv1.Job) {
		r.Epoch, r.Step, r.Loss, r.ValLoss, r.SamplesPerSecond = uint32(st.Epoch), uint64(st.Steps), st.TrainLoss, st.ValLoss, sps
		r.AllreduceGbps = gbps
	}); err != nil {
		j.cfg.Logger.Warn("coordinator: record progress", "job", j.cfg.JobID, "err", err)
	}
	if ev.Epoch != nil {
		ev.Epoch(st)
	}
	if j.cfg.OnProgress != nil {
		j.cfg.OnProgress(Progress{Generation: g.plan.Generation, Workers: len(g.plan.Workers), Epoch: st, SamplesPerSecond: sps,
			AllreduceGBps: gbps})
	}
}

// lostWorkers names the plan's members missing from the live list, or
// registered again under another lease (a restarted process).
func lostWorkers(plan, live []membership.Member) []string {
	var lost []string
	for _, m := range plan {
		i := slices.IndexFunc(live, func(l membership.Member) bool { return l.Name == m.Name })
		if i < 0 || live[i].Lease != m.Lease {
			lost = append(lost, m.Name)
		}
	}
	return lost
}

// finalModel assembles rank 0's final report into a Model and History.
func finalModel(p *job.Prepared, f *cohortv1.FinalModel) (*model.Model, model.History, error) {
	hist := model.History{BestEpoch: int(f.GetBestEpoch()), BestValLoss: f.GetBestValLoss(), StoppedEarly: f.GetStoppedEarly()}
	for _, e := range f.GetEpochs() {
		hist.Epochs = append(hist.Epochs, epochStats(e))
	}
	cfg := p.Spec.Model.WithDefaults()
	layout, err := cfg.Layout(p.TrainData.Cols)
	if err != nil {
		return nil, hist, fmt.Errorf("final model: %w", err)
	}
	params, err := decodeFloats(f.GetParams())
	if err != nil {
		return nil, hist, fmt.Errorf("final model: params: %w", err)
	}
	pipe := model.Pipeline{FeatureNames: p.Dataset.FeatureNames, Log1p: p.Dataset.Log1p, Mean: f.GetMean(), Std: f.GetStd()}
	net, err := model.NewModel(cfg, layout, pipe, params)
	if err != nil {
		return nil, hist, fmt.Errorf("final model: %w", err)
	}
	return net, hist, nil
}

func epochStats(e *cohortv1.EpochStats) model.EpochStats {
	return model.EpochStats{Epoch: int(e.GetEpoch()), TrainLoss: e.GetTrainLoss(), ValLoss: e.GetValLoss(), Best: e.GetBest(),
		LR: e.GetLr(), Steps: int(e.GetSteps()), Wall: time.Duration(e.GetWallNs())}
}
