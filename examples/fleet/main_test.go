package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestFleetDemo runs the demo briefly and checks its report.
func TestFleetDemo(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("TOKENREFRESH_REDIS_TESTS") == "1" {
			t.Fatalf("redis-server not on PATH and TOKENREFRESH_REDIS_TESTS=1: %v", err)
		}
		t.Skip("redis-server not on PATH")
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"-replicas", "2", "-goroutines", "4", "-duration", "2s", "-access-ttl", "1s"}, &out)
	require.NoError(t, err, out.String())
	t.Log(out.String())
	assert.Contains(t, out.String(), "(0 failed)")
	assert.Contains(t, out.String(), "rejected 0, reuse detections 0")
	assert.Contains(t, out.String(), "replicas on 1 distinct final token(s)")
}
