//go:build unix

package proc

import (
	"math"
	"os"
	"os/exec"
	"testing"
)

// TestAlive ensures this process and its parent are alive, and that a
// reaped child, an id beyond any pid and the ids no process has are not.
func TestAlive(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run=^$")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pid  int
		want bool
	}{
		{"self", os.Getpid(), true},
		{"parent", os.Getppid(), true},
		{"reaped child", child.Process.Pid, false},
		{"beyond pid_max", math.MaxInt32, false},
		{"zero", 0, false},
		{"negative", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Alive(tt.pid); got != tt.want {
				t.Fatalf("Alive(%d) = %v, want %v", tt.pid, got, tt.want)
			}
		})
	}
}
