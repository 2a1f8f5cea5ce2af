package clv

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// datasetOf is a Dataset with customers of the given ids, sorted as Load
// sorts them.
func datasetOf(ids ...string) *Dataset {
	ds := &Dataset{}
	for _, id := range ids {
		ds.Customers = append(ds.Customers, Customer{ID: id})
	}
	slices.SortFunc(ds.Customers, func(a, b Customer) int { return strings.Compare(a.ID, b.ID) })
	return ds
}

// TestIDKey ensures which ids normalise to which.
func TestIDKey(t *testing.T) {
	for id, want := range map[string]string{
		"733": "733", "000733": "733", "733.0": "733", "000733.00": "733", "0": "0", "000": "0", "0.0": "0",
		"733.5": "733.5", "733.": "733.", ".0": ".0", "A0733": "A0733", "-0733": "-0733", "07 33": "07 33",
		"Cust49@Example.com": "cust49@example.com", "cust49@example.com": "cust49@example.com", "ABC": "ABC", "": "",
	} {
		key, changed := idKey(id)
		if key != want || changed != (key != id) {
			t.Errorf("idKey(%q) = %q, %v; want %q", id, key, changed, want)
		}
	}
}

// TestSimilarIDs ensures customer ids that are probably one customer
// written two ways are found, counted and named (audit7 item 5: "000733"
// and "733", "733.0" and "733", e-mails in mixed case were silently
// different customers), and that distinct ids are left alone.
func TestSimilarIDs(t *testing.T) {
	tests := []struct {
		name string
		ds   *Dataset
		want IDSpellings
	}{
		{"distinct", datasetOf("1", "2", "10", "A", "a", "007x", "a@b.c"), IDSpellings{}},
		{"nothing to normalise", datasetOf("733", "734"), IDSpellings{}},
		{"leading zeros", datasetOf("000733", "733", "12", "0012", "5"), IDSpellings{Customers: 2, IDs: 4,
			Examples: [][]string{{"733", "000733"}, {"12", "0012"}}}},
		{"pandas floats", datasetOf("733.0", "733", "734.0"), IDSpellings{Customers: 1, IDs: 2, Examples: [][]string{{"733", "733.0"}}}},
		{"three spellings", datasetOf("0733", "733.0", "733"), IDSpellings{Customers: 1, IDs: 3, Examples: [][]string{{"733", "0733", "733.0"}}}},
		{"variants only", datasetOf("0733", "00733"), IDSpellings{Customers: 1, IDs: 2, Examples: [][]string{{"00733", "0733"}}}},
		{"e-mails", datasetOf("Cust49@Example.com", "cust49@example.com", "CUST50@EXAMPLE.COM"), IDSpellings{Customers: 1, IDs: 2,
			Examples: [][]string{{"cust49@example.com", "Cust49@Example.com"}}}},
		{"nil", nil, IDSpellings{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SimilarIDs(tt.ds); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}

	// Many collisions: counted all, three named.
	var ids []string
	for i := range 1000 {
		ids = append(ids, fmt.Sprint(i+1), fmt.Sprintf("%06d", i+1))
	}
	got := SimilarIDs(datasetOf(ids...))
	if got.Customers != 1000 || got.IDs != 2000 || len(got.Examples) != MaxIDExamples {
		t.Errorf("1000 collisions: %d customers, %d ids, %d examples", got.Customers, got.IDs, len(got.Examples))
	}
}

// TestSimilarIDsLoaded ensures the check sees the ids as Load keeps them:
// the CSV recipe of audit7 item 5 gives two customers, now named.
func TestSimilarIDsLoaded(t *testing.T) {
	ds, err := loadString("customer_id,date,amount\n000733,2026-01-05,10\n733,2026-02-05,20\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := SimilarIDs(ds)
	if got.Customers != 1 || !strings.Contains(fmt.Sprint(got.Examples), "733 000733") {
		t.Errorf("got %+v", got)
	}
}

// BenchmarkSimilarIDs ensures a million plain ids cost one pass and no
// allocation.
func BenchmarkSimilarIDs(b *testing.B) {
	ds := &Dataset{Customers: make([]Customer, 1_000_000)}
	for i := range ds.Customers {
		ds.Customers[i].ID = fmt.Sprintf("c%07d", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		SimilarIDs(ds)
	}
}
