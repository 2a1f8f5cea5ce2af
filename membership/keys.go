// Package membership keeps cohort's cluster state in etcd: which workers are
// alive, which coordinator leads, and where each job stands.
//
// A process proves it is alive by holding a [Session], a lease that etcd
// forgets a few seconds after the process stops refreshing it. Everything a
// process owns because it is alive (its worker key, its candidacy) is written
// under that lease, so a crash, a kill -9 or a network cut removes it without
// anyone having to clean up. Others learn of it by watching, never by polling:
// [Discovery] turns the watch into sorted member lists and [Election] turns it
// into a leader.
//
// With no cluster to join, [StartEmbedded] runs a single-member etcd inside
// the process; [StartMember] runs a member of a real cluster (cohort etcd).
//
// # Key layout
//
// Every key lives under [Root]. The layout is part of cohort's contract
// between coordinators and workers, which never import each other:
//
//	/cohort/workers/<name>               a live worker; value: its status (≤ MaxStatusBytes); leased
//	/cohort/coordinator/election/<lease> a coordinator's candidacy (concurrency.Election); leased
//	/cohort/jobs/<id>                    a job: spec and state, written by the leading coordinator
//	/cohort/jobs/<id>/gen/<g>            the plan of generation g of job id (ring order, shards)
//	/cohort/jobs/<id>/checkpoint         the pointer to the job's last complete checkpoint
//
// Job keys carry no lease: a job outlives the coordinator that wrote it, which
// is what lets a standby take it over. The leading coordinator removes a
// finished job's keys once its retention has passed (coordinator.Retention).
package membership

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Key prefixes. They end in "/" so that a prefix read of one never matches a
// sibling ("/cohort/workers/a" must not match "/cohort/workers-old/...").
const (
	// Root is the prefix of every key cohort writes.
	Root = "/cohort/"
	// WorkersPrefix holds one leased key per live worker.
	WorkersPrefix = Root + "workers/"
	// JobsPrefix holds jobs and, below each job, its generations and checkpoint pointer.
	JobsPrefix = Root + "jobs/"
	// CoordinatorPrefix holds coordinator state; the election lives below it.
	CoordinatorPrefix = Root + "coordinator/"
	// ElectionPrefix is the concurrency.Election prefix coordinators campaign on.
	// concurrency.Election appends "/" and the candidate's lease ID in hex.
	ElectionPrefix = CoordinatorPrefix + "election"
)

// Limits on names and values, so a bad caller cannot fill etcd (whose
// requests are capped at 1.5 MiB) or break the key layout.
const (
	// MaxNameBytes bounds worker names and job IDs.
	MaxNameBytes = 128
	// MaxStatusBytes bounds a worker's status: a thousand workers then cost at
	// most 4 MiB per full listing.
	MaxStatusBytes = 4096
)

// generationDigits pads generation numbers so that etcd's byte order of keys
// is their numeric order: a prefix read of a job's generations then ends with
// the newest, and gen/10 never sorts before gen/9.
const generationDigits = 20

// WorkerKey returns the key of worker name.
func WorkerKey(name string) string { return WorkersPrefix + name }

// JobKey returns the key of job id.
func JobKey(id string) string { return JobsPrefix + id }

// GenerationsPrefix returns the prefix of every generation plan of job id.
func GenerationsPrefix(id string) string { return JobKey(id) + "/gen/" }

// GenerationKey returns the key of generation g of job id.
func GenerationKey(id string, g uint64) string {
	return fmt.Sprintf("%s%0*d", GenerationsPrefix(id), generationDigits, g)
}

// CheckpointKey returns the key of job id's checkpoint pointer.
func CheckpointKey(id string) string { return JobKey(id) + "/checkpoint" }

// ValidName returns nil if s may be used as a worker name or job ID: 1 to
// MaxNameBytes bytes of letters, digits, '.', '_' and '-'. Otherwise its
// error names what is wrong, for flag and file validation. A '/' would move
// the key to another place in the layout, so it is refused.
func ValidName(s string) error {
	if s == "" {
		return fmt.Errorf("membership: empty name")
	}
	if len(s) > MaxNameBytes {
		return fmt.Errorf("membership: name %.20q... is %d bytes, want at most %d", s, len(s), MaxNameBytes)
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Errorf("membership: name %q: byte %d is %q, want letters, digits, '.', '_' or '-'", s, i, r)
	}
	return nil
}
