package clv

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestInterner ensures ids map to stable dense indexes across table growth,
// for short ids compared in the slot and long ids that share prefixes or
// differ only in length.
func TestInterner(t *testing.T) {
	seed := maphash.MakeSeed()
	it := newInterner(seed)
	var ids [][]byte
	for i := range 30000 {
		switch i % 3 {
		case 0:
			ids = append(ids, []byte(fmt.Sprint(i)))
		case 1:
			ids = append(ids, []byte("customer-with-a-long-shared-prefix-"+fmt.Sprint(i)))
		default:
			ids = append(ids, []byte(strings.Repeat("x", i%40+1)+fmt.Sprint(i%7)))
		}
	}
	want := map[string]int{}
	rng := rand.New(rand.NewPCG(9, 9))
	for range 3 * len(ids) {
		id := ids[rng.IntN(len(ids))]
		s, err := it.intern(hashID(seed, id), id)
		if err != nil {
			t.Fatal(err)
		}
		got := int(s.idx - 1)
		if w, ok := want[string(id)]; ok && w != got {
			t.Fatalf("%q: index %d, earlier %d", id, got, w)
		} else if !ok {
			if got != len(want) {
				t.Fatalf("new id %q got index %d, want the next one, %d", id, got, len(want))
			}
			want[string(id)] = got
		}
		if !bytes.Equal(it.id(got), id) {
			t.Fatalf("index %d holds %q, want %q", got, it.id(got), id)
		}
	}
	if it.len() != len(want) {
		t.Errorf("%d ids interned, want %d", it.len(), len(want))
	}
	for i, s := range it.strings() {
		if want[s] != i {
			t.Fatalf("strings()[%d] = %q, which is index %d", i, s, want[s])
		}
	}
}

// TestUnsortedExtras ensures quantity and extra columns are merged with
// their day when a customer's rows arrive out of order.
func TestUnsortedExtras(t *testing.T) {
	sorted := "cust|day|amount|qty|visits\n" +
		"A|20200101|1|1|10\n" + "A|20200101|2|2|20\n" + "A|20200103|4|4|40\n" + "A|20200105|8|8|80\n" + "B|20200102|1|1|1\n"
	unsorted := "cust|day|amount|qty|visits\n" +
		"A|20200105|8|8|80\n" + "A|20200101|1|1|10\n" + "B|20200102|1|1|1\n" + "A|20200103|4|4|40\n" + "A|20200101|2|2|20\n"
	o := Options{Extra: []string{"visits"}}
	a, err := loadString(sorted, o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadString(unsorted, o)
	if err != nil {
		t.Fatal(err)
	}
	sameCustomers(t, a, b)
	ca := customer(t, b, "A")
	if ca.X != 2 || feature(t, b, ca, "spend_first") != 3 || feature(t, b, ca, "quantity_total") != 15 || feature(t, b, ca, "extra_visits") != 150 {
		t.Errorf("A = %+v", *ca)
	}
}
