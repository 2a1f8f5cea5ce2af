package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// lister is the part of the etcd client Discovery uses; tests wrap a real
// client to inject watch failures.
type lister interface {
	Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error)
	Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan
	Ctx() context.Context
}

// Discovery follows the live workers by watching their keys.
type Discovery struct {
	cli lister
	log *slog.Logger
}

// NewDiscovery returns a Discovery over cli. It logs watch breaks (at
// debug, since they heal) to lg; nil means slog.Default().
func NewDiscovery(cli *clientv3.Client, lg *slog.Logger) *Discovery {
	return newDiscovery(cli, lg)
}

func newDiscovery(cli lister, lg *slog.Logger) *Discovery {
	if lg == nil {
		lg = slog.Default()
	}
	return &Discovery{cli: cli, log: lg}
}

// Run sends on up the full list of live workers, sorted by name: first the
// current list, then a new one after every change (a join, a leave, a
// status update). Each list is a fresh slice the receiver owns.
//
// Changes are never lost: Run reads the list at a revision and watches from
// the next one. When the watch breaks (etcd compacted the revisions it
// needed, the member it talks to lost its leader, a connection dropped), it
// reads the list again and carries on; a list equal to the last one sent is
// not sent again. While the receiver is slow, newer lists replace the one
// waiting to be sent, so the receiver always gets the latest state and
// never a backlog.
//
// Run returns ctx.Err() when ctx is done, or an error when the client is
// closed. It never closes up, which belongs to the caller.
func (d *Discovery) Run(ctx context.Context, up chan<- []Member) error {
	ctx = clientv3.WithRequireLeader(ctx)
	var sent []Member // nil until the first send: the first list is always sent
	wait := backoff{min: 50 * time.Millisecond, max: time.Second}
	for {
		resp, err := d.cli.Get(ctx, WorkersPrefix, clientv3.WithPrefix())
		if err == nil {
			wait.reset()
			members := make(map[string]Member, len(resp.Kvs))
			for _, kv := range resp.Kvs {
				m := memberOf(kv)
				members[m.Name] = m
			}
			wctx, cancel := context.WithCancel(ctx)
			wch := d.cli.Watch(wctx, WorkersPrefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
			err = d.follow(ctx, wch, members, up, &sent)
			cancel()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.cli.Ctx().Err() != nil {
			return fmt.Errorf("membership: discovery: client closed: %w", err)
		}
		d.log.Debug("membership: worker watch broke; listing again", "err", err)
		if err := wait.sleep(ctx); err != nil {
			return err
		}
	}
}

// follow applies watch events to members and offers each new list on up
// until the watch breaks or ctx ends; it returns why.
//
// With a thousand workers rewriting their status every few seconds, events
// are the common case, so each is applied where it lands: a put equal to
// what is known (a status rewritten unchanged) changes nothing, and any
// other is found by binary search in the sorted list, which is copied only
// when the receiver already owns it. Nothing is listed again and nothing
// re-sorted.
func (d *Discovery) follow(ctx context.Context, wch clientv3.WatchChan, members map[string]Member, up chan<- []Member, sent *[]Member) error {
	next := sortedMembers(members)
	owned := true // next is not sent yet: it may be changed in place
	pending := *sent == nil || !slices.EqualFunc(next, *sent, Member.equal)
	for {
		var out chan<- []Member // nil, so never ready, while there is nothing new
		if pending {
			out = up
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case out <- next:
			*sent, owned, pending = next, false, false
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch channel closed")
			}
			if err := wr.Err(); err != nil {
				return err
			}
			changed := false
			for _, ev := range wr.Events {
				name := strings.TrimPrefix(string(ev.Kv.Key), WorkersPrefix)
				if ev.Type == clientv3.EventTypeDelete {
					if _, ok := members[name]; !ok {
						continue
					}
					delete(members, name)
				} else {
					m := memberOf(ev.Kv)
					if old, ok := members[name]; ok && old.equal(m) {
						continue
					}
					members[name] = m
				}
				if !owned {
					next, owned = slices.Clone(next), true
				}
				next = applyEvent(next, name, members)
				changed = true
			}
			if changed {
				// A change and its undoing between two sends (a status
				// flipping back) leave nothing new to send; the first list
				// is always sent.
				pending = *sent == nil || !slices.EqualFunc(next, *sent, Member.equal)
			}
		}
	}
}

// applyEvent makes the sorted list ms agree with members on name: it
// replaces, inserts or removes that one entry, in place.
func applyEvent(ms []Member, name string, members map[string]Member) []Member {
	i, found := slices.BinarySearchFunc(ms, name, func(m Member, name string) int { return strings.Compare(m.Name, name) })
	m, live := members[name]
	switch {
	case live && found:
		ms[i] = m
	case live:
		ms = slices.Insert(ms, i, m)
	case found:
		ms = slices.Delete(ms, i, i+1)
	}
	return ms
}

func sortedMembers(members map[string]Member) []Member {
	out := make([]Member, 0, len(members))
	for _, m := range members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// backoff spaces out retries: min after the first failure, doubling to max.
type backoff struct {
	min, max, next time.Duration
}

func (b *backoff) reset() { b.next = 0 }

// sleep waits for the next delay or until ctx is done.
func (b *backoff) sleep(ctx context.Context) error {
	b.next = min(max(2*b.next, b.min), b.max)
	t := time.NewTimer(b.next)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
