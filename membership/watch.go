package membership

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrStopWatch, returned by a Follow handler, ends Follow with nil.
var ErrStopWatch = errors.New("membership: stop watching")

// Follow calls handle for every event on key (opts as for Watch, e.g.
// clientv3.WithPrefix) from revision rev on, in order, until ctx ends
// (ctx.Err()), handle returns an error (that error; ErrStopWatch gives
// nil) or the client closes.
//
// A plain etcd watch ends when the member it streams from is stopped or
// loses its leader (WithRequireLeader), and a loop over its channel then
// silently misses every later event: in the chaos run a worker stopped
// following plans when one etcd member of three went down. Follow watches
// again, from the revision after the last event it handled, so no event is
// lost or repeated across the break.
//
// rev 0 means after the current revision, read first so that a break
// before the first event loses nothing either. If etcd compacted the
// revisions Follow needs, it returns an error that wraps
// rpctypes.ErrCompacted: what happened meanwhile must be read again.
func Follow(ctx context.Context, cli *clientv3.Client, key string, rev int64,
	handle func(*clientv3.Event) error, opts ...clientv3.OpOption) error {
	wait := backoff{min: 50 * time.Millisecond, max: time.Second}
	next := rev
	for next <= 0 {
		resp, err := cli.Get(ctx, key, clientv3.WithCountOnly())
		if err == nil {
			next = resp.Header.Revision + 1
			break
		}
		if ctx.Err() != nil || cli.Ctx().Err() != nil {
			return fmt.Errorf("membership: watch %s: read the current revision: %w", key, err)
		}
		if err := wait.sleep(ctx); err != nil {
			return err
		}
	}
	for {
		err := followOnce(ctx, cli, key, &next, handle, &wait, opts)
		switch {
		case errors.Is(err, ErrStopWatch):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, rpctypes.ErrCompacted):
			return fmt.Errorf("membership: watch %s from revision %d: %w", key, next, err)
		case err != nil && !errors.Is(err, errWatchBroke):
			return err // from handle
		case cli.Ctx().Err() != nil:
			return fmt.Errorf("membership: watch %s: client closed: %w", key, cli.Ctx().Err())
		}
		if err := wait.sleep(ctx); err != nil {
			return err
		}
	}
}

// errWatchBroke marks an etcd watch that ended and may be watched again.
var errWatchBroke = errors.New("watch broke")

// followOnce runs one etcd watch from *next, advancing *next past every
// event handled.
func followOnce(ctx context.Context, cli *clientv3.Client, key string, next *int64,
	handle func(*clientv3.Event) error, wait *backoff, opts []clientv3.OpOption) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	all := append([]clientv3.OpOption{clientv3.WithRev(*next)}, opts...)
	for wr := range cli.Watch(wctx, key, all...) {
		if err := wr.Err(); err != nil {
			if wr.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted) {
				return fmt.Errorf("compacted at %d: %w", wr.CompactRevision, rpctypes.ErrCompacted)
			}
			return fmt.Errorf("%w: %v", errWatchBroke, err)
		}
		wait.reset()
		for _, ev := range wr.Events {
			if err := handle(ev); err != nil {
				return err
			}
			*next = ev.Kv.ModRevision + 1
		}
	}
	return errWatchBroke
}
