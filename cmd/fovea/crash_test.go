package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor/tensortest"
	"github.com/fovea-ml/fovea/train"
)

// crashChildEnv carries the arguments of a fovea command to run in a child
// process: the test binary re-executes itself with -test.run=TestCrashChild.
const crashChildEnv = "FOVEA_CRASH_CHILD_ARGS"

// TestCrashChild is not a test: in a child process started by the crash tests
// it runs the fovea command line with the arguments in FOVEA_CRASH_CHILD_ARGS.
func TestCrashChild(t *testing.T) {
	js := os.Getenv(crashChildEnv)
	if js == "" {
		t.Skip("runs only as the child process of the crash tests")
	}
	var args []string
	if err := json.Unmarshal([]byte(js), &args); err != nil {
		t.Fatal(err)
	}
	os.Args = append([]string{"fovea"}, args...)
	main() // exits 1 on error
}

// startFovea starts `fovea args...` in a child process; its combined output
// goes to out.
func startFovea(t *testing.T, out *bytes.Buffer, args ...string) *exec.Cmd {
	t.Helper()
	js, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+string(js))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// crashTrainArgs is a toy training run: 4 epochs of 2 steps.
func crashTrainArgs(out string) []string {
	return []string{"train", "--train-images", "16", "--val-images", "4", "--image-size", "64", "--width", "0.125",
		"--epochs", "4", "--warmup-epochs", "0.5", "--time-budget", "0", "--batch", "8", "--workers", "2", "--threads", "2",
		"--seed", "3", "--out", out, "--quiet"}
}

// sameWeights fails unless the last.safetensors of two runs are bit-identical.
func sameWeights(t *testing.T, a, b string) {
	t.Helper()
	ma, err := train.LoadModel(filepath.Join(a, "last.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := train.LoadModel(filepath.Join(b, "last.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	sa, sb := nn.StateDict(ma), nn.StateDict(mb)
	for name, ta := range sa {
		if err := tensortest.AllClose(sb[name], ta, 0, 0); err != nil {
			t.Fatalf("%s differs from the uninterrupted run: %v", name, err)
		}
	}
}

// TestKilledTrainingResumes kills a real training process with SIGKILL at
// seeded random moments, resumes it each time, and checks that the run ends
// with exactly the weights of a run that was never interrupted, and that no
// file the next run trusts was left half-written.
func TestKilledTrainingResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains in child processes")
	}
	dir := t.TempDir()
	straight := filepath.Join(dir, "straight")
	var out bytes.Buffer
	start := time.Now()
	if err := startFovea(t, &out, crashTrainArgs(straight)...).Wait(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out.String())
	}
	full := time.Since(start)

	run := filepath.Join(dir, "killed")
	rng := rand.New(rand.NewPCG(2026, 12))
	resume := false
	for kill := 0; ; kill++ {
		args := crashTrainArgs(run)
		if resume {
			args = append(args, "--resume")
		}
		out.Reset()
		cmd := startFovea(t, &out, args...)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		if kill < 5 {
			delay := time.Duration(float64(full) * (0.1 + 0.8*rng.Float64()))
			select {
			case err = <-done:
			case <-time.After(delay):
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				t.Logf("killed after %v", delay)
				// Whatever the moment, the next run must find either a complete
				// checkpoint or none.
				if _, serr := os.Stat(filepath.Join(run, "checkpoint.safetensors")); serr == nil {
					if _, lerr := train.LoadModel(filepath.Join(run, "checkpoint.safetensors")); lerr != nil {
						t.Fatalf("checkpoint after SIGKILL does not load: %v", lerr)
					}
					resume = true
				}
				continue
			}
		} else {
			err = <-done
		}
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) && !resume && strings.Contains(out.String(), "no checkpoint.safetensors") {
				// Killed before the first checkpoint: the folder holds a run
				// that cannot be resumed; start it again explicitly.
				t.Logf("no checkpoint yet; starting again: %s", strings.TrimSpace(out.String()))
				os.RemoveAll(run)
				continue
			}
			t.Fatalf("run %d: %v\n%s", kill, err, out.String())
		}
		break
	}
	if strings.Contains(out.String(), "panic:") {
		t.Fatalf("panic in the output:\n%s", out.String())
	}
	sameWeights(t, straight, run)
}

// TestInterruptedTrainingSaves sends SIGINT (Ctrl-C) and SIGTERM to a real
// training process: it must exit non-zero with a message saying how to
// resume, and the resumed run must end with the uninterrupted weights.
func TestInterruptedTrainingSaves(t *testing.T) {
	if testing.Short() {
		t.Skip("trains in child processes")
	}
	dir := t.TempDir()
	straight := filepath.Join(dir, "straight")
	var out bytes.Buffer
	start := time.Now()
	if err := startFovea(t, &out, crashTrainArgs(straight)...).Wait(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out.String())
	}
	full := time.Since(start)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		run := filepath.Join(dir, sig.String())
		out.Reset()
		cmd := startFovea(t, &out, crashTrainArgs(run)...)
		// Signal as soon as the first epoch's checkpoint exists: mid-run.
		for deadline := time.Now().Add(10 * full); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(run, "checkpoint.safetensors")); err == nil {
				break
			}
		}
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		if err == nil {
			t.Logf("%v: the run finished before the signal", sig)
			continue
		}
		if !strings.Contains(out.String(), "--resume") || strings.Contains(out.String(), "panic:") {
			t.Fatalf("%v: output does not say how to resume:\n%s", sig, out.String())
		}
		out.Reset()
		if err := startFovea(t, &out, append(crashTrainArgs(run), "--resume")...).Wait(); err != nil {
			t.Fatalf("%v: resume: %v\n%s", sig, err, out.String())
		}
		sameWeights(t, straight, run)
	}
}
