package clv

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Positions of the mapped columns in colMap.idx; extras follow colExtra0.
const (
	colCustomer = iota
	colDate
	colAmount
	colQuantity
	colExtra0
)

// Header names recognised when a column is not named explicitly, in order
// of preference. Compared after normalizeName.
var (
	customerNames = []string{"customer_id", "customerid", "customer", "cust_id", "cust", "client_id", "clientid",
		"client", "user_id", "userid", "user", "member_id", "id"}
	dateNames = []string{"date", "day", "order_date", "purchase_date", "transaction_date", "invoice_date",
		"invoicedate", "datetime", "timestamp", "time"}
	amountNames = []string{"amount", "sales", "sale", "spend", "revenue", "dollar_value", "dollars", "value",
		"price", "total", "monetary"}
	quantityNames = []string{"quantity", "qty", "units", "items", "number_of_cds", "cds"}
)

// summaryNames are the column names of a per-customer summary rather than
// a transaction log: lifetimes' RFM frame (frequency, recency, T,
// monetary_value), its cdnow_customers_summary_with_transactions.csv (x,
// t_x, T, zbar), BTYD's cal.cbs (x, t.x, T.cal) and a BG/BB pattern table
// (donations.csv: frequency, recency, periods, weights). Compared after
// normalizeName.
var summaryNames = []string{"frequency", "recency", "t", "monetary_value", "x", "t_x", "t.x", "t.cal", "zbar",
	"periods", "weights", "x.star", "t.star"}

// summaryColumns returns the header's names that summaryNames has, when
// there are at least two: the header is then a summary's.
func summaryColumns(header, norm []string) []string {
	var found []string
	for i, n := range norm {
		if slices.Contains(summaryNames, n) {
			found = append(found, header[i])
		}
	}
	if len(found) < 2 {
		return nil
	}
	return found
}

// countOnlyHint ends the errors of a log that may have no amount column.
const countOnlyHint = "; a log without spend: --amount none (read.amount: none) counts purchase days instead"

// colMap is the resolved mapping from roles to 0-based field indexes.
type colMap struct {
	idx     []int    // by position (colCustomer...); idx[colQuantity] is -1 when unmapped
	display []string // how errors name each column: `"dollar_value"` or `4 (amount)`
	names   []string // plain names for the report: header name or "4"
	maxIdx  int      // largest field index any row needs
}

// roleName is the role of a mapped position, for messages.
func roleName(pos int) string {
	switch pos {
	case colCustomer:
		return "customer"
	case colDate:
		return "date"
	case colAmount:
		return "amount"
	case colQuantity:
		return "quantity"
	}
	return "extra"
}

// normalizeName folds a header name for matching: lower case, trimmed,
// quotes removed, spaces and dashes as underscores.
func normalizeName(s string) string {
	s = strings.ToLower(strings.Trim(strings.TrimSpace(s), `"'`))
	return strings.NewReplacer(" ", "_", "-", "_").Replace(s)
}

// resolveColumns maps the options' column specs onto a file whose header is
// header (nil without one) and whose first data row has nfields fields.
func resolveColumns(o *Options, header []string, nfields int) (colMap, error) {
	specs := []string{o.Customer, o.Date, o.Amount, o.Quantity}
	specs = append(specs, o.Extra...)
	defaults := [][]string{customerNames, dateNames, amountNames, quantityNames}
	n := nfields
	if header != nil {
		n = len(header)
	}
	norm := make([]string, len(header))
	for i, h := range header {
		norm[i] = normalizeName(h)
	}
	m := colMap{idx: make([]int, len(specs)), display: make([]string, len(specs)), names: make([]string, len(specs))}
	for pos, spec := range specs {
		spec = strings.TrimSpace(spec)
		idx := -1
		switch {
		case pos == colQuantity && spec == "-":
		case pos == colAmount && o.CountOnly():
			// A count-only log: no amount column; every row is a purchase.
		case spec == "" && pos > colQuantity:
			return colMap{}, fmt.Errorf("extra column %d: empty name", pos-colExtra0+1)
		case spec == "" && header == nil:
			// Without a header: customer 1, date 2, amount the last column
			// (CDNOW_master's dollar value is its 4th and last), no quantity.
			switch pos {
			case colCustomer:
				idx = 0
			case colDate:
				idx = 1
			case colAmount:
				idx = n - 1
			}
		case spec == "":
			idx = findName(norm, defaults[pos])
			if idx < 0 && pos != colQuantity {
				// Name the setting as a user writes it (a flag, or a job
				// spec's read section), not as Go spells it.
				if sum := summaryColumns(header, norm); sum != nil {
					return colMap{}, fmt.Errorf("no %s column: the file looks like a per-customer RFM summary (its header has %s), not a transaction log; "+
						"cohort needs one row per purchase (customer, date, amount), the log such a summary is computed from, "+
						"and no column flags can read a summary", roleName(pos), strings.Join(sum, ", "))
				}
				hint := ""
				if pos == colAmount {
					hint = countOnlyHint
				}
				return colMap{}, fmt.Errorf("no %s column found (looked for %s); the header has: %s; name it with --%s (read.%s in a job spec)%s",
					roleName(pos), strings.Join(defaults[pos], ", "), headerList(header), roleName(pos), roleName(pos), hint)
			}
		case isIndex(spec):
			i, err := strconv.Atoi(spec)
			if err != nil || i < 1 {
				return colMap{}, fmt.Errorf("%s column %q: want a header name or a 1-based index", roleName(pos), spec)
			}
			idx = i - 1
			if idx >= n {
				return colMap{}, fmt.Errorf("%s column %d is out of range: the first row has %d columns%s", roleName(pos), i, n,
					fromModel(o, pos, spec, ""))
			}
		case header == nil:
			return colMap{}, fmt.Errorf("%s column %q is a name, but the file has no header; give a 1-based index instead%s", roleName(pos), spec,
				fromModel(o, pos, spec, ""))
		default:
			idx = findName(norm, []string{normalizeName(spec)})
			if idx < 0 {
				guess := ""
				if pos < len(defaults) {
					if d := findName(norm, defaults[pos]); d >= 0 {
						guess = header[d]
					}
				}
				return colMap{}, fmt.Errorf("%s column %q is not in the header; the header has: %s%s", roleName(pos), spec, headerList(header),
					fromModel(o, pos, spec, guess))
			}
		}
		m.idx[pos] = idx
		if idx < 0 {
			if pos == colAmount {
				m.names[pos] = AmountNone // the report says the log was read count-only
			}
			continue
		}
		if header != nil {
			m.display[pos] = quoteField([]byte(header[idx]))
			m.names[pos] = header[idx]
		} else {
			m.display[pos] = fmt.Sprintf("%d (%s)", idx+1, roleName(pos))
			m.names[pos] = strconv.Itoa(idx + 1)
		}
		m.maxIdx = max(m.maxIdx, idx)
	}
	for a := colCustomer; a <= colAmount; a++ {
		for b := a + 1; b <= colAmount; b++ {
			if m.idx[a] == m.idx[b] {
				hint := ""
				if b == colAmount && strings.TrimSpace(o.Amount) == "" {
					// Without a header the amount defaults to the last
					// column: in a two-column log, the date.
					hint = countOnlyHint
				}
				return colMap{}, fmt.Errorf("%s and %s are both column %s%s", roleName(a), roleName(b), m.display[a], hint)
			}
		}
	}
	if m.idx[colQuantity] >= 0 && (m.idx[colQuantity] == m.idx[colAmount] || m.idx[colQuantity] == m.idx[colCustomer] || m.idx[colQuantity] == m.idx[colDate]) {
		if o.Quantity != "" {
			return colMap{}, fmt.Errorf("quantity column %s is also mapped to another role", m.display[colQuantity])
		}
		m.idx[colQuantity] = -1 // a default guess that collides is no quantity
	}
	return m, nil
}

// fromModel ends an error about the column at pos, whose spec is spec,
// when that spec came from a model's training options
// (Options.ColumnsFromModel): it says so, and names the flag that picks this
// file's column, with guess (a header name the defaults find) as an example.
func fromModel(o *Options, pos int, spec, guess string) string {
	role := roleName(pos)
	if !slices.Contains(o.ColumnsFromModel, role) {
		return ""
	}
	s := fmt.Sprintf(" (the model was trained with --%s %s; name this file's %s column with --%s", role, shellWord(spec), role, role)
	if guess != "" {
		s += ", e.g. --" + role + " " + shellWord(guess)
	}
	return s + ")"
}

// shellWord quotes s for a command line when it needs quoting.
func shellWord(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"'$\\`;|&<>()*?") {
		return strconv.Quote(s)
	}
	return s
}

func isIndex(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func findName(norm, want []string) int {
	for _, w := range want {
		for i, h := range norm {
			if h == w {
				return i
			}
		}
	}
	return -1
}

// hasQuantity reports whether a quantity column is mapped.
func (m *colMap) hasQuantity() bool { return m.idx[colQuantity] >= 0 }

// extras is the number of mapped extra columns.
func (m *colMap) extras() int { return len(m.idx) - colExtra0 }

// extraFeatureName names the feature of extra column k.
func (m *colMap) extraFeatureName(k int) string {
	return "extra_" + normalizeName(m.names[colExtra0+k])
}
