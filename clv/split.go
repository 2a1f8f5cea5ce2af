package clv

// Split is the part of the data a customer belongs to.
type Split int

// The splits. Every process assigns a customer to the same split without
// coordination, because the split is a pure function of the customer id.
const (
	Train Split = iota
	Validation
	Test
)

// String returns "train", "validation" or "test".
func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Validation:
		return "validation"
	case Test:
		return "test"
	}
	return "unknown"
}

// SplitOf assigns a customer to Train (70%), Validation (15%) or Test (15%)
// by the FNV-1a 64-bit hash of its id modulo 100: buckets 0-69 train, 70-84
// validation, 85-99 test. The assignment never changes between runs,
// machines or versions, so a model never sees its test customers, and adding
// customers to the log does not move existing ones.
func SplitOf(id string) Split {
	// FNV-1a 64, inline (hash/fnv's would allocate per call).
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	switch b := h % 100; {
	case b < 70:
		return Train
	case b < 85:
		return Validation
	}
	return Test
}
