package cohortv1

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-clv/cohort/rpcerr"
)

// UnmarshalRecord decodes a record that a cohort process stored in etcd
// (protojson), ignoring fields this binary does not know. During a rolling
// upgrade a newer coordinator may write fields (a job's message, say) that
// older workers and coordinators still read; strict decoding would make them
// fail on every such record. User input (job.yaml) stays strict.
//
// A record that does not decode, or one over MaxRecordBytes, is an error
// wrapping rpcerr.ErrCorruptRecord (DATA_LOSS on the wire), not gRPC's
// Unknown. Job records and checkpoint pointers are then checked against
// their bounds (a state this binary knows, a step an int holds; see their
// checkRecord), and over-long texts are clipped, so a record that a bug or a
// hand edit put in etcd is refused or cut where it is read, never served
// as it is.
func UnmarshalRecord(b []byte, m proto.Message) error {
	if len(b) > MaxRecordBytes {
		return fmt.Errorf("%w: record of %d bytes, want at most %d", rpcerr.ErrCorruptRecord, len(b), MaxRecordBytes)
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, m); err != nil {
		return fmt.Errorf("%w: %w", rpcerr.ErrCorruptRecord, err)
	}
	if c, ok := m.(recordChecker); ok {
		if p := c.checkRecord(); len(p) > 0 {
			return fmt.Errorf("%w: %s: %w", rpcerr.ErrCorruptRecord, m.ProtoReflect().Descriptor().Name(), errors.Join(p...))
		}
	}
	return nil
}

// Clip cuts s to at most n bytes on a rune boundary and drops any invalid
// UTF-8, so the result fits a string field of n bytes that protobuf will
// encode (an error text quoting a file name may hold any bytes).
func Clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}
