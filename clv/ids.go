package clv

import "strings"

// IDSpellings are customer ids that are probably the same customers written
// two ways: ids are matched exactly, so each such customer's purchases are
// split between two (or more) customers.
type IDSpellings struct {
	// Customers is how many normalised ids are written more than one way:
	// the customers probably split.
	Customers int
	// IDs is how many distinct ids those customers appear under.
	IDs int
	// Examples are up to MaxIDExamples such groups, the spellings of each
	// in ID order, the groups in the order of their first variant id.
	Examples [][]string
}

// MaxIDExamples is how many groups IDSpellings.Examples names.
const MaxIDExamples = 3

// SimilarIDs finds the customer ids of ds that are equal once normalised
// (idKey): all-digit ids without their leading zeros ("000733" and "733",
// an export through Excel), whole numbers written as floats ("733.0", a
// pandas column that held a missing value) and e-mail addresses in any
// case ("Cust49@Example.com"). It takes time linear in the customers: a
// map holds only the ids that normalisation changes, so a log of plain ids
// costs one pass and no allocation.
//
// Only the customers with features are at hand (Dataset.Customers): a
// spelling seen only after the calibration end is not compared.
func SimilarIDs(ds *Dataset) IDSpellings {
	var res IDSpellings
	if ds == nil {
		return res
	}
	type group struct {
		ids       []string
		canonical bool // an id equal to the key joined
	}
	var groups []*group
	byKey := map[string]*group{}
	// Pass 1: the ids normalisation changes, grouped by key.
	for i := range ds.Customers {
		id := ds.Customers[i].ID
		key, changed := idKey(id)
		if !changed {
			continue
		}
		g := byKey[key]
		if g == nil {
			g = &group{}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.ids = append(g.ids, id)
	}
	if len(byKey) == 0 {
		return res
	}
	// Pass 2: the ids already in normal form that such a key matches.
	for i := range ds.Customers {
		id := ds.Customers[i].ID
		if _, changed := idKey(id); changed {
			continue
		}
		if g := byKey[id]; g != nil {
			g.ids = append(g.ids, id)
			g.canonical = true
		}
	}
	for _, g := range groups {
		if len(g.ids) < 2 {
			continue
		}
		res.Customers++
		res.IDs += len(g.ids)
		if len(res.Examples) < MaxIDExamples {
			ids := g.ids
			if g.canonical {
				// The plain spelling first: "733" and "000733".
				ids = append([]string{ids[len(ids)-1]}, ids[:len(ids)-1]...)
			}
			res.Examples = append(res.Examples, ids[:min(len(ids), 3)])
		}
	}
	return res
}

// idKey normalises a customer id for SimilarIDs: an all-digit id, possibly
// followed by ".0" (or ".00"...), loses the fraction and its leading zeros
// (keeping one digit); an id with an "@" is lower-cased. changed says the
// key differs from id. It allocates only to lower-case.
func idKey(id string) (key string, changed bool) {
	if strings.IndexByte(id, '@') >= 0 {
		key = strings.ToLower(id)
		return key, key != id
	}
	digits := id
	if dot := strings.IndexByte(id, '.'); dot >= 0 {
		frac := id[dot+1:]
		if frac == "" || strings.Trim(frac, "0") != "" {
			return id, false
		}
		digits = id[:dot]
	}
	if digits == "" {
		return id, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return id, false
		}
	}
	key = strings.TrimLeft(digits, "0")
	if key == "" {
		key = "0"
	}
	return key, key != id
}
