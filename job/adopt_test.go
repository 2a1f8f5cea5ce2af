package job

import (
	"bytes"
	"context"
	"runtime"
	"slices"
	"testing"
	"time"
	"weak"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/model"
	"github.com/cohort-clv/cohort/synth"
)

// loadShop reads a small synthetic shop (78 weeks from 1997-01-01, a 39-week
// holdout) with clv.Load's reader, as Prepare reads one.
func loadShop(t *testing.T, customers int) *clv.Dataset {
	t.Helper()
	cfg := synth.DefaultConfig(synth.BGNBD)
	cfg.Customers = customers
	var buf bytes.Buffer
	if err := synth.WriteCSV(context.Background(), &buf, cfg); err != nil {
		t.Fatalf("generate shop: %v", err)
	}
	h, err := clv.ParseHorizon("39w")
	if err != nil {
		t.Fatal(err)
	}
	opts := clv.Options{CalibrationEnd: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC), Horizon: h}
	ds, err := clv.LoadReader(context.Background(), "shop.csv", bytes.NewReader(buf.Bytes()), opts)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestAdoptHoldsFeaturesOnce ensures adopt moves the customers' features
// into the matrix it builds: each customer's Features is then its row,
// capped at the row, with the values it had; and once every customer of
// the dataset is adopted, as Prepare adopts its three parts, the block
// clv.Load computed the features into is released. While some customers
// are not adopted (Evaluate scoring only the test part), it stays.
func TestAdoptHoldsFeaturesOnce(t *testing.T) {
	tests := []struct {
		name     string
		adopted  func(parts) [][]*clv.Customer
		released bool
	}{
		{"every part, as Prepare", func(p parts) [][]*clv.Customer { return [][]*clv.Customer{p.train, p.val, p.test} }, true},
		{"the test part alone", func(p parts) [][]*clv.Customer { return [][]*clv.Customer{p.test} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := loadShop(t, 2000)
			cols := len(ds.FeatureNames)
			// The block is one allocation: a weak pointer to any of its
			// values reports whether it is still reachable.
			block := weak.Make(&ds.Customers[0].Features[0])
			before := make(map[string][]float32, len(ds.Customers))
			for _, c := range ds.Customers {
				before[c.ID] = slices.Clone(c.Features)
			}
			groups := tt.adopted(split(ds))
			ms := make([]model.Data, len(groups))
			for g, cs := range groups {
				ms[g] = adopt(cs, cols)
			}
			for g, cs := range groups {
				d := ms[g]
				if d.Rows != len(cs) || d.Cols != cols {
					t.Fatalf("part %d: %d rows of %d columns for %d customers of %d features", g, d.Rows, d.Cols, len(cs), cols)
				}
				for i, c := range cs {
					row := d.X[i*cols : (i+1)*cols]
					if &c.Features[0] != &row[0] || len(c.Features) != cols || cap(c.Features) != cols {
						t.Fatalf("part %d customer %s: Features (len %d cap %d) is not its row %d of the matrix", g, c.ID, len(c.Features), cap(c.Features), i)
					}
					if !slices.Equal(row, before[c.ID]) || d.Y[i] != float32(c.HoldoutSpend) {
						t.Fatalf("part %d customer %s: row %v label %v, loaded %v spend %v", g, c.ID, row, d.Y[i], before[c.ID], c.HoldoutSpend)
					}
				}
			}
			runtime.GC()
			if released := block.Value() == nil; released != tt.released {
				t.Errorf("clv.Load's feature block released: %v, want %v", released, tt.released)
			}
			for _, c := range ds.Customers {
				if !slices.Equal(c.Features, before[c.ID]) {
					t.Fatalf("customer %s: features %v after adopt, loaded %v", c.ID, c.Features, before[c.ID])
				}
			}
			runtime.KeepAlive(ms)
		})
	}
}
