package cohortv1

import (
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// UnmarshalRecord decodes a record that a cohort process stored in etcd
// (protojson), ignoring fields this binary does not know. During a rolling
// upgrade a newer coordinator may write fields (a job's message, say) that
// older workers and coordinators still read; strict decoding would make them
// fail on every such record. User input (job.yaml) stays strict.
func UnmarshalRecord(b []byte, m proto.Message) error {
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
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
