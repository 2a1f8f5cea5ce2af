package clv

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// Conversions of the Parquet types that need more than a cast: DECIMAL in
// bytes, INT96 timestamps, float customer ids, and the time zone of
// instants.

// floorDiv is a / b rounded towards minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// trimSignExtension drops the leading bytes of a big-endian two's
// complement integer that only repeat its sign, keeping at least one.
func trimSignExtension(b []byte) []byte {
	for len(b) > 1 && (b[0] == 0 && b[1]&0x80 == 0 || b[0] == 0xFF && b[1]&0x80 != 0) {
		b = b[1:]
	}
	return b
}

// decimalInt returns the big-endian two's complement integer b (the
// unscaled value of a DECIMAL in BYTE_ARRAY or FIXED_LEN_BYTE_ARRAY) as an
// int64 when it fits, else as a big.Int.
func decimalInt(b []byte) (int64, *big.Int) {
	b = trimSignExtension(b)
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) <= 8 {
		x := int64(int8(b[0]))
		for _, c := range b[1:] {
			x = x<<8 | int64(c)
		}
		return x, nil
	}
	z := new(big.Int).SetBytes(b)
	if b[0]&0x80 != 0 {
		z.Sub(z, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return 0, z
}

// decimalBytes is the unscaled value of a byte DECIMAL as a float64.
func decimalBytes(b []byte) float64 {
	x, z := decimalInt(b)
	if z == nil {
		return float64(x)
	}
	f, _ := new(big.Float).SetInt(z).Float64()
	return f
}

// appendDecimalID appends the decimal digits of a DECIMAL(p, 0) id.
func appendDecimalID(dst, b []byte) []byte {
	x, z := decimalInt(b)
	if z == nil {
		return strconv.AppendInt(dst, x, 10)
	}
	return z.Append(dst, 10)
}

// appendFloatID appends a FLOAT/DOUBLE customer id written as an integer
// (pandas turns an integer id column with a missing value into float64:
// 733.0 is customer "733", as the same log as CSV or INT64 spells it). An id
// that is not a whole number, or too large for the float to hold every
// integer, is no id: it returns why.
func appendFloatID(dst []byte, v parquet.Value, single bool) ([]byte, string) {
	f, bits, mant, typ := v.Double(), 64, 53, "DOUBLE"
	if single {
		f, bits, mant, typ = float64(v.Float()), 32, 24, "FLOAT"
	}
	text := strconv.FormatFloat(f, 'f', -1, bits)
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return dst, text + " is not a customer id"
	case f != math.Trunc(f):
		return dst, text + " is not a whole number: a " + typ + " customer column is read only when it holds whole numbers " +
			`(733.0 is customer "733"); write the ids as integers or text`
	case math.Abs(f) > float64(int64(1)<<mant):
		return dst, fmt.Sprintf("%s is too large for an exact id in a %s column (whole numbers are exact only up to 2^%d, "+
			"so ids this large may have been rounded); write the ids as integers or text", text, typ, mant)
	}
	return strconv.AppendInt(dst, int64(f), 10), ""
}

// zoneDay is the calendar day in loc of the instant sec (Unix seconds);
// what prefixes the value in an out-of-range message.
func zoneDay(sec int64, loc *time.Location, what string) (int32, string) {
	// Check the UTC day first: time.Unix is no help for a year 294247.
	if utc := floorDiv(sec, 86400); !inRange(utc) {
		return 0, outOfRange(what + describeDay(utc))
	}
	day := int64(dayOf(time.Unix(sec, 0).In(loc)))
	if !inRange(day) {
		return 0, outOfRange(what + describeDay(day))
	}
	return int32(day), ""
}

// julianUnixEpoch is the Julian day number of 1970-01-01.
const julianUnixEpoch = 2440588

// int96Day is the day of an INT96 timestamp: 8 bytes of nanoseconds of the
// day, then 4 of the Julian day, little-endian; an instant in UTC (Spark
// normalises to UTC when it writes), counted in loc when not nil.
func int96Day(v parquet.Value, loc *time.Location) (int32, string) {
	i := v.Int96()
	nanos := int64(uint64(i[1])<<32 | uint64(i[0]))
	const perDay = int64(24 * time.Hour)
	day := int64(int32(i[2])) - julianUnixEpoch + floorDiv(nanos, perDay)
	if loc != nil && inRange(day) {
		return zoneDay(day*86400+(nanos-floorDiv(nanos, perDay)*perDay)/int64(time.Second), loc, "INT96 timestamp ")
	}
	if !inRange(day) {
		return 0, outOfRange("INT96 timestamp " + describeDay(day))
	}
	return int32(day), ""
}

// dateZone decides whose calendar days the date column at path, of type
// t, counts. Only instants need deciding: a TIMESTAMP adjusted to UTC, or
// INT96. When the file's Arrow schema (pandas, pyarrow) gives the column a
// time zone, its days are that zone's, as a CSV written with the local
// offset counts them. Otherwise the days are UTC days, and note says so
// (display names the column).
func dateZone(f *parquet.File, path []string, t parquet.Type, display string) (loc *time.Location, note string) {
	var what string
	switch {
	case t.Kind() == parquet.Int96:
		what = "INT96 timestamps (the legacy Spark/Hive/Impala type), read as instants in UTC,"
	case t.Kind() == parquet.Int64:
		l := t.LogicalType()
		if l == nil {
			return nil, ""
		}
		ts, ok := l.Value.(*format.TimestampType)
		if !ok || !ts.IsAdjustedToUTC {
			return nil, "" // naive: the wall-clock day, as written
		}
		what = "instants (TIMESTAMP adjusted to UTC)"
	default:
		return nil, ""
	}
	tz := ""
	if len(path) == 1 {
		if meta, ok := f.Lookup(arrowSchemaKey); ok {
			tz = arrowTimeZones(meta)[path[0]]
		}
	}
	const fix = "; to count the shop's own days, write the column with its time zone " +
		"(pandas: tz_convert to the shop's zone before to_parquet) or as local wall-clock time (a timestamp without time zone)"
	if tz == "" {
		return nil, fmt.Sprintf("date column %s holds %s and the file names no time zone: purchase days are counted in UTC, "+
			"so east of UTC a purchase shortly after local midnight counts on the day before (west of UTC, a late evening one "+
			"on the day after), across the calibration end too%s", display, what, fix)
	}
	loc, err := arrowZone(tz)
	if err != nil {
		return nil, fmt.Sprintf("date column %s holds %s in time zone %q, which this system does not know (%v): "+
			"purchase days are counted in UTC%s", display, what, tz, err, fix)
	}
	if loc == time.UTC {
		return nil, "" // the file says UTC: UTC days are its own
	}
	return loc, ""
}

// arrowZone reads an Arrow timestamp's time zone: an IANA name
// ("Europe/Berlin", "UTC") or a fixed offset ("+01:00", "-0530").
func arrowZone(tz string) (*time.Location, error) {
	switch strings.ToUpper(tz) {
	case "UTC", "Z", "ETC/UTC", "GMT", "+00:00", "-00:00", "+0000", "+00":
		return time.UTC, nil
	case "LOCAL":
		return nil, fmt.Errorf("%q is not a time zone", tz)
	}
	if tz[0] == '+' || tz[0] == '-' {
		digits := strings.ReplaceAll(tz[1:], ":", "")
		if (len(digits) == 2 || len(digits) == 4) && strings.Trim(digits, "0123456789") == "" {
			h, _ := strconv.Atoi(digits[:2])
			m := 0
			if len(digits) == 4 {
				m, _ = strconv.Atoi(digits[2:])
			}
			if h <= 18 && m < 60 {
				sec := (h*60 + m) * 60
				if tz[0] == '-' {
					sec = -sec
				}
				if sec == 0 {
					return time.UTC, nil
				}
				return time.FixedZone(tz, sec), nil
			}
		}
		return nil, fmt.Errorf("bad UTC offset %q", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, err
	}
	if loc.String() == "UTC" {
		return time.UTC, nil
	}
	return loc, nil
}
