package gpustats

// defaultProcRoot is where host CPU and memory stats come from.
const defaultProcRoot = "/proc"
