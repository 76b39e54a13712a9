package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// proc is a child process of the harness. It runs in its own process group
// so that stopping it also stops what it started (nginx workers).
type proc struct {
	name     string
	cmd      *exec.Cmd
	children bool   // its children's CPU and memory count too (nginx master)
	logPath  string // stdout and stderr
	exited   chan struct{}
	waitErr  error
}

// startProc starts bin with args, output to logPath. The child gets no
// TOKENGUARD_* variables from the harness's environment, so only its flags
// configure it.
func startProc(name, logPath string, children bool, bin string, args ...string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOKENGUARD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, children: children, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// logTail is the end of the process's log, for error messages.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	return tail(string(b), 600)
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	pgid := p.pid()
	select {
	case <-p.exited:
		_ = syscall.Kill(-pgid, syscall.SIGKILL) // leftovers of the group, if any
		return
	default:
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(2 * time.Second):
	}
}

// freeAddr reserves a loopback port and releases it for a child to bind.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP polls url until it answers with a status accepted by ok, the
// process exits, or timeout passes.
func waitHTTP(ctx context.Context, p *proc, url string, ok func(int) bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if ok(resp.StatusCode) {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		var exited <-chan struct{}
		if p != nil {
			exited = p.exited
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited (%v) before %s was ready; log: %s", p.name, p.waitErr, url, p.logTail())
		case <-ctx.Done():
			msg := fmt.Sprintf("%s not ready after %s (last: %s)", url, timeout, last)
			if p != nil {
				msg += "; log: " + p.logTail()
			}
			return errors.New(msg)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func status(code int) func(int) bool { return func(c int) bool { return c == code } }
