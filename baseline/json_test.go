package baseline

import (
	"encoding/json"
	"testing"
)

// TestParamsJSON ensures parameters are written under the literature's
// lower-case names, as metrics.json names them, and that model files
// written before the tags existed (Go field names) still read.
func TestParamsJSON(t *testing.T) {
	b, err := json.Marshal(struct {
		BG BGNBD
		GG GammaGamma
		PN ParetoNBD
	}{BGNBD{1, 2, 3, 4}, GammaGamma{5, 6, 7}, ParetoNBD{8, 9, 10, 11}})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"BG":{"r":1,"alpha":2,"a":3,"b":4},"GG":{"p":5,"q":6,"v":7},"PN":{"r":8,"alpha":9,"s":10,"beta":11}}`
	if string(b) != want {
		t.Errorf("marshal: %s, want %s", b, want)
	}
	var old struct {
		BG BGNBD
		GG GammaGamma
	}
	if err := json.Unmarshal([]byte(`{"BG":{"R":1,"Alpha":2,"A":3,"B":4},"GG":{"P":5,"Q":6,"V":7}}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.BG != (BGNBD{1, 2, 3, 4}) || old.GG != (GammaGamma{5, 6, 7}) {
		t.Errorf("old field names read as %+v %+v", old.BG, old.GG)
	}
}
