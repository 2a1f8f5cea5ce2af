package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cohort-clv/cohort/coordinator"
	"github.com/cohort-clv/cohort/membership"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
	"github.com/cohort-clv/cohort/rpcerr"
)

// coordinatorEnv names the environment variable that sets --coordinator's
// default, so a shell pointed at one cluster need not repeat the flag.
const coordinatorEnv = "COHORT_COORDINATOR"

// defaultCoordinator is where `cohort up` serves the Jobs API.
const defaultCoordinator = "127.0.0.1:7070"

// Backoff between rounds over the coordinator list: long enough not to spin
// while a standby takes over (a lease TTL, seconds), short enough that the
// CLI notices the new leader soon after.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// refuseGrace is how long the CLI keeps trying while every --coordinator
// address refuses the connection and none has ever answered: nothing
// listens there, and waiting out --timeout (meant for a failover, where a
// standby answers NOT_LEADER meanwhile) would only delay the hint. It is
// the commands that dial etcd give up after (membership.DefaultDialTimeout);
// a few backoff rounds fit in it, so a coordinator that is just starting
// is still found.
const refuseGrace = membership.DefaultDialTimeout

// maxRedirects bounds how many leaders named by standbys ("not the leading
// coordinator; the leader is X") one round dials: two covers a standby
// that names a leader which has just lost the lease to a third coordinator,
// and the bound keeps two standbys naming each other from looping.
const maxRedirects = 2

// jobsFlags say how the job commands (submit, status, watch, cancel) find
// the leading coordinator.
type jobsFlags struct {
	coordinator string
	etcd        etcdFlags
	timeout     time.Duration
	flags       *pflag.FlagSet // to tell a --coordinator given from its default
}

func (f *jobsFlags) bind(cmd *cobra.Command) {
	fs := cmd.Flags()
	def := os.Getenv(coordinatorEnv)
	if def == "" {
		def = defaultCoordinator
	}
	fs.StringVar(&f.coordinator, "coordinator", def,
		"coordinator Jobs API, HOST:PORT[,HOST:PORT...], tried in order until the leader answers; $"+coordinatorEnv+" sets the default")
	f.etcd.bind(fs)
	_ = fs.MarkHidden("lease-ttl") // the job commands hold no lease
	fs.Lookup("etcd").Usage = "find the leading coordinator through the election in this etcd cluster instead of --coordinator"
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second,
		"how long to keep retrying while no coordinator leads (a failover takes a lease TTL); "+
			"when every --coordinator address refuses connections and none ever answered, give up after "+refuseGrace.String())
	f.flags = fs
}

// hintFlags repeats the flags that chose the coordinator, so a printed
// follow-up command ("cohort watch ID ...") reaches the same cluster.
func (f *jobsFlags) hintFlags(fs *pflag.FlagSet) string {
	var b strings.Builder
	for _, name := range []string{"coordinator", "etcd", "etcd-cacert", "etcd-cert", "etcd-key", "etcd-user"} {
		if fl := fs.Lookup(name); fl != nil && fl.Changed {
			fmt.Fprintf(&b, " --%s %s", name, fl.Value.String())
		}
	}
	return b.String()
}

// jobsClient calls the Jobs API of whichever coordinator leads, retrying
// across coordinators and through a failover.
type jobsClient struct {
	addrs   []string         // --coordinator, in order; nil with --etcd
	etcd    *clientv3.Client // with --etcd: where the election is read
	timeout time.Duration
	conns   map[string]*grpc.ClientConn
	refused *refusals
	// answered says a coordinator has answered this client (a standby's
	// NOT_LEADER counts): from then on a refused connection is a
	// coordinator going away mid-failover, retried for --timeout.
	answered bool
	// standby is the latest standby that answered NOT_LEADER, and the
	// leader it named ("" when it knew none), for the error if no leader
	// answers in time.
	standby struct{ addr, leader string }
}

// refusals records, per coordinator address, whether the last dial to it
// was refused (nothing listens there). gRPC dials in its own goroutines.
type refusals struct {
	mu sync.Mutex
	m  map[string]bool
}

func (r *refusals) note(addr string, refused bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[addr] = refused
}

func (r *refusals) is(addr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[addr]
}

// newJobsClient validates the flags and, with --etcd, dials etcd. The
// caller must Close it.
func newJobsClient(ctx context.Context, f *jobsFlags) (*jobsClient, error) {
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %v: want a positive duration such as 30s", f.timeout)
	}
	c := &jobsClient{timeout: f.timeout, conns: map[string]*grpc.ClientConn{}, refused: &refusals{m: map[string]bool{}}}
	if f.etcd.endpoints != "" && f.flags != nil && f.flags.Changed("coordinator") {
		return nil, fmt.Errorf("--coordinator and --etcd both say where the coordinator is: give one")
	}
	if f.etcd.endpoints != "" {
		cli, err := membership.Dial(ctx, f.etcd.config())
		if err != nil {
			return nil, fmt.Errorf("--etcd: %w", err)
		}
		c.etcd = cli
		return c, nil
	}
	for _, a := range strings.Split(f.coordinator, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.addrs = append(c.addrs, a)
		}
	}
	if len(c.addrs) == 0 {
		return nil, fmt.Errorf("--coordinator %q: want HOST:PORT[,HOST:PORT...], such as %s", f.coordinator, defaultCoordinator)
	}
	return c, nil
}

// Close closes every connection the client opened.
func (c *jobsClient) Close() {
	for _, cc := range c.conns {
		cc.Close()
	}
	if c.etcd != nil {
		c.etcd.Close()
	}
}

// errNoLeader is what a round finds when the election is empty: retried,
// since a coordinator may be starting.
var errNoLeader = fmt.Errorf("no coordinator leads the election at %s: %w", membership.ElectionPrefix, rpcerr.ErrUnavailable)

// candidates returns the addresses to try this round: the --coordinator
// list, or the leader the etcd election names now.
func (c *jobsClient) candidates(ctx context.Context) ([]string, error) {
	if c.etcd == nil {
		return c.addrs, nil
	}
	l, err := membership.CurrentLeader(ctx, c.etcd)
	if errors.Is(err, membership.ErrNoLeader) {
		return nil, errNoLeader
	}
	if err != nil {
		return nil, fmt.Errorf("read the coordinator election: %w", err)
	}
	_, addr, err := membership.ParseCoordinatorValue(l.Value)
	if err != nil {
		return nil, err
	}
	return []string{addr}, nil
}

// conn returns the (lazily connecting) client connection to addr.
func (c *jobsClient) conn(addr string) (cohortv1.JobsClient, error) {
	cc, ok := c.conns[addr]
	if !ok {
		var err error
		cc, err = grpc.NewClient(addr,
			grpc.WithContextDialer(func(ctx context.Context, target string) (net.Conn, error) {
				conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", target)
				c.refused.note(addr, errors.Is(err, syscall.ECONNREFUSED))
				return conn, err
			}),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDisableServiceConfig(), // no DNS TXT lookup per connection (see allreduce)
			grpc.WithChainUnaryInterceptor(rpcerr.UnaryClientInterceptor()),
			grpc.WithChainStreamInterceptor(rpcerr.StreamClientInterceptor()))
		if err != nil {
			return nil, fmt.Errorf("coordinator address %q: %w", addr, err)
		}
		c.conns[addr] = cc
	}
	return cohortv1.NewJobsClient(cc), nil
}

// retriable says whether another coordinator, or the same one later, may
// answer: a standby (NOT_LEADER), a coordinator that is down or starting
// (UNAVAILABLE), or no leader elected yet.
func retriable(err error) bool {
	return errors.Is(err, rpcerr.ErrNotLeader) || errors.Is(err, rpcerr.ErrUnavailable) ||
		rpcerr.Code(err) == codes.Unavailable
}

// attempt is one try of an operation on one coordinator. It calls progress
// once it has got something worth keeping (a watch's first event): the
// retry clock starts again from then, so a watch can run for days and
// still ride out a failover.
type attempt func(ctx context.Context, cli cohortv1.JobsClient, progress func()) error

// call runs a unary RPC on the leading coordinator.
func (c *jobsClient) call(ctx context.Context, op string, rpc func(ctx context.Context, cli cohortv1.JobsClient) error) error {
	return c.retry(ctx, op, func(ctx context.Context, cli cohortv1.JobsClient, _ func()) error { return rpc(ctx, cli) })
}

// retry runs try on each candidate in order, moving on when it fails with
// a retriable error, and goes round the list again with backoff until one
// succeeds, one fails for good, or --timeout passes without progress. An
// attempt that has made no progress by then is cancelled. When every
// --coordinator address has refused the connection for refuseGrace and
// none ever answered, it gives up early: nothing listens there.
func (c *jobsClient) retry(ctx context.Context, op string, try attempt) error {
	began := time.Now()
	deadline := began.Add(c.timeout)
	backoff := minBackoff
	var last error
	var tried []string
	for {
		allRefused := c.etcd == nil // --etcd: the election names live leaders
		cctx, cancel := context.WithDeadline(ctx, deadline)
		addrs, err := c.candidates(cctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", op, ctx.Err())
			}
			if errors.Is(err, context.DeadlineExceeded) {
				if last == nil {
					last = err
				}
				return c.giveUp(op, tried, last)
			}
			if !retriable(err) {
				return fmt.Errorf("%s: %w", op, err)
			}
			last = err
		}
		progressed := false
		// A standby names the leader: dial it next, in this round, rather
		// than waiting for the leader to turn up in the list.
		queue := slices.Clone(addrs)
		redirects := 0
		for i := 0; i < len(queue); i++ {
			addr := queue[i]
			cli, err := c.conn(addr)
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			actx, cancel := context.WithCancelCause(ctx)
			timer := time.AfterFunc(time.Until(deadline), func() { cancel(context.DeadlineExceeded) })
			made := false
			err = try(actx, cli, func() {
				if !made {
					made = true
					timer.Stop()
				}
			})
			timer.Stop()
			timedOut := context.Cause(actx) == context.DeadlineExceeded && ctx.Err() == nil
			cancel(nil)
			if err == nil {
				c.answered = true
				return nil
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", op, ctx.Err())
			}
			if timedOut {
				// Cut off by --timeout: the error of an earlier try, if
				// any, says more than "deadline exceeded".
				if last == nil {
					last = fmt.Errorf("%s: no answer: %w", addr, context.DeadlineExceeded)
				}
				return c.giveUp(op, append(tried, addr), last)
			}
			if !retriable(err) {
				return fmt.Errorf("%s: %w", op, err)
			}
			if errors.Is(err, rpcerr.ErrNotLeader) || made {
				c.answered = true
			}
			if errors.Is(err, rpcerr.ErrNotLeader) {
				// The status detail first; the text for coordinators that
				// predate it.
				leader := cmp.Or(coordinator.LeaderFromError(err), namedLeader(err))
				c.standby.addr, c.standby.leader = addr, leader
				if leader != "" && redirects < maxRedirects && !slices.Contains(queue, leader) {
					queue = slices.Insert(queue, i+1, leader)
					redirects++
				}
			}
			if !c.refused.is(addr) {
				allRefused = false // something is there, or the network is in the way: wait it out
			}
			if !slices.Contains(tried, addr) {
				tried = append(tried, addr)
			}
			last = fmt.Errorf("%s: %w", addr, err)
			if made {
				// The stream broke after delivering events: start over
				// at once, from the first address, with a fresh clock.
				progressed = true
				break
			}
		}
		if progressed {
			deadline = time.Now().Add(c.timeout)
			backoff = minBackoff
			continue
		}
		if allRefused && !c.answered && len(queue) > 0 && time.Since(began) >= refuseGrace {
			return c.nothingListens(op, last, time.Since(began))
		}
		wait := min(backoff, time.Until(deadline))
		if wait <= 0 {
			return c.giveUp(op, tried, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", op, ctx.Err())
		case <-time.After(wait):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// leaderIs is how a standby's NOT_LEADER error names the leader
// (coordinator.JobsService.notLeader): "...; the leader is HOST:PORT".
const leaderIs = "; the leader is "

// namedLeader returns the leader's address a standby's NOT_LEADER error
// names, or "" when it names none (the standby knows no leader either).
func namedLeader(err error) string {
	msg := err.Error()
	i := strings.LastIndex(msg, leaderIs)
	if i < 0 {
		return ""
	}
	addr, _, _ := strings.Cut(msg[i+len(leaderIs):], " ")
	addr = strings.TrimRight(addr, ";,)")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return ""
	}
	return addr
}

// nothingListens is the error when every --coordinator address refused
// the connection for refuseGrace: no coordinator runs there. gRPC's own
// text of the refusal adds nothing to "connection refused", so it is only
// wrapped, not printed.
func (c *jobsClient) nothingListens(op string, last error, after time.Duration) error {
	return &codeError{code: exitUnreachable, err: &quietError{err: last, msg: fmt.Sprintf("%s: no coordinator listens at --coordinator %s (connection refused for %v); "+
		"is `cohort up` running? point the CLI at it with --coordinator HOST:PORT, $%s, or --etcd ENDPOINTS",
		op, strings.Join(c.addrs, ","), after.Round(time.Second), coordinatorEnv)}}
}

// quietError says msg and wraps err without repeating its text, for an
// error whose cause's text is noise to the user but whose identity
// (errors.Is) callers may test.
type quietError struct {
	err error
	msg string
}

func (e *quietError) Error() string { return e.msg }
func (e *quietError) Unwrap() error { return e.err }

// giveUp is the error when no coordinator answered as leader in time; it
// says where the CLI looked and how to point it elsewhere. When a
// coordinator did answer (a standby), the cluster runs: it says what the
// standby said rather than asking whether cohort up runs.
func (c *jobsClient) giveUp(op string, tried []string, last error) error {
	if last == nil {
		last = context.DeadlineExceeded
	}
	where := "--coordinator " + strings.Join(c.addrs, ",")
	if c.etcd != nil {
		where = "the leader elected in --etcd"
	}
	if len(tried) > 0 && c.etcd != nil {
		where += " (" + strings.Join(tried, ",") + ")"
	}
	msg := fmt.Sprintf("%s: no leading coordinator answered at %s within --timeout %v", op, where, c.timeout)
	hint := fmt.Sprintf("is `cohort up` running? point the CLI at it with --coordinator HOST:PORT, $%s, or --etcd ENDPOINTS", coordinatorEnv)
	switch s := c.standby; {
	case s.addr != "" && s.leader != "":
		msg += fmt.Sprintf(": %s is a standby; the leader is %s, which did not answer", s.addr, s.leader)
		hint = fmt.Sprintf("check that %s (the address the leader advertises) is reachable from here, or give a reachable one with --coordinator", s.leader)
	case s.addr != "":
		msg += fmt.Sprintf(": %s is a standby and knows no leader", s.addr)
		hint = "the coordinators run but none leads: an election takes up to a lease TTL; try again, or raise --timeout"
	case c.answered:
		hint = "a coordinator answered before, so the cluster runs: try again, or raise --timeout to ride out a longer failover"
	}
	return &codeError{code: exitUnreachable, err: fmt.Errorf("%s (last error: %w); %s", msg, last, hint)}
}
