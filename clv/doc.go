// Package clv turns a transaction log (customer, date, amount; or customer
// and date alone, see Count-only logs) into per-customer features and labels
// for customer-lifetime-value models.
//
// # Reading
//
// Load reads CSV (gzip-compressed or not, recognised by its magic bytes) and
// Parquet. For CSV it detects the delimiter (comma, tab, semicolon, pipe, or
// runs of whitespace as in CDNOW_master.txt), whether the first line is a
// header, CRLF line ends and a UTF-8 byte order mark. Columns are named by
// header name or by 1-based index. The path "-" (StdinPath) reads standard
// input; Parquet, which needs random access, cannot come through a pipe.
// Left unnamed, the columns default to:
//
//   - with a header: the first of customer_id, customerid, customer, cust_id,
//     cust, client_id, clientid, client, user_id, userid, user, member_id, id;
//     of date, day, order_date, purchase_date, transaction_date,
//     invoice_date, invoicedate, datetime, timestamp, time; of amount, sales,
//     sale, spend, revenue, dollar_value, dollars, value, price, total,
//     monetary; and, optionally, of quantity, qty, units, items,
//     number_of_cds, cds (names compared case-insensitively, with spaces and
//     dashes read as underscores);
//   - without a header: customer 1, date 2, amount the last column, no
//     quantity. CDNOW_sample.txt (master_id sample_id date cds dollars) so
//     needs Customer "2" (or "1"), Date "3".
//
// Dates are 20060102, 2006-01-02, 2006-01-02 15:04:05 or RFC 3339 unless
// Options.DateFormat gives a Go layout: the reference date 2006-01-02
// written the file's way, "02/01/2006" for day/month/year. A pattern such
// as "dd/mm/yyyy" is refused before reading (CheckDateFormat), naming the
// layout it meant. Only the calendar date as written counts; the time of
// day and zone are ignored. Dates must lie in the years MinYear to MaxYear
// (1900 to 2200), for CSV and Parquet alike: a date outside them is a bad
// row, since it is nearly always a placeholder for a missing date
// (0001-01-01, 9999-12-31, a Parquet DATE of INT32_MIN).
//
// Numbers are decimals with "." as the decimal separator, or "," with
// Options.Decimal "," (European exports, usually ";"-separated). The other
// character may group thousands, in well-formed groups only: one to three
// digits not starting with 0, then groups of exactly three digits. So with
// "." both 2754.00 and 2,754.00 read as 2754, and 1,234 as 1234, while
// 14,92 or 0,125 are errors that suggest --decimal ,; with "," 2.754,00 and
// 1.234 read as 2754 and 1234, and 14.92 is an error. Amounts (not
// quantities or extras) may be written like money, as spreadsheets and
// shops export them: one currency sign ($ € £ ¥ ₹ and a few more) or ISO
// 4217 code before or after the number ("$1,234.56", "12,50 €" with
// ",", "USD 12.50"), a sign before or after a leading symbol ("-$5.00",
// "$-5.00"), and accounting negatives in parentheses ("(12.50)",
// "($12.50)"). IngestReport.Currency names the currency and a warning says
// it was dropped; amounts in two currencies stop the load
// (ReasonMixedCurrency).
//
// Reading streams: a reader goroutine cuts the input into chunks of whole
// lines, parser goroutines split and parse them without allocating per row,
// and one goroutine interns customer ids and merges each customer's rows
// into distinct purchase days. Memory grows with customers and their
// distinct purchase days, never with the number of rows, and rows need not
// be sorted. (Rows of one customer and day that arrive apart in unsorted
// input are merged at the end, so until then they take one slot each.)
//
// # Bad input
//
// By default Load stops at the first bad row with a *RowError such as
//
//	clv: read transactions: log.csv:17: column "amount": "12,x" is not a number
//
// Options.SkipBadRows skips bad rows instead and counts them by Reason in the
// IngestReport, quoting the first few. Lines longer than MaxLineBytes, NUL
// bytes, customer ids that are not UTF-8, short rows, bad dates (outside
// the supported years included) and numbers (amounts beyond ±1e12
// included), quoted fields that do not end on their line (named at the
// line where they begin, also in a column that is not read), and the
// header line repeated mid-file (exports joined together) are bad rows; an
// empty file, a file without data rows or with only bad ones, an unknown
// column name (the error lists the header's columns), a given delimiter
// that does not split the first line, a spreadsheet, ZIP archive or other
// binary file, a truncated or corrupt gzip stream, and an amount in a
// second currency (ReasonMixedCurrency, named at its line with the line
// where the first was seen) are errors either way.
//
// # Negative amounts
//
// Under the default NetNegative a negative amount (a return) is added to the
// customer's spend on that same day, and a day's spend is its net sum floored
// at zero. A day that has only negative rows is not a purchase day, and its
// returns are ignored (IngestReport.ReturnOnlyDays counts such days).
// DropNegative ignores negative rows; ErrorNegative makes them bad rows.
//
// # Count-only logs
//
// Many BTYD logs have no spend column (BTYDplus's groceryElog: cust, date).
// Options.Amount AmountNone ("none") reads them: no amount column is looked
// for, and every purchase day of a customer is worth exactly 1, after the
// same-day merge, so a day of several line items still counts once. Spend
// then means purchase days everywhere: the spend features count them
// (spend_mean and RepeatMeanSpend are 1), the HoldoutSpend label equals
// HoldoutPurchases, and IngestReport.TotalAmount is PurchaseDays. Without a
// header the customer and date are columns 1 and 2. There are no negative
// amounts, so a negative policy other than the default is refused. Quantity
// and extra columns work as usual.
//
// # Windows and BTYD conventions
//
// The calibration window runs from each customer's first purchase to
// Options.CalibrationEnd, inclusive; the holdout window is the Horizon after
// it, (CalibrationEnd, CalibrationEnd+Horizon]. Following BTYD, CLVTools and
// lifetimes: rows of one customer and day are merged into one purchase day
// (amounts summed); time is in weeks (days/7); X is the number of repeat
// purchase days in calibration (the first excluded); Tx the weeks from the
// first to the last purchase day; T the weeks from the first purchase day to
// the calibration end; and RepeatMeanSpend the mean spend of the repeat days.
// These rebuild lifetimes' cdnow_customers_summary_with_transactions.csv
// from CDNOW_sample.txt. Customers whose first purchase falls after the
// calibration end are left out (and counted); rows after the holdout end are
// ignored (and counted). The labels are the holdout spend and the number of
// holdout purchase days.
//
// A holdout the data does not cover is an error, since its labels would
// count the spend of part of the horizon only: with a calibration end, the
// holdout may end at most a week (and at most a tenth of the horizon) after
// the last transaction, unless rows after the holdout end show the log runs
// past it. The message names the latest calibration end that fits. Without
// a calibration end, the default is that latest one, so the holdout is the
// last Horizon of the data and never runs past it.
//
// # Features
//
// Dataset.FeatureNames lists them: the BTYD summary, spend statistics (total,
// mean, repeat mean, max, first and last day), inter-purchase gap statistics
// and the weeks since the last purchase relative to the mean gap, spend and
// purchase days in each of the last Periods periods of PeriodDays days (8 of
// 28 by default, oldest first), quantity total and mean per day when a
// quantity column is mapped, and the calibration sums of the extra columns.
// All are finite, also for one-time buyers. Dataset.Log1p marks the
// heavy-tailed ones a model should log1p before standardising.
//
// The gap_*_weeks features describe the gaps between consecutive
// calibration purchase days, and are 0 for a one-time buyer; gap_std_weeks
// is their population standard deviation (divided by the number of gaps,
// X, not X-1), 0 with fewer than two gaps. since_last_over_gap is
// weeks_since_last / (gap_mean_weeks + 1), how overdue the next purchase is
// against the customer's usual gap. The +1 week keeps it finite for
// one-time buyers, whose mean gap is 0 (it is then weeks_since_last), and
// keeps gaps of a day or two from blowing it up.
//
// # Splits
//
// SplitOf assigns each customer to Train, Validation or Test (70/15/15) by a
// hash of its id, so every process agrees without coordination.
package clv
