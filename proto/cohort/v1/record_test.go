package cohortv1

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
)

// TestUnmarshalRecordSkipsUnknownFields ensures a record written by a newer
// binary, with a field this one lacks, still decodes (strict protojson
// refuses it), and that a malformed record is still an error.
func TestUnmarshalRecordSkipsUnknownFields(t *testing.T) {
	newer := []byte(`{"id":"job-1","state":"JOB_STATE_RUNNING","fieldFromTheFuture":"x"}`)
	if err := protojson.Unmarshal(newer, &Job{}); err == nil {
		t.Fatal("strict protojson accepted an unknown field; the test no longer shows why UnmarshalRecord exists")
	}
	var j Job
	if err := UnmarshalRecord(newer, &j); err != nil {
		t.Fatalf("UnmarshalRecord: %v", err)
	}
	if j.GetId() != "job-1" || j.GetState() != JobState_JOB_STATE_RUNNING {
		t.Errorf("decoded %v, want job-1 RUNNING", &j)
	}
	if err := UnmarshalRecord([]byte(`{"id":`), &j); err == nil {
		t.Error("a truncated record decoded without error")
	}
}
