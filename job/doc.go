// Package job runs cohort's single-process training job end to end: read a
// transaction log into per-customer features and labels (clv), split the
// customers by a stable hash of their id into train/validation/test, fit the
// classic BG/NBD + Gamma-Gamma baseline on the training customers, train the
// deep ZILN model (model on a kernels.Backend) with early stopping on the
// validation customers, evaluate both on the test customers only (eval), and
// write the model directory, metrics.json and report.html.
//
// It also scores new data with a saved model (Predict). The distributed
// runtime reuses the same Spec; only the gradient computation moves.
package job
