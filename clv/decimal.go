package clv

import (
	"fmt"
	"strings"
)

// Number formats. A log writes its numbers with a decimal separator, '.'
// (the default) or ',' (Options.Decimal, most European exports), and may
// group the thousands with the other character: "2,754.00" or "2.754,00".
// A grouping separator is accepted only between well-formed groups: one to
// three digits, not starting with 0, then groups of exactly three digits.
// That decides the ambiguous cases: with '.' as the decimal separator
// "1,234" is 1234 (a well-formed group), while "14,92", "0,125" and
// "1,2345" are not numbers, and the error says they look like decimal
// commas; with ',' "1.234" is 1234 and "14.92" is an error that says it
// looks like a decimal point.

// maxNumberLen is the longest field the grouped parser rewrites; longer
// ones are not numbers any log writes.
const maxNumberLen = 64

// parseDecimal parses the decimal separator option: "." (or empty) or ",".
func parseDecimal(s string) (byte, error) {
	switch strings.TrimSpace(s) {
	case "", ".":
		return '.', nil
	case ",":
		return ',', nil
	}
	return 0, fmt.Errorf(`decimal separator %q: want "." (1234.50) or "," (1234,50)`, s)
}

// parseNumber parses an amount, quantity or extra value written with the
// decimal separator dec. The common case, a plain number with '.', takes
// parseFloat's fast path alone; grouped thousands and decimal commas are
// rewritten into that form first.
func parseNumber(b []byte, dec byte) (float64, bool) {
	if dec != ',' {
		if v, ok := parseFloat(b); ok {
			return v, true
		}
	}
	return parseGrouped(b, dec)
}

// parseOptional parses an optional numeric field: empty is 0.
func parseOptional(b []byte, dec byte) (float64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	return parseNumber(b, dec)
}

// parseGrouped parses b written with the decimal separator dec and
// optionally grouped thousands (see the top of this file).
func parseGrouped(b []byte, dec byte) (float64, bool) {
	var buf [maxNumberLen]byte
	n, ok := normalizeNumber(b, dec, &buf)
	if !ok {
		return 0, false
	}
	return parseFloat(buf[:n])
}

// normalizeNumber rewrites b into the plain form parseFloat reads: grouping
// separators removed, the decimal separator made '.'. It checks the groups
// and leaves the rest of the grammar (digits, exponent) to parseFloat. An
// exponent is allowed only without grouping.
func normalizeNumber(b []byte, dec byte, buf *[maxNumberLen]byte) (int, bool) {
	if len(b) > len(buf) {
		return 0, false
	}
	group := byte(',')
	if dec == ',' {
		group = '.'
	}
	n, i := 0, 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		buf[n] = b[i]
		n, i = n+1, i+1
	}
	start, run, groups := i, 0, 0
scan:
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c >= '0' && c <= '9':
			buf[n] = c
			n, run = n+1, run+1
		case c == group:
			if groups == 0 && (run < 1 || run > 3 || b[start] == '0') || groups > 0 && run != 3 {
				return 0, false
			}
			groups, run = groups+1, 0
		default:
			break scan
		}
	}
	if groups > 0 && run != 3 {
		return 0, false
	}
	if i < len(b) && b[i] == dec {
		buf[n] = '.'
		n, i = n+1, i+1
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			buf[n] = b[i]
			n++
		}
	}
	if groups > 0 && i < len(b) {
		return 0, false
	}
	n += copy(buf[n:], b[i:]) // an exponent, or junk parseFloat refuses
	return n, true
}

// notNumber is the message of a field that is not a number under the
// decimal separator dec. A value that parses but exceeds maxAbsValue is
// out of range; one that would parse with the other decimal separator, or
// has malformed groups, says so and names the flag.
func notNumber(b []byte, dec byte) string { return numberMsg(b, b, dec) }

// numberMsg is notNumber for a field that holds the number num among
// other things (a currency, money.go): the field is quoted, the number
// explained.
func numberMsg(field, num []byte, dec byte) string {
	var buf [maxNumberLen]byte
	if n, ok := normalizeNumber(num, dec, &buf); ok && looksDecimal(buf[:n]) {
		return fmt.Sprintf("%s is out of range (want a finite number within ±%.0e)", quoteField(field), maxAbsValue)
	}
	return quoteField(field) + " is not a number" + numberHint(num, dec)
}

// numberHint explains a number that failed because of its separators, or
// returns "".
func numberHint(b []byte, dec byte) string {
	commas, points := 0, 0
	for _, c := range b {
		switch {
		case c == ',':
			commas++
		case c == '.':
			points++
		case c >= '0' && c <= '9' || c == '+' || c == '-':
		default:
			return ""
		}
	}
	if dec == ',' {
		switch {
		case points == 0:
			return ""
		case parseNumberOK(b, '.'):
			return ` (a decimal point? with --decimal , a "." separates thousands; leave --decimal out to read 1234.50)`
		}
		return " (with --decimal , thousands are grouped by \".\" in groups of three digits, as in 1.234,50)"
	}
	switch {
	case commas == 0 && points > 1 && parseNumberOK(b, ','):
		return ` (a "." grouping thousands, as in 1.234.567? use --decimal ,)`
	case commas == 0:
		return ""
	case parseNumberOK(b, ','):
		return " (a decimal comma? use --decimal ,)"
	}
	return ` (thousands separators must group three digits, as in 1,234.50; for decimal commas use --decimal ,)`
}

func parseNumberOK(b []byte, dec byte) bool {
	_, ok := parseNumber(b, dec)
	return ok
}
