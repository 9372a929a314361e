package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Machine describes where the numbers were measured.
type Machine struct {
	CPUs       int    `json:"nproc"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPU        string `json:"cpu"`
	Go         string `json:"go"`
	OS         string `json:"os"`
	// LoadAvg and LoadAvgEnd are /proc/loadavg at the start and the end:
	// other work on the machine inflates latencies.
	LoadAvg    string `json:"loadavg"`
	LoadAvgEnd string `json:"loadavg_end,omitempty"`
}

func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, CPU: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	m.LoadAvg = loadAvg()
	return m
}

// loadAvg returns the 1, 5 and 15-minute load averages, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

// String describes m in one line.
func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (GOMAXPROCS %d), %s, %s %s, load average %s at start, %s at end",
		m.CPUs, m.GOMAXPROCS, m.CPU, m.Go, m.OS, m.LoadAvg, m.LoadAvgEnd)
}
