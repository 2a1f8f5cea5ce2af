package clv

import "unicode/utf8"

// Money. Spreadsheets, shops and accounting tools export amounts as they
// show them: "$12.50", "$1,234.56", "12,50 €", "USD 12.50", "-$5.00",
// "$-5.00", and accounting negatives in parentheses, "(12.50)" or
// "($12.50)". An amount that parseNumber refuses is taken apart here: one
// currency token before or after the number (spaces between them
// allowed), one sign before the token or before the number, or
// parentheses around the number, with or without the token, for a
// negative. The number itself follows decimal.go's rules unchanged, so
// "€12,50" still needs --decimal , and "$14,92" is still refused with its
// hint. Only the amount column is read this way: a currency on a quantity
// or an extra is more likely a column mapped by mistake than money.
//
// The tokens are single-character currency signs and ISO 4217 codes,
// upper case, from the list below only, so that no word and no typo is
// taken for a currency. Left out on purpose: ¢ ("50¢" is half a dollar,
// not 50), letter symbols such as kr, zł or R$ (words, and ambiguous), and
// a sign together with a code ("$12.50 USD"): one token per amount.
//
// A log whose amounts are in two currencies is not read: summing $ and €
// is a silent misread. A sign and its code are one currency (€ and EUR),
// but $ and ¥ stand for several (US, Canadian, Australian dollars; yen and
// yuan), so they match only themselves. The consumer, which sees the rows
// in file order, stops at the first amount in a second currency even when
// bad rows are skipped: every row in either currency would be wrong, not
// one.

// currency is a currency an amount was written in: text as the log writes
// it ("€", "EUR") and key what it stands for, the same for a sign and its
// code ("EUR"). The zero value is no currency.
type currency struct{ text, key string }

// ambiguous reports whether the currency is a sign that several
// currencies write, which matches only itself.
func (c currency) ambiguous() bool { return c.key == "$" || c.key == "¥" }

// isCode reports whether the currency is written as an ISO 4217 code.
func (c currency) isCode() bool { return len(c.text) == 3 && c.text[0] >= 'A' && c.text[0] <= 'Z' }

// signCurrency is the currency a one-character sign stands for; the zero
// value for any other rune.
func signCurrency(r rune) currency {
	switch r {
	case '$':
		return currency{"$", "$"}
	case '¥':
		return currency{"¥", "¥"}
	case '€':
		return currency{"€", "EUR"}
	case '£':
		return currency{"£", "GBP"}
	case '₹':
		return currency{"₹", "INR"}
	case '₩':
		return currency{"₩", "KRW"}
	case '₽':
		return currency{"₽", "RUB"}
	case '₺':
		return currency{"₺", "TRY"}
	case '₪':
		return currency{"₪", "ILS"}
	case '₱':
		return currency{"₱", "PHP"}
	case '₫':
		return currency{"₫", "VND"}
	case '₴':
		return currency{"₴", "UAH"}
	case '₦':
		return currency{"₦", "NGN"}
	case '฿':
		return currency{"฿", "THB"}
	}
	return currency{}
}

// isoCodes are the ISO 4217 currency codes in use, and two withdrawn in
// recent years that old logs still hold (ANG, HRK); metals, funds and test
// codes (XAU, XTS, ...) are no shop's currency.
const isoCodes = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD " +
	"CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD " +
	"HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD " +
	"MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR " +
	"RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS " +
	"UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG"

// codeCurrency is the currency of the ISO code b (three bytes), or the
// zero value.
func codeCurrency(b []byte) currency {
	if len(b) != 3 {
		return currency{}
	}
	for _, c := range b {
		if c < 'A' || c > 'Z' {
			return currency{}
		}
	}
	for i := 0; i+3 <= len(isoCodes); i += 4 {
		if code := isoCodes[i : i+3]; code == string(b) {
			return currency{code, code}
		}
	}
	return currency{}
}

// currencyPrefix returns the currency token b starts with and its length,
// or 0.
func currencyPrefix(b []byte) (currency, int) {
	if len(b) == 0 {
		return currency{}, 0
	}
	if b[0] >= 'A' && b[0] <= 'Z' {
		if len(b) < 3 {
			return currency{}, 0
		}
		c := codeCurrency(b[:3])
		if c.key == "" {
			return c, 0
		}
		return c, 3
	}
	r, n := utf8.DecodeRune(b)
	if c := signCurrency(r); c.key != "" {
		return c, n
	}
	return currency{}, 0
}

// currencySuffix returns the currency token b ends with and its length, or
// 0.
func currencySuffix(b []byte) (currency, int) {
	if len(b) == 0 {
		return currency{}, 0
	}
	if c := b[len(b)-1]; c >= 'A' && c <= 'Z' {
		if len(b) < 3 {
			return currency{}, 0
		}
		c := codeCurrency(b[len(b)-3:])
		if c.key == "" {
			return c, 0
		}
		return c, 3
	}
	r, n := utf8.DecodeLastRune(b)
	if c := signCurrency(r); c.key != "" {
		return c, n
	}
	return currency{}, 0
}

// Spaces between a currency token and its number: a space, or the
// no-break spaces that locales put there ("12,50 €" in French uses
// U+00A0 or U+202F).
const (
	nbsp       = "\u00a0"
	narrowNBSP = "\u202f"
)

// moneySpaceLen returns the length of the space b starts with (end false)
// or ends with (end true), or 0.
func moneySpaceLen(b []byte, end bool) int {
	for _, sp := range [...]string{" ", nbsp, narrowNBSP} {
		if len(b) < len(sp) {
			continue
		}
		at := b[:len(sp)]
		if end {
			at = b[len(b)-len(sp):]
		}
		if string(at) == sp {
			return len(sp)
		}
	}
	return 0
}

// cutCurrency removes one currency token from the start of b, or else
// from its end, with the spaces between it and the number.
func cutCurrency(b []byte) ([]byte, currency) {
	if c, n := currencyPrefix(b); n > 0 {
		b = b[n:]
		for k := moneySpaceLen(b, false); k > 0; k = moneySpaceLen(b, false) {
			b = b[k:]
		}
		return b, c
	}
	if c, n := currencySuffix(b); n > 0 {
		b = b[:len(b)-n]
		for k := moneySpaceLen(b, true); k > 0; k = moneySpaceLen(b, true) {
			b = b[:len(b)-k]
		}
		return b, c
	}
	return b, currency{}
}

// money is an amount field taken apart.
type money struct {
	num []byte   // the number, as parseNumber reads it (it may carry the sign: "$-5.00")
	neg bool     // negated outside num: a "-" before the token, or parentheses
	cur currency // zero for parentheses alone: "(12.50)"
}

func isSign(c byte) bool { return c == '-' || c == '+' }

// cutMoney takes an amount field apart into a currency token, a sign or
// parentheses, and the number, or reports that it is not written like
// money: neither a token nor parentheses, two tokens, two signs, a sign
// and parentheses, or nothing left for the number. It does not parse the
// number.
func cutMoney(b []byte) (m money, ok bool) {
	signed := len(b) > 0 && isSign(b[0])
	if signed {
		m.neg = b[0] == '-'
		b = b[1:]
	}
	b, m.cur = cutCurrency(b)
	if len(b) >= 2 && b[0] == '(' && b[len(b)-1] == ')' {
		if signed {
			return m, false // "-(12.50)"
		}
		b, m.neg = b[1:len(b)-1], true
		if m.cur.key == "" {
			b, m.cur = cutCurrency(b)
		}
		if len(b) > 0 && isSign(b[0]) {
			return m, false // "(-12.50)"
		}
	} else if m.cur.key == "" {
		return m, false
	}
	if len(b) == 0 || signed && isSign(b[0]) {
		return m, false // "$", "-$-5"
	}
	m.num = b
	return m, true
}

// parseMoney parses an amount written like money (the top of this file).
// It is the slow path, for fields parseNumber refused.
func parseMoney(b []byte, dec byte) (float64, money, bool) {
	m, ok := cutMoney(b)
	if !ok {
		return 0, m, false
	}
	v, ok := parseNumber(m.num, dec)
	if !ok {
		return 0, m, false
	}
	if m.neg {
		v = -v
	}
	return v, m, true
}

// notAmount is the message of an amount field that is neither a number
// nor money. One written like money gets the hints of the number in it
// ("€14,92": a decimal comma? use --decimal ,).
func notAmount(b []byte, dec byte) string {
	if m, ok := cutMoney(b); ok {
		return numberMsg(b, m.num, dec)
	}
	return notNumber(b, dec)
}

// onlyAmountHint is what the message of a quantity or extra value adds
// when the value would be read as an amount: "" otherwise.
func onlyAmountHint(b []byte, dec byte) string {
	if _, _, ok := parseMoney(b, dec); ok {
		return " (currency symbols and accounting parentheses are read in the amount column only)"
	}
	return ""
}
