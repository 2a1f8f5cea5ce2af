// Package baseline fits the classic "buy till you die" models that a deep
// customer-lifetime-value model has to beat, and predicts with them:
//
//   - BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy
//     way"): Poisson purchases at a Gamma-distributed rate, dropout with a
//     Beta-distributed probability right after each repeat purchase;
//   - MBG/NBD (Batislam, Denizel & Filiztekin 2007, with the Wagner & Hoppe
//     2008 erratum): as BG/NBD, but dropout can also happen at time zero, so a
//     customer with no repeat purchase need not be alive;
//   - Pareto/NBD (Schmittlein, Morrison & Colombo 1987), with the likelihood
//     and conditional expressions of Fader & Hardie's note "A Note on Deriving
//     the Pareto/NBD Model and Related Expressions" (2005);
//   - Gamma-Gamma spend (Fader, Hardie & Lee 2005, "RFM and CLV: Using
//     Iso-Value Curves for Customer Base Analysis").
//
// Every customer is summarised by an RFM triple in weeks: X repeat purchases
// (the first purchase excluded), recency Tx from the first to the last
// purchase, and age T from the first purchase to the end of calibration.
//
// Fits are maximum likelihood over the logarithms of the parameters, which
// keeps them positive without constraints. The likelihoods are evaluated in
// log space (log-gamma, log-sum-exp), the Gaussian hypergeometric function
// 2F1 that Pareto/NBD and the BG/NBD forecasts need is computed here in log
// space too (see hyp2f1.go), and times are rescaled internally so that the
// largest age is 10, as lifetimes does, so that one set of starting points
// suits data in any time unit. Customers with identical (X, Tx, T) are
// evaluated once, with a weight, and each likelihood evaluation is spread
// over the CPUs in fixed chunks whose partial sums are added in order, so a
// fit gives the same digits on any machine and for any order of the input.
//
// Constant spend, every repeat purchase worth the same (a count-only log,
// where each purchase day is worth 1, or a single price), has no Gamma-Gamma
// maximum: the likelihood grows as both shapes go to infinity. FitGammaGamma
// recognises it and returns the constant model instead of fitting, P =
// ConstantShape (2^40, standing for infinity), Q = P+1 and V the constant,
// so that p·v/(q-1) = V and ExpectedSpend is V for every customer; the
// baseline's expected holdout spend is then V times expected purchases.
//
// The forecasts (ExpectedPurchases, PAlive, PReturn: BG/NBD's probability
// of at least one purchase within a horizon, UnconditionalPurchases,
// ExpectedSpend) are pure functions of the parameters; ExpectedHoldoutSpend
// and CLV combine a purchase model with Gamma-Gamma.
//
// Nothing here blocks on I/O; fits take a context because they loop over the
// whole customer base many times.
package baseline
